import Foundation
import GRDB
import SightlineClient
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// The audit log's own retention (`RetentionService.pruneAudit`, policy `audit-retention`) on a
/// real gateway: the pruned entries' content is gone from the database file, and the real
/// `sightline audit verify` still verifies the whole log, with a checkpoint saved before the
/// prune, over the API, from a copy of the database and from an export. Proofs still verify.
@Suite("Audit log pruning", .serialized)
struct AuditPruningTests {
    static let binary = TestPartnership.repoRoot + "/.build/debug/sightline"

    static func submit(_ gw: RunningGateway, _ p: TestPartnership, count: Int) async throws {
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let client = try gw.client(school)
        defer { Task { try? await client.shutdown() } }
        for i in 0..<count {
            let r = try await client.request(.POST, "/v1/submissions", body: Data(SampleRecords.enrolment("PRUNE-\(UUID().uuidString.prefix(8))-\(i)").utf8))
            #expect(r.status == 201)
        }
    }

    static func json<T: Decodable>(_ type: T.Type, _ response: GatewayClient.Response) throws -> T {
        guard response.status == 200 else { throw TestFailure("HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))") }
        return try AuditWire.decoder.decode(T.self, from: response.body)
    }

    /// A copy of the gateway's database, as an auditor would be given: VACUUM INTO from a
    /// read-only connection, so the original is not touched.
    static func copyDatabase(_ p: TestPartnership, to name: String) throws -> String {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: p.config.databasePath, configuration: configuration)
        let copy = p.dir + "/" + name
        try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        try queue.close()
        return copy
    }

    /// A copy of the database where entry `index` lost its content behind the gateway's back,
    /// as the prune would have removed it (the append-only trigger dropped first).
    static func emptied(_ p: TestPartnership, _ index: Int64, name: String) throws -> String {
        let copy = try copyDatabase(p, to: name)
        let queue = try DatabaseQueue(path: copy)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_entry_no_update")
            try db.execute(sql: "UPDATE audit_entry SET entry = X'', actor = '', action = '', decision = '', rule = '', purpose = NULL WHERE idx = ?",
                           arguments: [index])
        }
        try queue.close()
        return copy
    }

    struct Pruned: Sendable {
        let below: Int64
        let beforeSize: Int64
        let firstDigest: String
    }

    @Test func aPrunedLogVerifiesOverTheAPIFromADatabaseCopyAndFromAnExport() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tool first: swift build")
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let pin = try p.pinnedVerifierKey()
        let saved = p.dir + "/saved-before-pruning.txt", export = p.dir + "/export.ndjson"

        let pruned = try await p.withGateway { gw -> Pruned in
            let online = ["--gateway", gw.baseURL, "--identity", auditor]
            try await Self.submit(gw, p, count: 4)
            let before = try await gw.state.checkpoints.current()
            try Data(before.note.utf8).write(to: URL(fileURLWithPath: saved))
            try await Self.submit(gw, p, count: 2)  // after the checkpoint: not signed yet, so kept
            let original = try await gw.state.store.auditEntries(from: 0, limit: 10_000)
            let sizeBefore = Int64(original.count)
            let firstSubmission = try #require(original.first { (try? AuditEntry.decode(canonical: $0.entry))?.action == "submission" })
            // The digest is also the submission's idempotency key, kept with it; in the entry's own JSON it follows its key.
            let firstDigest = "\"requestDigest\":\"\(try AuditEntry.decode(canonical: firstSubmission.entry).requestDigest)\""
            #expect(String(decoding: firstSubmission.entry, as: UTF8.self).contains(firstDigest))
            #expect(firstSubmission.index < before.size)

            // Eleven years on, every entry is past the policy's P10Y; only what a checkpoint covers goes.
            let later = Date().addingTimeInterval(11 * 365.25 * 86_400)
            let counts = try #require(try await RetentionService.pruneAudit(store: gw.state.store, policy: gw.state.policy, now: later, dryRun: false))
            let k = counts.prunedBelow
            #expect(k >= before.size && k <= sizeBefore && counts.entries == Int(k), "\(counts)")
            #expect(try await gw.state.store.auditPrunedBelow() == k)
            let after = try await gw.state.checkpoints.current()
            #expect(after.size > sizeBefore)

            // In the store: the prefix lost its content and kept its hashes; the prune is an entry.
            let stored = try await gw.state.store.auditEntries(from: 0, limit: 10_000)
            #expect(stored.prefix(Int(k)).allSatisfy { $0.entry.isEmpty } && stored[Int(k)..<Int(sizeBefore)].allSatisfy { !$0.entry.isEmpty })
            #expect(zip(original, stored).allSatisfy { $0.leafHash == $1.leafHash && $0.chainHash == $1.chainHash })
            let record = try #require(stored.compactMap { try? AuditEntry.decode(canonical: $0.entry) }.first { $0.action == AuditPruning.action })
            #expect(record.actor == "gateway" && record.rule == "audit-retention:P10Y" && record.detail["prunedBelow"] == "\(k)")

            // The API serves pruned entries with their leaf hashes, marked, with nothing decoded.
            let page = try Self.json(AuditWire.EntriesPage.self, try await gw.request(auditor, "GET", "/v1/audit/entries?from=0&limit=1000"))
            for e in page.entries.prefix(Int(k)) {
                #expect(e.pruned == true && e.canonical.isEmpty && e.entry == nil && e.leafHash == original[Int(e.index)].leafHash.hexString)
            }
            #expect(page.entries[Int(k)].pruned == nil && page.entries[Int(k)].entry?.objectValue?["actor"] != nil)
            // A filter on time selects pruned entries too, and answers; one on actor cannot find them.
            let since = try Self.json(AuditWire.EntriesPage.self, try await gw.request(auditor, "GET", "/v1/audit/entries?since=2000-01-01&limit=1000"))
            #expect(since.entries.prefix(Int(k)).allSatisfy { $0.pruned == true } && since.entries.count > Int(k))
            let byActor = try Self.json(AuditWire.EntriesPage.self, try await gw.request(auditor, "GET", "/v1/audit/entries?actor=school%2F100001&limit=1000"))
            #expect(!byActor.entries.isEmpty && byActor.entries.allSatisfy { $0.index >= k && $0.pruned == nil })

            // Proofs: an unpruned entry and a pruned one are in the new tree, which extends the saved one.
            for index in [k, 0] {
                let proof = try Self.json(AuditWire.InclusionProof.self,
                                          try await gw.request(auditor, "GET", "/v1/audit/proofs/inclusion?index=\(index)&size=\(after.size)"))
                #expect(proof.leafHash == original[Int(index)].leafHash.hexString && proof.rootHash == after.rootHash.hexString)
                #expect(MerkleVerify.inclusion(leafHash: original[Int(index)].leafHash, index: index, size: after.size,
                                               proof: proof.proof.compactMap { Data(hex: $0) }, root: after.rootHash), "entry \(index)")
            }
            let consistency = try Self.json(AuditWire.ConsistencyProof.self,
                                            try await gw.request(auditor, "GET", "/v1/audit/proofs/consistency?from=\(before.size)&to=\(after.size)"))
            #expect(MerkleVerify.consistency(oldSize: before.size, newSize: after.size, oldRoot: before.rootHash, newRoot: after.rootHash,
                                             proof: consistency.proof.compactMap { Data(hex: $0) }))

            // The real tool, over the API, with the checkpoint saved before the prune.
            let (vStatus, vOut) = try await runTool(Self.binary, ["audit", "verify"] + online + ["--verifier-key", pin, "--checkpoint", saved])
            #expect(vStatus == 0 && vOut.contains("audit log OK") && vOut.contains("extends the saved checkpoint: size \(before.size)"), "\(vOut)")
            #expect(vOut.contains("entries 0..<\(k): content pruned on \(Instant.format(later)) (audit-retention P10Y"), "\(vOut)")
            #expect(vOut.contains("their leaf hashes are bound by the checkpoints"), "\(vOut)")
            let (lStatus, lOut) = try await runTool(Self.binary, ["audit", "entries"] + online + ["--limit", "3"])
            #expect(lStatus == 0 && lOut.contains("0\t-\t-\t(content pruned)"), "\(lOut)")
            let (exStatus, exOut) = try await runTool(Self.binary, ["audit", "export"] + online + ["--out", export])
            #expect(exStatus == 0, "\(exOut)")
            return Pruned(below: k, beforeSize: before.size, firstDigest: firstDigest)
        }
        let k = pruned.below

        // The content is gone from the file itself (secure_delete), not only from the rows.
        let file = (FileManager.default.contents(atPath: p.config.databasePath) ?? Data())
            + (FileManager.default.contents(atPath: p.config.databasePath + "-wal") ?? Data())
        #expect(!file.isEmpty && file.range(of: Data(pruned.firstDigest.utf8)) == nil, "the first submission's entry is still in the file")
        let copy = try Self.copyDatabase(p, to: "copy.sqlite")
        let reader = try DatabaseQueue(path: copy)
        let left = try await reader.read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM audit_entry WHERE idx < ? AND (length(entry) > 0 OR actor != '' OR action != '' OR rule != ''
                  OR instr(CAST(entry AS TEXT), 'school/100001') > 0)
                """, arguments: [k])
        }
        try reader.close()
        #expect(left == 0)

        // Offline, on a copy of the real file, and from the export; both with the saved checkpoint.
        let (dbStatus, dbOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", pin, "--checkpoint", saved])
        #expect(dbStatus == 0 && dbOut.contains("audit log OK (database copy.sqlite)") && dbOut.contains("entries 0..<\(k): content pruned on"), "\(dbOut)")
        #expect(dbOut.contains("extends the saved checkpoint: size \(pruned.beforeSize)"), "\(dbOut)")
        let (jsonStatus, jsonOut) = try await runTool(Self.binary, ["audit", "verify", "--database", copy, "--verifier-key", pin, "--json"])
        let report = try AuditWire.decoder.decode(AuditVerificationReport.self, from: Data(jsonOut.utf8))
        #expect(jsonStatus == 0 && report.ok && report.pruned?.entries == k && report.pruned?.record.period == "P10Y", "\(jsonOut)")
        let (entriesStatus, entriesOut) = try await runTool(Self.binary, ["audit", "entries", "--database", copy, "--limit", "2"])
        #expect(entriesStatus == 0 && entriesOut.contains("1\t-\t-\t(content pruned)"), "\(entriesOut)")
        let exportText = try String(contentsOfFile: export, encoding: .utf8)
        #expect(exportText.contains("{\"canonical\":\"\",\"index\":0,") && exportText.contains("\"pruned\":true"), "\(exportText.prefix(600))")
        let (exStatus, exOut) = try await runTool(Self.binary, ["audit", "verify", "--export", export, "--verifier-key", pin, "--checkpoint", saved])
        #expect(exStatus == 0 && exOut.contains("audit log OK (export)") && exOut.contains("entries 0..<\(k): content pruned on"), "\(exOut)")

        // Content removed anywhere else fails, naming the entry: after the prefix...
        let middle = try Self.emptied(p, k + 1, name: "middle.sqlite")
        let (mStatus, mOut) = try await runTool(Self.binary, ["audit", "verify", "--database", middle, "--verifier-key", pin])
        #expect(mStatus == 1 && mOut.contains("first entry that does not verify: \(k + 1)") && mOut.contains("prunes the log only from its start"), "\(mOut)")
        // ... or right after it, beyond the boundary the prune entry names.
        let beyond = try Self.emptied(p, k, name: "beyond.sqlite")
        let (bStatus, bOut) = try await runTool(Self.binary, ["audit", "verify", "--database", beyond, "--verifier-key", pin])
        #expect(bStatus == 1 && bOut.contains("first entry that does not verify: \(k) (the change lies in entries \(k)..<\(k + 1))"), "\(bOut)")
    }
}
