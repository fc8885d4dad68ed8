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

/// A log in memory whose start is pruned as the gateway prunes it (`pruneAudit`): an entry keeps
/// its leaf and chain hashes and its time, and loses its bytes and its search columns.
struct PrunedLog {
    static let origin = AuditLogVerifierTests.origin
    static let time = Date(timeIntervalSince1970: 1_796_000_000)
    var entries: [AuditEntry] = []
    var bytes: [Data] = []
    var leaves: [Data] = []
    var chains: [Data] = []
    var columns: [AuditSearchColumns] = []

    init(_ n: Int) { for _ in 0..<n { plain() } }

    mutating func append(_ e: AuditEntry) {
        let b = e.canonicalBytes(), leaf = AuditHash.leaf(b)
        entries.append(e); bytes.append(b); leaves.append(leaf); columns.append(AuditSearchColumns(entry: e))
        chains.append(AuditHash.chain(previous: chains.last ?? AuditHash.genesis, leaf: leaf))
    }

    mutating func plain(actor: String = "school/100001") {
        append(AuditEntry(time: Self.time.addingTimeInterval(Double(entries.count)), actor: actor, action: "submission", policyVersion: "test",
                          decision: .allow, rule: "schools-submit-enrolments", subjects: [Int64(entries.count)], requestDigest: "d\(entries.count)"))
    }

    /// What the store's prune does to entry `i`.
    mutating func empty(_ i: Int) {
        bytes[i] = Data()
        columns[i] = AuditSearchColumns(time: columns[i].time, actor: "", action: "", decision: "", rule: "", purpose: nil)
    }

    mutating func prune(below k: Int) { for i in 0..<k { empty(i) } }

    /// The entry the gateway appends after a prune (or one by another actor, as no participant could write).
    mutating func record(prunedBelow k: Int, actor: String = AuditPruning.actor) {
        var e = AuditPruning.prunedEntry(time: Self.time.addingTimeInterval(86_400), policyVersion: "test", period: "P10Y", entries: k,
                                         prunedBelow: Int64(k), cutoff: Self.time.addingTimeInterval(100))
        e.actor = actor
        append(e)
    }

    /// A checkpoint of the first `size` entries, from the leaves as they were written.
    func note(_ size: Int, _ key: Curve25519.Signing.PrivateKey = AuditLogVerifierTests.key) throws -> String {
        let c = AuditCheckpoint(origin: Self.origin, size: Int64(size), rootHash: MerkleHash.root(of: leaves.prefix(size)), time: Self.time)
        return try c.signedNote(signer: key, keyName: Self.origin)
    }

    /// Checks the log as `audit verify --database` feeds it: bytes, stored leaf and chain, columns.
    func verify(_ notes: [String], pinned: [Curve25519.Signing.PrivateKey] = [AuditLogVerifierTests.key], storedLeaves: [Data]? = nil,
                storedChains: [Data?]? = nil, withoutLeaf: Set<Int> = []) -> Result<AuditLogVerifier.Summary, AuditLogVerifier.Failure> {
        do {
            var v = try AuditLogVerifier(notes: notes.enumerated().map { .init(note: $1, label: "checkpoint \($0)") },
                                         pinned: pinned.map { try! NoteVerifierKey(name: Self.origin, publicKey: $0.publicKey) })
            for i in bytes.indices {
                try v.add(index: Int64(i), entry: bytes[i], storedLeaf: withoutLeaf.contains(i) ? nil : (storedLeaves ?? leaves)[i],
                          storedChain: storedChains.map { $0[i] } ?? chains[i], columns: columns[i])
            }
            return .success(try v.finish())
        } catch { return .failure(error) }
    }
}

@Suite("Audit log verification of a pruned log")
struct AuditPruningVerifierTests {
    /// Entries 0..<20 (a checkpoint of 10 saved before the prune), 0..<8 pruned, the prune entry at
    /// 20, and a checkpoint of 21 that covers it.
    func prunedLog() throws -> (log: PrunedLog, before: String, after: String) {
        var log = PrunedLog(20)
        let before = try log.note(10)
        log.prune(below: 8)
        log.record(prunedBelow: 8)
        return (log, before, try log.note(21))
    }

    @Test func aPrunedPrefixVerifiesAgainstCheckpointsSignedBeforeAndAfterThePrune() throws {
        let r = try prunedLog()
        let summary = try r.log.verify([r.after, r.before]).get()
        #expect(summary.verifiedCheckpoints.map(\.checkpoint.size) == [10, 21])
        #expect(summary.rootHash == MerkleHash.root(of: r.log.leaves))
        let pruned = try #require(summary.pruned)
        #expect(pruned.entries == 8 && pruned.record.index == 20 && pruned.record.prunedBelow == 8 && pruned.coveredBySize == 21 && pruned.prunes == 1)
        #expect(pruned.record.period == "P10Y" && pruned.record.time == PrunedLog.time.addingTimeInterval(86_400))
        // The whole log unpruned verifies the same, and says nothing of pruning.
        var whole = PrunedLog(20)
        whole.record(prunedBelow: 0)
        #expect(try whole.verify([try whole.note(21), r.before]).get().pruned == nil)

        // The report names the prefix and the prune.
        var check = try AuditVerification(source: "test", latest: .init(note: r.after, verifierKey: nil),
                                          saved: .checkpoint(note: r.before, label: "saved"), pinned: [AuditLogVerifierTests.verifier])
        for i in r.log.bytes.indices { try check.add(index: Int64(i), entry: r.log.bytes[i], storedLeaf: r.log.leaves[i]) }
        let report = check.finish()
        #expect(report.ok && report.pruned?.entries == 8 && report.savedCheckpoint?.size == 10, "\(report.text)")
        #expect(report.text.contains("entries 0..<8: content pruned on \(Instant.format(PrunedLog.time.addingTimeInterval(86_400))) (audit-retention P10Y, recorded in entry 20"), "\(report.text)")
        #expect(report.text.contains("their leaf hashes are bound by the checkpoints"), "\(report.text)")
    }

    @Test func aLaterPruneExtendsThePrefixItsOwnRecordVouchesFor() throws {
        var r = try prunedLog()
        for _ in 21..<30 { r.log.plain() }
        let middle = try r.log.note(30)
        r.log.prune(below: 15)
        // The first prune's record alone does not reach the new boundary.
        var unrecorded = r.log
        unrecorded.plain()
        let failure = try #require(unrecorded.verify([try unrecorded.note(31), middle, r.before]).failure)
        #expect(failure.kind == .pruned && failure.index == 8 && failure.rangeEnd == 15, "\(failure.message)")
        r.log.record(prunedBelow: 15)
        let pruned = try #require(try r.log.verify([try r.log.note(31), middle, r.after, r.before]).get().pruned)
        #expect(pruned.entries == 15 && pruned.record.index == 30 && pruned.prunes == 2 && pruned.coveredBySize == 31)
    }

    @Test func aPrunedEntryAfterOneWithContentFails() throws {
        var r = try prunedLog()
        r.log.empty(12)
        let failure = try #require(r.log.verify([r.after, r.before]).failure)
        #expect(failure.kind == .pruned && failure.index == 12, "\(failure.message)")
        #expect(failure.message.contains("entry 8 before it has"), "\(failure.message)")
        // Likewise a log whose first entry kept its content.
        var log = PrunedLog(20)
        let before = try log.note(10)
        for i in 1..<8 { log.empty(i) }
        log.record(prunedBelow: 8)
        let first = log.verify([try log.note(21), before]).failure
        #expect(first?.kind == .pruned && first?.index == 1, "\(first?.message ?? "verified")")
    }

    @Test func aPrunedPrefixWithoutARecordOfItFailsAtItsFirstEntry() throws {
        var log = PrunedLog(20)
        let before = try log.note(10)
        log.prune(below: 8)
        log.plain()
        let none = try #require(log.verify([try log.note(21), before]).failure)
        #expect(none.kind == .pruned && none.index == 0 && none.rangeEnd == 8, "\(none.message)")
        #expect(none.message.contains("no audit.pruned entry by the gateway records pruning them"), "\(none.message)")

        // A record of a smaller prune vouches only for what it names.
        var short = PrunedLog(20)
        short.prune(below: 8)
        short.record(prunedBelow: 5)
        let beyond = try #require(short.verify([try short.note(21), before]).failure)
        #expect(beyond.kind == .pruned && beyond.index == 5 && beyond.rangeEnd == 8, "\(beyond.message)")

        // A record written by anyone but the gateway says nothing.
        var forged = PrunedLog(20)
        forged.prune(below: 8)
        forged.record(prunedBelow: 8, actor: "school/100001")
        let other = forged.verify([try forged.note(21), before]).failure
        #expect(other?.kind == .pruned && other?.index == 0, "\(other?.message ?? "verified")")
    }

    @Test func aRecordNoTrustedCheckpointCoversVouchesForNothing() throws {
        let r = try prunedLog()
        // The latest checkpoint stops short of the prune entry.
        let failure = try #require(r.log.verify([try r.log.note(20), r.before]).failure)
        #expect(failure.kind == .pruned && failure.index == 0 && failure.rangeEnd == 8, "\(failure.message)")
        #expect(failure.message.contains("entry 20 (audit.pruned) records pruning them, but no checkpoint signed by a key you trust covers that entry"), "\(failure.message)")
        // Covered only by a checkpoint from a key nobody trusts: that checkpoint is refused.
        let stranger = try r.log.note(21, Curve25519.Signing.PrivateKey())
        #expect(r.log.verify([stranger, r.before]).failure?.kind == .checkpointSignature)
    }

    @Test func aChangedLeafHashInThePrunedPrefixBreaksTheSignedRoots() throws {
        let r = try prunedLog()
        var leaves = r.log.leaves
        leaves[3] = AuditHash.leaf(Data("{\"n\":\"forged\"}".utf8))
        // With the stored chain as written, the chain breaks at the entry.
        let chain = try #require(r.log.verify([r.after, r.before], storedLeaves: leaves).failure)
        #expect(chain.kind == .chainHash && chain.index == 3, "\(chain.message)")
        // A forger who rewrites the chain too is caught by the first signed root over the entry.
        var chains: [Data?] = []
        for leaf in leaves { chains.append(AuditHash.chain(previous: (chains.last ?? AuditHash.genesis)!, leaf: leaf)) }
        let root = try #require(r.log.verify([r.after, r.before], storedLeaves: leaves, storedChains: chains).failure)
        #expect(root.kind == .checkpointRoot && root.index == 0 && root.rangeEnd == 10, "\(root.message)")
        // ... and by the checkpoint after the prune alone, and over a source without chain hashes.
        #expect(r.log.verify([r.after], storedLeaves: leaves, storedChains: chains).failure?.kind == .checkpointRoot)
        #expect(r.log.verify([r.after], storedLeaves: leaves, storedChains: Array(repeating: nil, count: leaves.count)).failure?.kind == .checkpointRoot)
    }

    @Test func aPrunedEntryNeedsItsLeafHashAndClearedColumns() throws {
        var r = try prunedLog()
        let noLeaf = try #require(r.log.verify([r.after, r.before], withoutLeaf: [4]).failure)
        #expect(noLeaf.kind == .pruned && noLeaf.index == 4, "\(noLeaf.message)")
        r.log.columns[6].rule = "schools-submit-enrolments"
        let column = try #require(r.log.verify([r.after, r.before]).failure)
        #expect(column.kind == .searchColumn && column.index == 6 && column.column == "rule", "\(column.message)")
        #expect(!column.message.contains("schools-submit-enrolments"), "the message does not repeat what pruning should have removed")
    }

    @Test func aRotationInThePrunedPrefixCanNoLongerBeFollowed() throws {
        let old = AuditLogVerifierTests.key, new = Curve25519.Signing.PrivateKey()
        var log = PrunedLog(4)
        log.append(AuditKeyRotation.rotatedEntry(time: PrunedLog.time, policyVersion: "test", newVerifierKey: RotationLog.verifier(new), newKeyID: "n",
                                                 oldVerifierKey: RotationLog.verifier(old), oldKeyID: "o"))
        for _ in 5..<10 { log.plain() }
        let handover = try log.note(8, old), first = try log.note(8, new)
        #expect(log.verify([try log.note(10, new), handover, first], pinned: [old]).value != nil, "unpruned, the old pin follows the rotation")
        log.prune(below: 8)
        log.record(prunedBelow: 8)
        let latest = try log.note(11, new)
        let failure = try #require(log.verify([latest, handover, first], pinned: [old]).failure)
        #expect(failure.kind == .checkpointSignature && failure.message.contains("entries 0..<8 was pruned (audit-retention)"), "\(failure.message)")
        #expect(log.verify([latest, handover, first], pinned: [old, new]).value?.pruned?.entries == 8, "pinning both keys verifies it")
    }

    @Test func anExportCarriesPrunedEntriesAndPinsAsAnEarlierExport() throws {
        let r = try prunedLog()
        let header = AuditWire.ExportHeader(exportedAt: PrunedLog.time, checkpoint: .init(note: r.after, verifierKey: AuditLogVerifierTests.verifier.description,
                                                                                      origin: PrunedLog.origin, size: 21, rootHash: "", time: PrunedLog.time))
        var lines = [try AuditWire.encoder.encode(header)]
        for i in r.log.bytes.indices {
            lines.append(try AuditWire.encoder.encode(AuditWire.Entry(index: Int64(i), leafHash: r.log.leaves[i], bytes: r.log.bytes[i], decode: false)))
        }
        let text = String(decoding: lines[1], as: UTF8.self), kept = String(decoding: lines[9], as: UTF8.self)
        #expect(text.contains("\"canonical\":\"\"") && text.contains("\"pruned\":true") && text.contains(r.log.leaves[0].hexString), "\(text)")
        #expect(!kept.contains("pruned") && !kept.contains("\"entry\""), "an entry with content is written as before: \(kept)")
        let export = try AuditExport.parse(Data(lines.joined(separator: Data("\n".utf8))), name: "pruned.ndjson")
        #expect(export.entries.prefix(8).allSatisfy { $0.bytes.isEmpty } && export.entries.map(\.leafHash) == r.log.leaves)

        // Verified from the export, and as the earlier export a later log must extend.
        func check(saved: AuditVerification.Saved?) throws -> AuditVerificationReport {
            var c = try AuditVerification(source: "export", latest: .init(note: r.after, verifierKey: nil), saved: saved, pinned: [AuditLogVerifierTests.verifier])
            for e in export.entries { try c.add(index: e.index, entry: e.bytes, storedLeaf: e.leafHash) }
            return c.finish()
        }
        #expect(try check(saved: nil).pruned?.entries == 8)
        let extended = try check(saved: .export(export, label: "earlier"))
        #expect(extended.ok && extended.savedCheckpoint?.size == 21, "\(extended.text)")
    }
}
