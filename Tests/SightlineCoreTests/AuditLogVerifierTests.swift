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

/// A log in memory with key rotations in it, signed by whichever keys a test chooses.
struct RotationLog {
    static let origin = AuditLogVerifierTests.origin
    static let time = Date(timeIntervalSince1970: 1_796_000_000)
    var entries: [Data] = []

    static func verifier(_ key: Curve25519.Signing.PrivateKey) -> NoteVerifierKey {
        try! NoteVerifierKey(name: origin, publicKey: key.publicKey)
    }

    mutating func plain(upTo size: Int) {
        while entries.count < size { entries.append(Data("{\"n\":\(entries.count)}".utf8)) }
    }

    /// Appends a rotation entry as the gateway writes it (or with another actor, as a participant could not).
    mutating func rotation(to new: Curve25519.Signing.PrivateKey, from old: Curve25519.Signing.PrivateKey, actor: String = AuditKeyRotation.actor) {
        var e = AuditKeyRotation.rotatedEntry(time: Self.time, policyVersion: "test", newVerifierKey: Self.verifier(new), newKeyID: "audit-new",
                                              oldVerifierKey: Self.verifier(old), oldKeyID: "audit-old")
        e.actor = actor
        entries.append(e.canonicalBytes())
    }

    mutating func handoverEntry(_ note: String, size: Int) {
        entries.append(AuditKeyRotation.handoverEntry(time: Self.time, policyVersion: "test", handover: note, size: Int64(size), newKeyID: "audit-new").canonicalBytes())
    }

    func note(_ size: Int, _ key: Curve25519.Signing.PrivateKey) throws -> String {
        let c = AuditCheckpoint(origin: Self.origin, size: Int64(size), rootHash: MerkleHash.root(of: entries.prefix(size).map(AuditHash.leaf)), time: Self.time)
        return try c.signedNote(signer: key, keyName: Self.origin)
    }

    func verify(_ notes: [String], pinned: [Curve25519.Signing.PrivateKey]) -> Result<AuditLogVerifier.Summary, AuditLogVerifier.Failure> {
        do {
            var v = try AuditLogVerifier(notes: notes.enumerated().map { .init(note: $1, label: "checkpoint \($0)") }, pinned: pinned.map(Self.verifier))
            for (i, e) in entries.enumerated() { try v.add(index: Int64(i), entry: e) }
            return .success(try v.finish())
        } catch { return .failure(error) }
    }
}

extension Result {
    fileprivate var failure: Failure? { if case .failure(let f) = self { return f }; return nil }
    fileprivate var value: Success? { if case .success(let s) = self { return s }; return nil }
}

@Suite("Audit log verification across key rotations")
struct AuditKeyRotationVerifierTests {
    let old = Curve25519.Signing.PrivateKey()
    let new = Curve25519.Signing.PrivateKey()
    let stranger = Curve25519.Signing.PrivateKey()

    /// Entries 0..<8, the rotation at 8, the handover by the old key at 12, the new key from 12.
    func rotatedLog() throws -> (log: RotationLog, before: String, handover: String, first: String, latest: String) {
        var log = RotationLog()
        log.plain(upTo: 5)
        let before = try log.note(5, old)
        log.plain(upTo: 8)
        log.rotation(to: new, from: old)
        log.plain(upTo: 12)
        let handover = try log.note(12, old), first = try log.note(12, new)
        log.plain(upTo: 20)
        return (log, before, handover, first, try log.note(20, new))
    }

    @Test func theOldPinLearnsTheNewKeyFromACoveredRotation() throws {
        let r = try rotatedLog()
        let summary = try r.log.verify([r.latest, r.before, r.handover, r.first], pinned: [old]).get()
        #expect(summary.verifiedCheckpoints.count == 4)
        let learned = try #require(summary.keys.first { $0.verifierKey == RotationLog.verifier(new).description })
        #expect(learned.source == .handedOver && learned.rotationEntry == 8 && learned.fromSize == 12 && learned.checkpoints == 2)
        #expect(learned.vouchedBy == RotationLog.verifier(old).description)
        let pinned = try #require(summary.keys.first { $0.verifierKey == RotationLog.verifier(old).description })
        #expect(pinned.source == .pinned && pinned.throughSize == 12 && pinned.checkpoints == 2)
        #expect(learned.summary.contains("learned from entry 8") && pinned.summary.contains("retired after size 12"))
        // Without the handover nothing the old key signed covers the rotation, so the new key is not trusted.
        let failure = try #require(r.log.verify([r.latest, r.before, r.first], pinned: [old]).failure)
        #expect(failure.kind == .checkpointSignature && failure.message.contains("entry 8 (audit-key-rotated)"), "\(failure.message)")
        #expect(failure.message.contains("no checkpoint signed by a key you trust covers that entry"), "\(failure.message)")
    }

    @Test func theNewPinVerifiesTheOldCheckpointsThroughTheRotationEntry() throws {
        let r = try rotatedLog()
        let summary = try r.log.verify([r.latest, r.before, r.handover, r.first], pinned: [new]).get()
        #expect(summary.verifiedCheckpoints.count == 4)
        let oldKey = try #require(summary.keys.first { $0.verifierKey == RotationLog.verifier(old).description })
        #expect(oldKey.source == .predecessor && oldKey.throughSize == 12 && oldKey.checkpoints == 2)
        // A checkpoint by a key no entry names still fails.
        var other = r.log
        other.plain(upTo: 20)
        #expect(r.log.verify([r.latest, try other.note(5, stranger)], pinned: [new]).failure?.kind == .checkpointSignature)
    }

    @Test func bothPinsNeedNoHandover() throws {
        let r = try rotatedLog()
        // After a compromise the old key's handover proves nothing; a pinned new key does not need it.
        #expect(r.log.verify([r.latest, r.before, r.first], pinned: [old, new]).value?.verifiedCheckpoints.count == 3)
        #expect(r.log.verify([r.latest, r.before, r.handover, r.first], pinned: [old, new]).value?.verifiedCheckpoints.count == 4)
    }

    @Test func aRotationEntryThatNoTrustedCheckpointCoversTeachesNothing() throws {
        // A forger writes a rotation to its own key and signs checkpoints over it with that key.
        var forged = RotationLog()
        forged.plain(upTo: 8)
        let honest = try forged.note(5, old)
        forged.rotation(to: stranger, from: old)
        forged.plain(upTo: 20)
        let failure = try #require(forged.verify([try forged.note(20, stranger), honest, try forged.note(10, stranger)], pinned: [old]).failure)
        #expect(failure.kind == .checkpointSignature && failure.message.contains("not signed by the expected key"), "\(failure.message)")
        #expect(failure.message.contains("entry 8 (audit-key-rotated) names the key \(RotationLog.verifier(stranger))"), "\(failure.message)")

        // Covered by the old key, a rotation entry that the gateway did not write (another actor) still teaches nothing...
        var relabelled = RotationLog()
        relabelled.plain(upTo: 8)
        relabelled.rotation(to: stranger, from: old, actor: "school/100001")
        relabelled.plain(upTo: 20)
        let notes = [try relabelled.note(20, stranger), try relabelled.note(12, old)]
        #expect(relabelled.verify(notes, pinned: [old]).failure?.kind == .checkpointSignature)
        // ... while the same log with the gateway's entry hands over: the check above can fail for the right reason only.
        var genuine = RotationLog()
        genuine.plain(upTo: 8)
        genuine.rotation(to: stranger, from: old)
        genuine.plain(upTo: 20)
        #expect(genuine.verify([try genuine.note(20, stranger), try genuine.note(12, old)], pinned: [old]).value != nil)
    }

    @Test func theNewKeyIsNotTrustedForTreesBeforeTheHandover() throws {
        var r = try rotatedLog()
        let early = try r.log.note(10, new)
        let failure = try #require(r.log.verify([r.latest, r.handover, early], pinned: [old]).failure)
        #expect(failure.kind == .checkpointSignature && failure.message.contains("trusted only for checkpoints of 12 entries or more"), "\(failure.message)")
        r.log.plain(upTo: 20)
        #expect(r.log.verify([r.latest, r.handover], pinned: [old]).value != nil)
    }

    @Test func theOldKeyIsRefusedAfterItsSuccessorSigned() throws {
        let r = try rotatedLog()
        let late = try r.log.note(15, old)
        for pinned in [[old], [old, new], [new]] {
            let failure = try #require(r.log.verify([r.latest, r.handover, r.first, late], pinned: pinned).failure)
            #expect(failure.kind == .checkpointSignature, "\(failure.message)")
            #expect(failure.message.contains("rotated away") || failure.message.contains("at most 12 entries"), "\(failure.message)")
        }
    }

    @Test func aHandoverCarriedInTheLogServesAReaderThatSeesOnlyTheLatestCheckpoint() throws {
        var log = RotationLog()
        log.plain(upTo: 8)
        log.rotation(to: new, from: old)
        log.plain(upTo: 10)
        let handover = try log.note(10, old)
        var without = log
        log.handoverEntry(handover, size: 10)
        log.plain(upTo: 20)
        without.plain(upTo: 20)
        // Over the API only the latest checkpoint is served: the handover comes from entry 10.
        let summary = try log.verify([try log.note(20, new)], pinned: [old]).get()
        #expect(summary.verifiedCheckpoints.map(\.checkpoint.size) == [10, 20])
        #expect(summary.verifiedCheckpoints.first?.label == "the handover checkpoint in entry 10 (size 10)")
        #expect(without.verify([try without.note(20, new)], pinned: [old]).failure?.kind == .checkpointSignature)
        // A handover whose root is not the log's fails, even though the old key signed it.
        var lying = RotationLog()
        lying.plain(upTo: 8)
        lying.rotation(to: new, from: old)
        lying.plain(upTo: 10)
        var other = lying
        other.entries[3] = Data("{\"n\":\"changed\"}".utf8)
        lying.handoverEntry(try other.note(10, old), size: 10)
        lying.plain(upTo: 20)
        #expect(lying.verify([try lying.note(20, new)], pinned: [old]).failure?.kind == .checkpointRoot)
    }
}
