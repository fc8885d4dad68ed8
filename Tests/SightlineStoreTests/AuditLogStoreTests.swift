import Crypto
import Foundation
import GRDB
@testable import SightlineCore
import Testing
@testable import SightlineStore

/// A real audit log in a SQLite file, written through the store as the gateway writes it:
/// submissions and single entries, checkpoints signed every 16 entries.
private final class AuditLogFixture: @unchecked Sendable {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-audit-\(UUID().uuidString)").path
    let key = Curve25519.Signing.PrivateKey()
    let origin = "test.sightline/sightline/audit"
    var path: String { dir + "/log.sqlite" }
    let store: SQLiteStore

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        store = try SQLiteStore(path: dir + "/log.sqlite")
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    var verifier: NoteVerifierKey { try! NoteVerifierKey(name: origin, publicKey: key.publicKey) }

    /// A distinctive, unique digest: the tampering tests find entries by it in the raw file.
    static func marker(_ i: Int) -> String { String(format: "marker%06d", i) + String(repeating: "f", count: 52) }

    static func entry(_ i: Int, actor: String = "school/100001", action: String = "request", decision: PolicyDecision.Effect = .allow,
                      purpose: String? = nil, rule: String = "endpoint-roles:GET x", time: Date? = nil) -> AuditEntry {
        AuditEntry(time: time ?? Date(timeIntervalSince1970: 1_795_000_000 + Double(i) * 60), actor: actor, action: action, purpose: purpose,
                   policyVersion: "test", decision: decision, rule: rule, counts: ["n": i], subjects: [Int64(i % 7)],
                   requestDigest: marker(i))
    }

    /// Appends entries `range`, every fifth as a submission commit; signs a checkpoint at every multiple of 16.
    func grow(_ range: Range<Int>) async throws {
        for i in range {
            if i % 5 == 0 {
                let entry = Self.entry(i, action: "submission")
                _ = try await store.commit(SubmissionCommit(
                    id: "sub_\(i)", participant: "school/100001", idempotencyKey: "k\(i)", bodyDigest: "body\(i)", receivedAt: entry.time,
                    records: [], linkage: testLinkage, buildAudit: { _ in entry }, buildReceipt: { _, index in Data("\(index)".utf8) }))
            } else {
                try await store.appendAudit(Self.entry(i))
            }
            if (i + 1) % 16 == 0 { _ = try await sign() }
        }
    }

    @discardableResult
    func sign(with signer: Curve25519.Signing.PrivateKey? = nil, storing: Bool = true) async throws -> StoredCheckpoint {
        let signer = signer ?? key
        let head = try await store.auditTreeHead()
        let c = AuditCheckpoint(origin: origin, size: head.size, rootHash: head.rootHash, time: Date(timeIntervalSince1970: 1_796_000_000 + Double(head.size)))
        let stored = StoredCheckpoint(size: c.size, rootHash: c.rootHash, time: c.time, note: try c.signedNote(signer: signer, keyName: origin),
                                      verifierKey: try NoteVerifierKey(name: origin, publicKey: signer.publicKey).description)
        if storing { try await store.saveCheckpoint(stored) }
        return stored
    }

    /// A byte-for-byte copy of the log file, taken once the WAL is folded into it.
    func copy(_ name: String) async throws -> String {
        try await store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let target = dir + "/" + name + ".sqlite"
        try FileManager.default.copyItem(atPath: path, toPath: target)
        return target
    }

    /// Opens a copy for tampering, with the append-only triggers dropped, as a forger would.
    func tamper(_ copy: String, _ body: (Database) throws -> Void) throws {
        let queue = try DatabaseQueue(path: copy)
        try queue.writeWithoutTransaction { db in
            for trigger in ["audit_entry_no_update", "audit_entry_no_delete", "audit_node_no_update", "audit_node_no_delete",
                            "audit_checkpoint_no_update", "audit_checkpoint_no_delete"] {
                try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)")
            }
            try db.inTransaction { try body(db); return .commit }
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try queue.close()
    }

    func verify(_ copy: String, saved: AuditVerification.Saved? = nil, pinned: [NoteVerifierKey]? = nil) throws -> AuditVerificationReport {
        try SQLiteStore(path: copy, readOnly: true).verifyAuditLog(pinned: pinned ?? [verifier], saved: saved)
    }

    /// What `sightline audit export` writes, from the live store.
    func export() async throws -> AuditExport {
        let latest = try #require(try await store.latestCheckpoint())
        var lines = [try AuditWire.encoder.encode(AuditWire.ExportHeader(exportedAt: Date(), checkpoint: .init(
            note: latest.note, verifierKey: latest.verifierKey, origin: origin, size: latest.size, rootHash: latest.rootHash.hexString, time: latest.time)))]
        for e in try await store.auditEntries(matching: AuditEntryFilter(from: 0, limit: Int(latest.size))) {
            lines.append(try AuditWire.encoder.encode(AuditWire.Entry(index: e.index, leafHash: e.leafHash.hexString, canonical: e.entry.base64EncodedString())))
        }
        return try AuditExport.parse(Data(lines.joined(separator: Data("\n".utf8))), name: "export.ndjson")
    }
}

/// Entry `index`'s row as the forger reads it.
private func row(_ db: Database, _ index: Int64) throws -> Row { try Row.fetchOne(db, sql: "SELECT * FROM audit_entry WHERE idx = ?", arguments: [index])! }

@Suite("Audit log in the store: Merkle state, proofs, filters and tampering", .serialized)
struct AuditLogStoreTests {
    // MARK: - The tree the store keeps

    @Test func appendsKeepTheTreeSoRootsAndProofsNeedNoRecomputation() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<200)
        let entries = try await f.store.auditEntries(matching: AuditEntryFilter(from: 0, limit: 1000))
        let reference = InMemoryMerkleLog(leafHashes: entries.map { AuditHash.leaf($0.entry) })
        let head = try await f.store.auditTreeHead()
        #expect(head.size == 200 && head.rootHash == reference.tree.rootHash())
        #expect(head.rootHash == MerkleHash.root(of: entries.map(\.leafHash)))
        // Only nodes of level >= 6 are stored: 200 leaves complete three of level 6 and one of level 7.
        let stored = try await f.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_node")! }
        #expect(stored == 4)
        for (index, size) in [(0, 1), (0, 200), (63, 64), (64, 65), (127, 200), (199, 200), (150, 190), (5, 7)] as [(Int64, Int64)] {
            let p = try await f.store.auditInclusionProof(index: index, size: size)
            #expect(p.path == (try MerkleProofs.inclusion(index: index, size: size, nodes: reference)))
            #expect(p.rootHash == MerkleHash.root(of: Array(reference.leaves.prefix(Int(size)))))
            #expect(MerkleVerify.inclusion(leafHash: p.leafHash, index: index, size: size, proof: p.path, root: p.rootHash))
        }
        for (from, to) in [(0, 200), (1, 200), (64, 200), (100, 200), (127, 128), (200, 200), (3, 70)] as [(Int64, Int64)] {
            let p = try await f.store.auditConsistencyProof(from: from, to: to)
            #expect(p.path == (try MerkleProofs.consistency(from: from, to: to, nodes: reference)))
            #expect(MerkleVerify.consistency(oldSize: from, newSize: to, oldRoot: p.fromRoot, newRoot: p.toRoot, proof: p.path))
        }
    }

    // MARK: - Backups (issue 11 item 8)

    /// A backup taken while entries are still being appended is the log as of one commit: one file
    /// (no -wal), owner-only, that verifies on its own; a second backup to the same name is refused
    /// and leaves the first untouched.
    @Test func aBackupTakenWhileWritingIsOneConsistentFileThatVerifies() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<48)
        let writing = Task { try await f.grow(48..<400) }
        try await Task.sleep(for: .milliseconds(20))
        let out = f.dir + "/backup.sqlite"
        let backup = try f.store.backup(to: out)
        try await writing.value
        #expect(backup.auditEntries >= 48 && backup.auditEntries <= 400, "\(backup.auditEntries)")
        #expect(backup.bytes > 0)
        #expect(!FileManager.default.fileExists(atPath: out + "-wal"), "the copy is one file")
        #expect(try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int == 0o600)
        let report = try f.verify(out)
        #expect(report.ok, "\(report)")
        #expect(report.entries == Int64(backup.auditEntries))
        let mode = try await DatabaseQueue(path: out).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "delete")
        // The live log went on to 400; the copy stayed where it was taken.
        #expect(try await f.store.auditTreeHead().size == 400)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(throws: SightlineError.self) { _ = try f.store.backup(to: out) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes, "the existing backup is untouched")
        let left = try FileManager.default.contentsOfDirectory(atPath: f.dir).filter { $0.contains("partial") }
        #expect(left.isEmpty, "\(left)")
        #expect(throws: SightlineError.self) { _ = try f.store.backup(to: f.dir + "/no-such-dir/backup.sqlite") }
    }

    @Test func proofsOutsideTheTreeAreRangeErrors() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<10)
        for (index, size) in [(10, 10), (0, 11), (-1, 5), (0, 0)] as [(Int64, Int64)] {
            let error = await #expect(throws: AuditLogError.self) { try await f.store.auditInclusionProof(index: index, size: size) }
            #expect(error?.code == .proofRange)
        }
        for (from, to) in [(5, 4), (0, 11), (-1, 3)] as [(Int64, Int64)] {
            let error = await #expect(throws: AuditLogError.self) { try await f.store.auditConsistencyProof(from: from, to: to) }
            #expect(error?.code == .proofRange)
        }
    }

    @Test func aLogWrittenBeforeTheMerkleMigrationGetsItsTree() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/old.sqlite"
        var leaves: [Data] = []
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v2-linkage")
            try await queue.write { db in
                var chain = AuditHash.genesis
                for i in 0..<100 {
                    let bytes = AuditLogFixture.entry(i).canonicalBytes()
                    let leaf = AuditHash.leaf(bytes)
                    chain = AuditHash.chain(previous: chain, leaf: leaf)
                    try db.execute(sql: "INSERT INTO audit_entry VALUES (?, ?, 'a', 'request', 'allow', 'r', NULL, ?, ?, ?)",
                                   arguments: [i, Double(i), bytes, leaf, chain])
                }
            }
            leaves = try await queue.read { db in try Data.fetchAll(db, sql: "SELECT leaf_hash FROM audit_entry ORDER BY idx") }
            try queue.close()
        }
        // Made by GRDB directly, so with the umask's mode: the store would refuse it (chmod 600 first).
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let store = try SQLiteStore(path: path)
        #expect(try await store.auditTreeHead() == AuditTreeHead(size: 100, rootHash: MerkleHash.root(of: leaves)))
        let index = try await store.appendAudit(AuditLogFixture.entry(100))
        #expect(index == 100)
        let all = leaves + [AuditHash.leaf(AuditLogFixture.entry(100).canonicalBytes())]
        let p = try await store.auditInclusionProof(index: 42, size: 101)
        #expect(MerkleVerify.inclusion(leafHash: all[42], index: 42, size: 101, proof: p.path, root: MerkleHash.root(of: all)))
    }

    @Test func aTransactionThatRollsBackLeavesNoTraceInTheTree() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<3)
        let before = try await f.store.auditTreeHead()
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await f.store.pool.write { db in
                _ = try SQLiteStore.append(db, AuditLogFixture.entry(3))
                throw Abort()
            }
        }
        #expect(try await f.store.auditTreeHead() == before)
        #expect(try await f.store.appendAudit(AuditLogFixture.entry(3)) == 3)
    }

    @Test func entriesAreFilteredByEveryField() async throws {
        let f = try AuditLogFixture()
        let base = Date(timeIntervalSince1970: 1_795_000_000)
        let specs: [(String, String, PolicyDecision.Effect, String?, String)] = [
            ("school/100001", "submission", .allow, nil, "school-submits"), ("partner/304-cme", "match", .allow, "cme", "purpose:cme"),
            ("partner/304-cme", "match", .deny, "cme", "match-no-subject"), ("auditor/dpo", "audit.entries", .allow, nil, "endpoint-roles:GET audit/entries"),
            ("school/100002", "request", .deny, nil, "endpoint-roles:GET audit/entries"), ("partner/304-cme", "report", .allow, "s17", "purpose:s17:reports"),
        ]
        for (i, s) in specs.enumerated() {
            try await f.store.appendAudit(AuditLogFixture.entry(i, actor: s.0, action: s.1, decision: s.2, purpose: s.3, rule: s.4,
                                                                time: base.addingTimeInterval(Double(i) * 3600)))
        }
        func indexes(_ change: (inout AuditEntryFilter) -> Void) async throws -> [Int64] {
            var filter = AuditEntryFilter(from: 0, limit: 100)
            change(&filter)
            return try await f.store.auditEntries(matching: filter).map(\.index)
        }
        #expect(try await indexes { $0.actor = "partner/304-cme" } == [1, 2, 5])
        #expect(try await indexes { $0.action = "match" } == [1, 2])
        #expect(try await indexes { $0.decision = "deny" } == [2, 4])
        #expect(try await indexes { $0.purpose = "cme" } == [1, 2])
        #expect(try await indexes { $0.rule = "endpoint-roles:GET audit/entries" } == [3, 4])
        #expect(try await indexes { $0.since = base.addingTimeInterval(2 * 3600); $0.until = base.addingTimeInterval(4 * 3600) } == [2, 3])
        #expect(try await indexes { $0.actor = "partner/304-cme"; $0.decision = "allow"; $0.purpose = "s17" } == [5])
        #expect(try await indexes { $0.from = 2; $0.limit = 2 } == [2, 3])
    }

    @Test func theStoreOnlyKeepsCheckpointsOfItsOwnTree() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<70)
        #expect(try await f.store.latestCheckpoint()?.size == 64)
        let good = try await f.sign()
        #expect(try await f.store.latestCheckpoint() == good)
        let forged = StoredCheckpoint(size: 10, rootHash: Data(repeating: 7, count: 32), time: Date(), note: "x", verifierKey: "y")
        await #expect(throws: AuditLogError.self) { try await f.store.saveCheckpoint(forged) }
        let beyond = StoredCheckpoint(size: 71, rootHash: good.rootHash, time: Date(), note: "x", verifierKey: "y")
        await #expect(throws: AuditLogError.self) { try await f.store.saveCheckpoint(beyond) }
        #expect(try await f.store.checkpoints(upTo: 16).map(\.size) == [16])
        // History cannot be rewritten in place.
        await #expect(throws: DatabaseError.self) {
            try await f.store.pool.write { db in try db.execute(sql: "DELETE FROM audit_checkpoint") }
        }
        await #expect(throws: DatabaseError.self) {
            try await f.store.pool.write { db in try db.execute(sql: "UPDATE audit_node SET hash = zeroblob(32)") }
        }
    }

    // MARK: - Verification of an honest log

    @Test func anUntouchedLogVerifiesWithItsCheckpointsAndAgainstSavedOnes() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<70)
        let saved = try await f.sign()
        let export = try await f.export()
        try await f.grow(70..<130)
        let copy = try await f.copy("honest")
        let report = try f.verify(copy, saved: .checkpoint(note: saved.note, label: "saved"))
        #expect(report.ok, "\(report.text)")
        #expect(report.entries == 130 && report.checkpoint?.size == 128 && report.unsignedEntries == 2)
        #expect(report.checkpointsVerified == 10)  // stored: 16, 32, ..., 128 and 70; and the saved one at 70
        #expect(report.savedCheckpoint?.size == 70 && report.verifierKeyPinned)
        #expect(try f.verify(copy, saved: .export(export, label: "export")).ok)
        // Without a pinned key the log's own recorded key is used, and the report says so.
        let unpinned = try f.verify(copy, pinned: [])
        #expect(unpinned.ok && !unpinned.verifierKeyPinned)
    }

    @Test func retentionDeletingRecordsLeavesTheLogVerifiable() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<20)
        let record = PseudonymisedRecord(kind: .gpRegistration, referenceKey: Data([1]), observedAt: Date(timeIntervalSince1970: 1_790_000_000),
                                         linkageKeys: [LinkageKey(basis: .nhsNumber, digest: Data(repeating: 1, count: 32))],
                                         birthYearMonth: "2014-03", birthDateKey: Data([7]), postcodeDistrict: "NW6",
                                         fields: ["practice": .string("Y12345")], droppedFields: [])
        _ = try await f.store.commit(SubmissionCommit(
            id: "sub_r", participant: "nhs/Y12345", idempotencyKey: "r", bodyDigest: "r", receivedAt: Date(), records: [record], linkage: testLinkage,
            buildAudit: { outcomes in AuditLogFixture.entry(20, action: "submission") }, buildReceipt: { _, i in Data("\(i)".utf8) }))
        try await f.sign()
        // Entries carry internal subject ids and digests only: the records can go, the log stays whole.
        try await f.store.pool.write { db in
            try db.execute(sql: "DELETE FROM record")
            try db.execute(sql: "DELETE FROM linkage_key")
            try db.execute(sql: "DELETE FROM subject")
        }
        let copy = try await f.copy("retention")
        let report = try f.verify(copy)
        #expect(report.ok && report.entries == 21, "\(report.text)")
    }

    // MARK: - Tampering, each on a copy of the real file

    @Test func oneByteChangedInTheFileNamesTheEntry() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let copy = try await f.copy("byte")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: copy))
        let marker = Data(AuditLogFixture.marker(37).utf8)
        let found = try #require(bytes.range(of: marker))
        #expect(bytes.range(of: marker, in: found.upperBound..<bytes.endIndex) == nil, "the marker must be in the file once")
        bytes[found.lowerBound + 6] ^= 0x01  // "marker000037" -> "markes000037": one bit of one byte
        try bytes.write(to: URL(fileURLWithPath: copy))
        let report = try f.verify(copy)
        #expect(!report.ok)
        #expect(report.failure?.kind == .leafHash && report.failure?.index == 37, "\(report.text)")
        #expect(report.text.contains("first entry that does not verify: 37"))
    }

    @Test func aChangedEntryWhoseHashesWereRecomputedIsStillCaught() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let copy = try await f.copy("careful")
        // The forger rewrites entry 20, its search columns to match, and recomputes its leaf and
        // every chain hash after it.
        try f.tamper(copy) { db in
            let forgedEntry = AuditLogFixture.entry(20, actor: "school/100002")
            let forged = forgedEntry.canonicalBytes()
            try db.execute(sql: "UPDATE audit_entry SET actor = ?, action = ? WHERE idx = 20", arguments: [forgedEntry.actor, forgedEntry.action])
            var chain: Data = try row(db, 19)["chain_hash"]
            for index in Int64(20)..<100 {
                let bytes: Data = index == 20 ? forged : try row(db, index)["entry"]
                let leaf = AuditHash.leaf(bytes)
                chain = AuditHash.chain(previous: chain, leaf: leaf)
                try db.execute(sql: "UPDATE audit_entry SET entry = ?, leaf_hash = ?, chain_hash = ? WHERE idx = ?", arguments: [bytes, leaf, chain, index])
            }
        }
        let report = try f.verify(copy)
        // The signed checkpoint of size 32 no longer matches; the one of size 16 still does.
        #expect(report.failure?.kind == .checkpointRoot, "\(report.text)")
        #expect(report.failure?.index == 16 && report.failure?.rangeEnd == 32)
    }

    @Test("a search column changed behind the log's back is named, entry and column", arguments: [
        ("actor", "'school/100002'"), ("rule", "'purpose:s47'"), ("purpose", "'s47'"), ("time", "time + 3600"),
        ("action", "'submission.read'"), ("decision", "'deny'"),
    ])
    func aChangedSearchColumnIsNamed(column: String, value: String) async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let copy = try await f.copy("column-\(column)")
        // Only the column: the hashed entry, its leaf, the chain and every checkpoint stay as they were,
        // yet `audit entries --\(column)` would now miss entry 37 or find it where it does not belong.
        try f.tamper(copy) { db in try db.execute(sql: "UPDATE audit_entry SET \(column) = \(value) WHERE idx = 37") }
        let report = try f.verify(copy)
        #expect(!report.ok)
        #expect(report.failure?.kind == .searchColumn && report.failure?.index == 37 && report.failure?.column == column, "\(report.text)")
        #expect(report.text.contains("first entry that does not verify: 37 (its \(column) column)"), "\(report.text)")
    }

    @Test func searchColumnsThatAgreeVerifyAndTimeIsComparedToTheSecond() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<40)
        // Entries with a purpose and a time inside a second, as the gateway writes them.
        try await f.store.appendAudit(AuditLogFixture.entry(40, purpose: "cme", time: Date(timeIntervalSince1970: 1_795_100_000.75)))
        try await f.sign()
        let honest = try await f.copy("columns-honest")
        let honestReport = try f.verify(honest)
        #expect(honestReport.ok, "\(honestReport.text)")
        // The canonical entry keeps whole seconds: a stored time inside the same second agrees, the next second does not.
        let sameSecond = try await f.copy("columns-same-second")
        try f.tamper(sameSecond) { db in try db.execute(sql: "UPDATE audit_entry SET time = 1795100000.1 WHERE idx = 40") }
        #expect(try f.verify(sameSecond).ok)
        let nextSecond = try await f.copy("columns-next-second")
        try f.tamper(nextSecond) { db in try db.execute(sql: "UPDATE audit_entry SET time = 1795100001.0 WHERE idx = 40") }
        #expect(try f.verify(nextSecond).failure?.column == "time")
        // A purpose removed, or a column holding something that is not text, is named too.
        let noPurpose = try await f.copy("columns-no-purpose")
        try f.tamper(noPurpose) { db in try db.execute(sql: "UPDATE audit_entry SET purpose = NULL WHERE idx = 40") }
        #expect(try f.verify(noPurpose).failure?.column == "purpose")
        let blob = try await f.copy("columns-blob")
        try f.tamper(blob) { db in try db.execute(sql: "UPDATE audit_entry SET actor = x'00ff' WHERE idx = 12") }
        let blobReport = try f.verify(blob)
        #expect(blobReport.failure?.index == 12 && blobReport.failure?.column == "actor", "\(blobReport.text)")
    }

    @Test func oneEntryDeletedIsNamed() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let gap = try await f.copy("gap")
        try f.tamper(gap) { db in try db.execute(sql: "DELETE FROM audit_entry WHERE idx = 52") }
        let report = try f.verify(gap)
        #expect(report.failure?.kind == .missingEntry && report.failure?.index == 52, "\(report.text)")

        // Closing the gap by renumbering breaks the hash chain at the same place.
        let renumbered = try await f.copy("renumbered")
        try f.tamper(renumbered) { db in
            try db.execute(sql: "DELETE FROM audit_entry WHERE idx = 52")
            try db.execute(sql: "UPDATE audit_entry SET idx = idx - 1 WHERE idx > 52")
        }
        let again = try f.verify(renumbered)
        #expect(again.failure?.kind == .chainHash && again.failure?.index == 52, "\(again.text)")
    }

    @Test func twoEntriesSwappedAreNamed() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let copy = try await f.copy("swap")
        // Whole rows change places: each entry still matches its own leaf hash.
        try f.tamper(copy) { db in
            let a = try row(db, 23), b = try row(db, 61)
            for (index, r) in [(Int64(23), b), (Int64(61), a)] {
                try db.execute(sql: "UPDATE audit_entry SET time = ?, actor = ?, action = ?, decision = ?, rule = ?, purpose = ?, entry = ?, leaf_hash = ?, chain_hash = ? WHERE idx = ?",
                               arguments: [r["time"], r["actor"], r["action"], r["decision"], r["rule"], r["purpose"], r["entry"], r["leaf_hash"], r["chain_hash"], index])
            }
        }
        let report = try f.verify(copy)
        #expect(report.failure?.kind == .chainHash && report.failure?.index == 23, "\(report.text)")
    }

    @Test func aTruncatedTailIsNamedEvenWhenTheTreeStateWasReset() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<95)
        let saved = try await f.sign(storing: false)  // the auditor's, at 95: the log kept none beyond 80
        try await f.grow(95..<100)
        let plain = try await f.copy("cut")
        try f.tamper(plain) { db in try db.execute(sql: "DELETE FROM audit_entry WHERE idx >= 90") }
        let report = try f.verify(plain)
        #expect(report.failure?.kind == .truncated && report.failure?.index == 90, "\(report.text)")

        // A forger who also resets the tree state leaves only the saved checkpoint to tell.
        let reset = try await f.copy("cut-reset")
        try f.tamper(reset) { db in
            try db.execute(sql: "DELETE FROM audit_entry WHERE idx >= 90")
            try db.execute(sql: "DELETE FROM audit_checkpoint WHERE size > 90")
            let tree = try MerkleTree(size: 90, nodes: SQLiteMerkleNodes(db: db))
            try db.execute(sql: "UPDATE audit_tree SET size = 90, frontier = ?", arguments: [Data(tree.frontier.joined())])
        }
        #expect(try f.verify(reset).ok, "without the saved checkpoint, a clean cut after the last stored checkpoint is invisible")
        let caught = try f.verify(reset, saved: .checkpoint(note: saved.note, label: "saved"))
        #expect(caught.failure?.kind == .truncated && caught.failure?.index == 90 && caught.failure?.rangeEnd == 95, "\(caught.text)")
    }

    @Test func aTailTruncatedAndRegrownDifferentlyIsCaughtAgainstASavedCheckpoint() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<70)
        let saved = try await f.sign()       // the auditor saves the checkpoint at 70...
        let export = try await f.export()    // ...and, on another day, an export of the same state
        try await f.grow(70..<100)
        let copy = try await f.copy("regrown")
        // The forger cuts the log at 41, removes what would betray the cut (nodes and checkpoints
        // over the removed entries), and lets the store append a different history.
        try f.tamper(copy) { db in
            try db.execute(sql: "DELETE FROM audit_entry WHERE idx >= 41")
            try db.execute(sql: "DELETE FROM audit_node WHERE (idx + 1) << level > 41")
            try db.execute(sql: "DELETE FROM audit_checkpoint WHERE size > 41")
            let tree = try MerkleTree(size: 41, nodes: SQLiteMerkleNodes(db: db))
            try db.execute(sql: "UPDATE audit_tree SET size = 41, frontier = ?", arguments: [Data(tree.frontier.joined())])
        }
        let forged = try SQLiteStore(path: copy)
        for i in 41..<110 { try await forged.appendAudit(AuditLogFixture.entry(i, actor: "school/100002")) }
        try await forged.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }

        // On its own the rewritten log is consistent: leaves, chain, nodes all check out.
        #expect(try f.verify(copy).ok)
        // Against the saved checkpoint it is not: the change lies after the last checkpoint
        // that still matches (32) and before the saved one (70).
        let report = try f.verify(copy, saved: .checkpoint(note: saved.note, label: "your saved checkpoint"))
        #expect(report.failure?.kind == .checkpointRoot, "\(report.text)")
        #expect(report.failure?.index == 32 && report.failure?.rangeEnd == 70, "\(report.text)")
        // An earlier export names the very first rewritten entry.
        let exact = try f.verify(copy, saved: .export(export, label: "the earlier export"))
        #expect(exact.failure?.kind == .reference && exact.failure?.index == 41, "\(exact.text)")
        #expect(exact.text.contains("first entry that does not verify: 41"))
    }

    @Test func aRegrownLogThatKeptItsOldCheckpointsBetraysItself() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<100)
        let copy = try await f.copy("regrown-careless")
        try f.tamper(copy) { db in
            try db.execute(sql: "DELETE FROM audit_entry WHERE idx >= 41")
            try db.execute(sql: "DELETE FROM audit_node WHERE (idx + 1) << level > 41")
            let tree = try MerkleTree(size: 41, nodes: SQLiteMerkleNodes(db: db))
            try db.execute(sql: "UPDATE audit_tree SET size = 41, frontier = ?", arguments: [Data(tree.frontier.joined())])
        }
        let forged = try SQLiteStore(path: copy)
        for i in 41..<100 { try await forged.appendAudit(AuditLogFixture.entry(i, actor: "school/100002")) }
        try await forged.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let report = try f.verify(copy)
        #expect(report.failure?.kind == .checkpointRoot && report.failure?.index == 32 && report.failure?.rangeEnd == 48, "\(report.text)")
    }

    @Test func aCheckpointSignedByAnotherKeyFails() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<40)
        let copy = try await f.copy("keys")
        let stranger = try NoteVerifierKey(name: f.origin, publicKey: Curve25519.Signing.PrivateKey().publicKey)
        let report = try f.verify(copy, pinned: [stranger])
        #expect(report.failure?.kind == .checkpointSignature, "\(report.text)")
        #expect(report.failure?.message.contains("not signed by the expected key") == true, "\(report.text)")

        // The log's own checkpoints are fine, but the one handed to the auditor was not ours.
        let other = try await f.sign(with: Curve25519.Signing.PrivateKey(), storing: false)
        let saved = try f.verify(copy, saved: .checkpoint(note: other.note, label: "your saved checkpoint"))
        #expect(saved.failure?.kind == .checkpointSignature && saved.failure?.message.contains("your saved checkpoint") == true, "\(saved.text)")
        // A checkpoint the log stored but another key signed fails too, even unpinned.
        let stored = try await f.copy("keys-stored")
        try f.tamper(stored) { db in
            let c = AuditCheckpoint(origin: f.origin, size: 32, rootHash: try row(db, 0)["leaf_hash"], time: Date())
            let note = try c.signedNote(signer: Curve25519.Signing.PrivateKey(), keyName: f.origin)
            try db.execute(sql: "INSERT INTO audit_checkpoint (size, root_hash, time, note, verifier_key) VALUES (32, ?, 0, ?, ?)",
                           arguments: [c.rootHash, note, f.verifier.description])
        }
        #expect(try f.verify(stored).failure?.kind == .checkpointSignature)
    }

    @Test func aDamagedMerkleNodeIsReportedBecauseProofsWouldFail() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<130)
        let copy = try await f.copy("node")
        try f.tamper(copy) { db in try db.execute(sql: "UPDATE audit_node SET hash = zeroblob(32) WHERE level = 6 AND idx = 1") }
        let report = try f.verify(copy)
        #expect(report.failure?.kind == .storedNode && report.failure?.index == 64 && report.failure?.rangeEnd == 128, "\(report.text)")
    }

    @Test func pruningRemovesOldContentOnlyBelowASignedCheckpointAndKeepsEveryProof() async throws {
        let f = try AuditLogFixture()
        try await f.grow(0..<200)  // checkpoints every 16: the last signed covers 192
        let before = try await f.store.auditEntries(from: 0, limit: 1000)
        let root = try await f.store.auditTreeHead().rootHash
        let cutoff = Date(timeIntervalSince1970: 1_795_000_000 + 195 * 60)  // entries 0..<195 are older
        let pruned = try await f.store.auditPrunedBelow()
        #expect(pruned == 0)
        let dry = try await f.store.pruneAudit(before: cutoff, batch: 50, dryRun: true) { _ in AuditLogFixture.entry(999) }
        #expect(dry.entries == 192 && dry.prunedBelow == 192, "only what a checkpoint covers: \(dry)")
        let stillNone = try await f.store.auditPrunedBelow()
        #expect(stillNone == 0, "a dry run changes nothing")
        let counts = try await f.store.pruneAudit(before: cutoff, batch: 50, dryRun: false) { c in
            AuditEntry(time: cutoff, actor: "gateway", action: "audit.pruned", policyVersion: "test", decision: .allow, rule: "audit-retention:P10Y",
                       counts: ["entries": c.entries], requestDigest: "audit-retention:test", detail: ["prunedBelow": String(c.prunedBelow)])
        }
        #expect(counts.entries == 192 && counts.prunedBelow == 192)
        let below = try await f.store.auditPrunedBelow()
        #expect(below == 192)
        let after = try await f.store.auditEntries(from: 0, limit: 1000)
        #expect(after.count == 201, "entries keep their place; the prune is the 201st")
        #expect(after.prefix(192).allSatisfy { $0.entry.isEmpty } && after[192..<200].allSatisfy { !$0.entry.isEmpty })
        #expect(zip(before, after).allSatisfy { $0.leafHash == $1.leafHash && $0.chainHash == $1.chainHash }, "hashes kept")
        // The content is gone from the file, the tree is intact and proofs still verify.
        let bytes = (FileManager.default.contents(atPath: f.path) ?? Data()) + (FileManager.default.contents(atPath: f.path + "-wal") ?? Data())
        #expect(bytes.range(of: Data(AuditLogFixture.marker(10).utf8)) == nil && bytes.range(of: Data(AuditLogFixture.marker(197).utf8)) != nil)
        let p = try await f.store.auditInclusionProof(index: 5, size: 200)
        #expect(p.rootHash == root && MerkleVerify.inclusion(leafHash: before[5].leafHash, index: 5, size: 200, proof: p.path, root: root))
        let c = try await f.store.auditConsistencyProof(from: 16, to: 201)
        #expect(MerkleVerify.consistency(oldSize: 16, newSize: 201, oldRoot: c.fromRoot, newRoot: c.toRoot, proof: c.path))
        // Nothing else may change an entry: not an unpruned one, not a pruned one's hashes.
        await #expect(throws: (any Error).self) {
            try await f.store.pool.write { db in try db.execute(sql: "UPDATE audit_entry SET entry = X'' WHERE idx = 195") }
        }
        await #expect(throws: (any Error).self) {
            try await f.store.pool.write { db in try db.execute(sql: "UPDATE audit_entry SET leaf_hash = zeroblob(32) WHERE idx = 3") }
        }
        await #expect(throws: (any Error).self) {
            try await f.store.pool.write { db in try db.execute(sql: "UPDATE audit_prune SET below = 10") }
        }
        // A second prune with nothing new to prune does nothing and logs nothing.
        let again = try await f.store.pruneAudit(before: cutoff, batch: 50, dryRun: false) { _ in AuditLogFixture.entry(998) }
        let total = try await f.store.auditCount()
        #expect(again.entries == 0 && total == 201)
    }
}
