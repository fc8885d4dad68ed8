import Crypto
import Foundation
import Testing
@testable import SightlineCore

/// The offline check of a whole log, on logs built in memory.
@Suite("Audit log verification")
struct AuditLogVerifierTests {
    static let key = Curve25519.Signing.PrivateKey()
    static let origin = "test.sightline/sightline/audit"
    static var verifier: NoteVerifierKey { try! NoteVerifierKey(name: origin, publicKey: key.publicKey) }

    static func entries(_ n: Int, tag: String = "a") -> [Data] { (0..<n).map { Data("{\"n\":\($0),\"t\":\"\(tag)\"}".utf8) } }

    static func root(_ entries: [Data], size: Int, label: String = "checkpoint") throws -> AuditLogVerifier.SignedRoot {
        let c = AuditCheckpoint(origin: origin, size: Int64(size), rootHash: MerkleHash.root(of: entries.prefix(size).map(AuditHash.leaf)),
                                time: Date(timeIntervalSince1970: 1_796_000_000))
        return try AuditLogVerifier.open(try c.signedNote(signer: key, keyName: origin), label: label, verifiers: [verifier])
    }

    static func check(_ log: [Data], roots: [AuditLogVerifier.SignedRoot], reference: [Data]? = nil,
                      indexes: [Int64]? = nil) -> AuditLogVerifier.Failure? {
        do {
            var v = try AuditLogVerifier(roots: roots, referenceLeaves: reference)
            for (i, e) in log.enumerated() { try v.add(index: indexes?[i] ?? Int64(i), entry: e) }
            _ = try v.finish()
            return nil
        } catch { return error }
    }

    @Test func anHonestLogVerifiesAgainstEveryCheckpoint() throws {
        let log = Self.entries(50)
        let roots = try [0, 1, 17, 32, 50].map { try Self.root(log, size: $0) }
        var v = try AuditLogVerifier(roots: roots)
        for (i, e) in log.enumerated() { try v.add(index: Int64(i), entry: e) }
        let summary = try v.finish()
        #expect(summary.entries == 50 && summary.verifiedCheckpoints.count == 5)
        #expect(summary.rootHash == MerkleHash.root(of: log.map(AuditHash.leaf)))
    }

    @Test func aMissingOrRepeatedIndexIsNamed() throws {
        let log = Self.entries(10)
        let roots = [try Self.root(log, size: 10)]
        var indexes = (0..<10).map(Int64.init)
        indexes[4...] = [5, 6, 7, 8, 9, 10]
        #expect(Self.check(log, roots: roots, indexes: indexes)?.index == 4)
        #expect(Self.check(log, roots: roots, indexes: [0, 1, 2, 2, 3, 4, 5, 6, 7, 8])?.kind == .outOfOrder)
    }

    @Test func aRootMismatchIsBoundedByTheCheckpointsAroundIt() throws {
        let log = Self.entries(40)
        var changed = log
        changed[21] = Data("{\"n\":21,\"t\":\"b\"}".utf8)
        let roots = try [8, 16, 24, 40].map { try Self.root(log, size: $0) }
        let failure = try #require(Self.check(changed, roots: roots))
        #expect(failure.kind == .checkpointRoot && failure.index == 16 && failure.rangeEnd == 24)
        // Checkpoints at every size pin the entry itself.
        let dense = try (1...40).map { try Self.root(log, size: $0) }
        let exact = try #require(Self.check(changed, roots: dense))
        #expect(exact.index == 21 && exact.rangeEnd == 22)
        // So does an earlier export's list of leaves.
        let pinned = try #require(Self.check(changed, roots: roots, reference: log.map(AuditHash.leaf)))
        #expect(pinned.kind == .reference && pinned.index == 21)
    }

    @Test func aLogShorterThanItsCheckpointIsTruncated() throws {
        let log = Self.entries(30)
        let failure = try #require(Self.check(Array(log.prefix(25)), roots: [try Self.root(log, size: 30)]))
        #expect(failure.kind == .truncated && failure.index == 25 && failure.rangeEnd == 30)
    }

    @Test func checkpointsFromAnotherKeyOrLogAreRefused() throws {
        let c = AuditCheckpoint(origin: Self.origin, size: 0, rootHash: MerkleHash.empty, time: Date())
        let foreign = try c.signedNote(signer: Curve25519.Signing.PrivateKey(), keyName: Self.origin)
        #expect(throws: AuditLogVerifier.Failure.self) { try AuditLogVerifier.open(foreign, label: "saved", verifiers: [Self.verifier]) }
        let otherLog = AuditCheckpoint(origin: "elsewhere/audit", size: 0, rootHash: MerkleHash.empty, time: Date())
        let note = try otherLog.signedNote(signer: Self.key, keyName: "elsewhere/audit")
        let otherVerifier = try NoteVerifierKey(name: "elsewhere/audit", publicKey: Self.key.publicKey)
        let error = #expect(throws: AuditLogVerifier.Failure.self) {
            try AuditLogVerifier.open(note, label: "saved", verifiers: [otherVerifier], origin: Self.origin)
        }
        #expect(error?.message.contains("elsewhere/audit") == true)
    }

    @Test func nothingSignedMeansNotVerified() throws {
        let v = try AuditLogVerifier(roots: [])
        #expect(throws: AuditLogVerifier.Failure.self) { _ = try v.finish() }
    }

    @Test func anExportRoundTripsItsExactBytes() throws {
        let log = Self.entries(3)
        let checkpoint = AuditWire.Checkpoint(note: "n", verifierKey: Self.verifier.description, origin: Self.origin, size: 3, rootHash: "00", time: Date(timeIntervalSince1970: 0))
        var lines = [try AuditWire.encoder.encode(AuditWire.ExportHeader(exportedAt: Date(timeIntervalSince1970: 0), checkpoint: checkpoint))]
        for (i, e) in log.enumerated() {
            lines.append(try AuditWire.encoder.encode(AuditWire.Entry(index: Int64(i), leafHash: AuditHash.leaf(e).hexString, canonical: e.base64EncodedString())))
        }
        lines.append(try AuditWire.encoder.encode(AuditWire.ExportStoredCheckpoint(storedCheckpoint: "older")))
        let export = try AuditExport.parse(Data(lines.joined(separator: Data("\n".utf8))), name: "x.ndjson")
        #expect(export.entries.map(\.bytes) == log && export.storedCheckpoints == ["older"])
        #expect(export.entries.map(\.leafHash) == log.map(AuditHash.leaf))
        let broken = Data(lines[0] + Data("\n{\"nonsense\":1}\n".utf8))
        let error = #expect(throws: AuditLogError.self) { try AuditExport.parse(broken, name: "x.ndjson") }
        #expect(error?.message.hasPrefix("x.ndjson:2:") == true)
    }

    @Test func theAuditSectionOfTheConfigIsReadAndRendered() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = "tls: {certificate: c.pem, key: k.pem, ca: ca.pem}\nkeys: keys.json\nparticipants: p.yaml\npolicy: Policies\ndatabase: s.sqlite\nlocal-authorities:\n  \"304\": {name: Brent, districts: [NW6]}\n"
        func load(_ text: String) throws -> GatewayConfig {
            let path = dir.appendingPathComponent("gateway-\(UUID().uuidString).yaml").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return try GatewayConfig.load(path: path)
        }
        let defaults = try load(base)
        #expect(defaults.audit.checkpointEveryEntries == 1000 && defaults.audit.checkpointEverySeconds == 60)
        #expect(defaults.audit.origin(trustDomain: "brent.sightline") == "brent.sightline/sightline/audit")
        let set = try load(base + "audit: {checkpoint-every-entries: 50, checkpoint-every-seconds: 5, origin: la304.example/audit}\n")
        #expect(set.audit.checkpointEveryEntries == 50 && set.audit.checkpointEverySeconds == 5 && set.audit.origin == "la304.example/audit")
        let rendered = try load(set.render())
        #expect(rendered.audit.checkpointEveryEntries == 50 && rendered.audit.origin == "la304.example/audit")
        #expect(try load(defaults.render()).audit.origin == nil)
        let example = try GatewayConfig.load(path: Fixture.repositoryRoot.appendingPathComponent("ops/gateway.example.yaml").path)
        #expect(example.audit.checkpointEveryEntries == 1000 && example.audit.checkpointEverySeconds == 60 && example.audit.origin == nil)
        #expect(throws: SightlineError.self) { try load(base + "audit: {checkpoint-every-entries: 0}\n") }
        #expect(throws: SightlineError.self) { try load(base + "audit: {origin: \"two words\"}\n") }
    }
}

/// The search columns a store keeps beside each entry, held to the hashed entry.
@Suite("Audit search columns")
struct AuditSearchColumnsTests {
    static let entry = AuditEntry(time: Date(timeIntervalSince1970: 1_795_000_000.6), actor: "partner/304-cme", action: "match", purpose: "cme",
                                  policyVersion: "test", decision: .deny, rule: "match-no-subject", requestDigest: "d")

    @Test func columnsWrittenFromTheEntryAgreeWithItsCanonicalBytes() {
        #expect(AuditSearchColumns(entry: Self.entry).disagreement(withCanonical: Self.entry.canonicalBytes()) == nil)
    }

    @Test("each column that differs is named, with what it holds and what the entry says",
          arguments: ["time", "actor", "action", "decision", "rule", "purpose"])
    func aDifferingColumnIsNamed(column: String) {
        var c = AuditSearchColumns(entry: Self.entry)
        switch column {
        case "time": c.time += 1
        case "actor": c.actor = "partner/304-mash"
        case "action": c.action = "report"
        case "decision": c.decision = "allow"
        case "rule": c.rule = "purpose:cme"
        default: c.purpose = nil
        }
        let d = c.disagreement(withCanonical: Self.entry.canonicalBytes())
        #expect(d?.column == column)
        if column == "purpose" { #expect(d?.stored == "none" && d?.canonical == "\"cme\"") }
    }

    @Test func theVerifierStopsAtTheFirstEntryWhoseColumnsDisagree() throws {
        let log = (0..<5).map { i in AuditEntry(time: Date(timeIntervalSince1970: 1_795_000_000 + Double(i)), actor: "school/100001", action: "request",
                                                policyVersion: "test", decision: .allow, rule: "r", requestDigest: "\(i)") }
        var v = try AuditLogVerifier(roots: [])
        for (i, e) in log.enumerated() {
            var columns = AuditSearchColumns(entry: e)
            if i == 3 { columns.actor = "auditor/dpo" }
            do { try v.add(index: Int64(i), entry: e.canonicalBytes(), columns: columns) } catch {
                #expect(i == 3 && error.kind == .searchColumn && error.index == 3 && error.column == "actor")
                #expect(error.message.contains("actor column says \"auditor/dpo\", but the hashed entry says \"school/100001\""), "\(error.message)")
                return
            }
        }
        Issue.record("the changed actor of entry 3 was not caught")
    }
}
