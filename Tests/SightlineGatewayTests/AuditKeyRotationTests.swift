import Crypto
import Foundation
import GRDB
import SightlineClient
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// Rotating the audit key online (`CheckpointSigner.rotate`, what the gateway calls on SIGHUP
/// when the key file's audit key changed): the real `sightline audit verify`, with the key an
/// auditor pinned before the rotation, still verifies the whole log over the API, from a copy of
/// the database and from an export, and learns the new key from the log.
@Suite("Audit key rotation", .serialized)
struct AuditKeyRotationTests {
    static let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
    static let origin = "\(TestPartnership.trustDomain)/sightline/audit"

    static func verifier(_ key: Curve25519.Signing.PrivateKey) throws -> String {
        try NoteVerifierKey(name: origin, publicKey: key.publicKey).description
    }

    static func submit(_ gw: RunningGateway, _ p: TestPartnership, count: Int) async throws {
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let client = try gw.client(school)
        defer { Task { try? await client.shutdown() } }
        for i in 0..<count {
            let r = try await client.request(.POST, "/v1/submissions", body: Data(SampleRecords.enrolment("ROT-\(UUID().uuidString.prefix(8))-\(i)").utf8))
            #expect(r.status == 201)
        }
    }

    static func json<T: Decodable>(_ type: T.Type, _ response: GatewayClient.Response) throws -> T {
        guard response.status == 200 else { throw TestFailure("HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))") }
        return try AuditWire.decoder.decode(T.self, from: response.body)
    }

    /// A copy of the gateway's database with the WAL folded in, as an auditor would be given.
    static func copyDatabase(_ p: TestPartnership, to name: String) async throws -> String {
        let queue = try DatabaseQueue(path: p.config.databasePath)
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try queue.close()
        let copy = p.dir + "/" + name
        try FileManager.default.copyItem(atPath: p.config.databasePath, toPath: copy)
        return copy
    }

    @Test func theOldPinVerifiesTheWholeLogAfterAnOnlineRotation() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tool first: swift build")
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let keys = try KeyMaterial.load(from: p.config.keysPath)
        let rotated = keys.rotated(.audit)
        let oldPin = try p.pinnedVerifierKey(), newPin = try Self.verifier(rotated.auditSigningKey)
        #expect(oldPin != newPin && rotated.auditSigningKeyID != keys.auditSigningKeyID)
        let saved = p.dir + "/saved-before-rotation.txt", export = p.dir + "/export.ndjson"

        try await p.withGateway { gw in
            let online = ["--gateway", gw.baseURL, "--identity", auditor]
            try await Self.submit(gw, p, count: 3)
            let (cpStatus, cpOut) = try await runTool(Self.binary, ["audit", "checkpoint"] + online + ["--out", saved])
            #expect(cpStatus == 0 && cpOut.contains(oldPin), "\(cpOut)")
            let before = try AuditCheckpoint.parse(try String(contentsOfFile: saved, encoding: .utf8), verifier: NoteVerifierKey(parsing: oldPin))

            let (handover, first) = try await gw.state.checkpoints.rotate(
                to: rotated.auditSigningKey, newKeyID: rotated.auditSigningKeyID, oldKeyID: keys.auditSigningKeyID, policyVersion: "test")
            #expect(handover.verifierKey == oldPin && first.verifierKey == newPin)
            #expect(handover.size == first.size && handover.rootHash == first.rootHash && handover.size > before.size)
            #expect(try gw.state.checkpoints.verifierKey().description == newPin)
            // A reload retried with the same key file rotates nothing more.
            let entriesAfter = try await gw.state.store.auditCount()
            let again = try await gw.state.checkpoints.rotate(
                to: rotated.auditSigningKey, newKeyID: rotated.auditSigningKeyID, oldKeyID: keys.auditSigningKeyID, policyVersion: "test")
            let countAgain = try await gw.state.store.auditCount()
            #expect(again.handover == handover && again.first == first && countAgain == entriesAfter)
            // The rotation entry names both keys and ids, and the handover covers it.
            let log = try await gw.state.store.auditEntries(from: 0, limit: 1000)
            let rotation = try #require(log.first { (try? AuditEntry.decode(canonical: $0.entry))?.action == "audit-key-rotated" })
            let entry = try AuditEntry.decode(canonical: rotation.entry)
            #expect(rotation.index < handover.size && entry.actor == "gateway" && entry.rule == "key-rotation" && entry.decision == .allow)
            #expect(entry.detail == ["newVerifierKey": newPin, "newKeyID": rotated.auditSigningKeyID,
                                     "oldVerifierKey": oldPin, "oldKeyID": keys.auditSigningKeyID])
            #expect(entry.requestDigest == "key:\(rotated.auditSigningKeyID)")

            // The signer now signs with the new key, and signs again only when the log grew.
            let current = try await gw.state.checkpoints.current()
            #expect(current.verifierKey == newPin && current.size >= first.size)
            #expect(try await gw.state.checkpoints.current() == current)
            try await Self.submit(gw, p, count: 3)

            // The API serves checkpoints by the new key, and proofs across the rotation.
            let latest = try Self.json(AuditWire.Checkpoint.self, try await gw.request(auditor, "GET", "/v1/audit/checkpoint?format=json"))
            #expect(latest.verifierKey == newPin)
            let signed = try AuditCheckpoint.parse(latest.note, verifier: NoteVerifierKey(parsing: newPin))
            #expect(throws: AuditLogError.self) { try AuditCheckpoint.parse(latest.note, verifier: NoteVerifierKey(parsing: oldPin)) }
            let proof = try Self.json(AuditWire.ConsistencyProof.self,
                                      try await gw.request(auditor, "GET", "/v1/audit/proofs/consistency?from=\(before.size)&to=\(signed.size)"))
            #expect(MerkleVerify.consistency(oldSize: before.size, newSize: signed.size, oldRoot: before.rootHash, newRoot: signed.rootHash,
                                             proof: proof.proof.compactMap { Data(hex: $0) }))

            // Over the API only the latest checkpoint is served; the handover comes from the log.
            let (vStatus, vOut) = try await runTool(Self.binary, ["audit", "verify"] + online + ["--verifier-key", oldPin, "--checkpoint", saved])
            #expect(vStatus == 0 && vOut.contains("audit log OK") && vOut.contains("extends the saved checkpoint: size \(before.size)"), "\(vOut)")
            #expect(vOut.contains("key \(newPin): learned from entry \(rotation.index) (audit-key-rotated)"), "\(vOut)")
            #expect(vOut.contains("key \(oldPin): pinned; retired after size"), "\(vOut)")
            let (exStatus, exOut) = try await runTool(Self.binary, ["audit", "export"] + online + ["--out", export])
            #expect(exStatus == 0, "\(exOut)")
        }

        // Offline, on a copy of the real file: every stored checkpoint, old key and new.
        let copy = try await Self.copyDatabase(p, to: "copy.sqlite")
        let (oldStatus, oldOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", oldPin, "--checkpoint", saved])
        #expect(oldStatus == 0 && oldOut.contains("audit log OK (database copy.sqlite)"), "\(oldOut)")
        #expect(oldOut.contains("key \(newPin): learned from entry"), "\(oldOut)")
        // The new key alone checks the old checkpoints through the rotation entry, which names the old key.
        let (newStatus, newOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", newPin, "--checkpoint", saved])
        #expect(newStatus == 0 && newOut.contains("key \(oldPin): the key entry"), "\(newOut)")
        let (bothStatus, bothOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", oldPin, "--verifier-key", newPin])
        #expect(bothStatus == 0 && bothOut.contains("key \(newPin): pinned"), "\(bothOut)")
        let (exportStatus, exportOut) = try await runTool(Self.binary, ["audit", "verify", "--export", export, "--verifier-key", oldPin, "--json"])
        #expect(exportStatus == 0, "\(exportOut)")
        let report = try JSONDecoder.iso8601.decode(AuditVerificationReport.self, from: Data(exportOut.utf8))
        #expect(report.ok && report.keys?.first { $0.verifierKey == newPin }?.source == .handedOver)
        // A key the log never named still verifies nothing.
        let stranger = try Self.verifier(Curve25519.Signing.PrivateKey())
        let (strangerStatus, strangerOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", stranger])
        #expect(strangerStatus == 1 && strangerOut.contains("not signed by the expected key"), "\(strangerOut)")

        // Only public keys and key ids went into the log, never a private key.
        let all = try await SQLiteStore(path: copy, readOnly: true).auditEntries(from: 0, limit: 10_000)
        let text = all.map { String(decoding: $0.entry, as: UTF8.self) }.joined(separator: "\n")
        for secret in [keys.auditSigningKey, rotated.auditSigningKey].map({ $0.rawRepresentation }) {
            #expect(!text.contains(secret.base64EncodedString()) && !text.contains(secret.hexString))
        }
    }

    @Test func aRotationUnderLoadKeepsOldKeyCheckpointsBelowTheNewKeys() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tool first: swift build")
        let p = try TestPartnership(); defer { p.remove() }
        let keys = try KeyMaterial.load(from: p.config.keysPath)
        let rotated = keys.rotated(.audit)
        let oldPin = try p.pinnedVerifierKey(), newPin = try Self.verifier(rotated.auditSigningKey)
        try await p.withGateway { gw in
            try await Self.submit(gw, p, count: 2)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await Self.submit(gw, p, count: 6) }
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<20 {
                            _ = try await gw.state.checkpoints.current()
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(30))
                    _ = try await gw.state.checkpoints.rotate(to: rotated.auditSigningKey, newKeyID: rotated.auditSigningKeyID,
                                                              oldKeyID: keys.auditSigningKeyID, policyVersion: "test")
                }
                try await group.waitForAll()
            }
            _ = try await gw.state.checkpoints.current()
            // Every old-key checkpoint covers at most the tree the new key first signed.
            let stored = try await gw.state.store.checkpoints(upTo: .max)
            let oldSizes = stored.filter { $0.verifierKey == oldPin }.map(\.size), newSizes = stored.filter { $0.verifierKey == newPin }.map(\.size)
            #expect(!oldSizes.isEmpty && !newSizes.isEmpty && oldSizes.max()! <= newSizes.min()!, "old \(oldSizes), new \(newSizes)")
        }
        let copy = try await Self.copyDatabase(p, to: "loaded.sqlite")
        for pins in [[oldPin], [newPin], [oldPin, newPin]] {
            let (status, out) = try await runTool(Self.binary, ["audit", "verify", "--database", copy] + pins.flatMap { ["--verifier-key", $0] })
            #expect(status == 0 && out.contains("audit log OK"), "\(pins.count) pin(s): \(out)")
        }
    }

    @Test func aKeyChangedWithoutTheOnlineHandoverNeedsTheNewKeyPinned() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tool first: swift build")
        let p = try TestPartnership(); defer { p.remove() }
        let keys = try KeyMaterial.load(from: p.config.keysPath)
        let rotated = keys.rotated(.audit)
        let oldPin = try p.pinnedVerifierKey(), newPin = try Self.verifier(rotated.auditSigningKey)
        try await p.withGateway { gw in
            try await Self.submit(gw, p, count: 2)
            _ = try await gw.state.checkpoints.current()
        }
        // A restart on the rotated key file: the old key never vouched for the new one.
        try KeyMaterial.replace(path: p.config.keysPath, with: rotated)
        try await p.withGateway { gw in
            try await Self.submit(gw, p, count: 2)
            #expect(try await gw.state.checkpoints.current().verifierKey == newPin)
        }
        let copy = try await Self.copyDatabase(p, to: "restarted.sqlite")
        let (oldStatus, oldOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", oldPin])
        #expect(oldStatus == 1 && oldOut.contains("not signed by the expected key"), "\(oldOut)")
        // An auditor who checked the new key out of band pins both.
        let (bothStatus, bothOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", oldPin, "--verifier-key", newPin])
        #expect(bothStatus == 0 && bothOut.contains("key \(oldPin): pinned") && bothOut.contains("key \(newPin): pinned"), "\(bothOut)")
    }
}

extension JSONDecoder {
    fileprivate static var iso8601: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
