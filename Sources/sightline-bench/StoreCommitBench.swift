import Foundation
import SightlineCore
import SightlineStore

/// Figure 9: the submission commit alone, in process: the agencies' files planned as the gateway
/// plans a body (IngestPlan.make: validation, policy, pseudonymisation, sealing; untimed), then
/// committed into a fresh SQLiteStore one submission of 2,000 records at a time, the agencies'
/// batches taken in turn as if they arrived together. Only the commits are timed: the store's
/// transaction with the linker, the upsert, the audit entry and the receipt. No network, no
/// TLS, no other thread competing, so it moves less from run to run than figure 2 and shows what
/// the single writer can do. Baseline: the same number of rows inserted in one transaction.
enum StoreCommitBench {
    static func run(files: [PreparedFile], policy: Policy, work: String, batchSize: Int, repetitions: Int, table: ResultsTable) async throws {
        section("9. the submission commit alone, in process (\(batchSize) records a submission, the agencies in turn)")
        let keys = KeyMaterial.generate()
        let sealer = Sealer(keys: keys)
        let pseudonymiser = Pseudonymiser(keys: keys)
        let linkage = LinkageContext(matcher: SubjectMatcher(model: policy.linkage), openMaterial: { sealed in
            (try? sealer.open(sealed)).flatMap { ComparisonMaterial(encoded: $0) }
        })
        // NDJSON bodies of `batchSize` records per file, as the Submitter sends them, then interleaved: one of each agency's in turn.
        var perFile: [[(body: Data, source: ParticipantIdentity)]] = []
        for f in files {
            var bodies: [(Data, ParticipantIdentity)] = []
            var body = Data(), n = 0
            for r in f.prepared.records {
                body.append(r.json); body.append(UInt8(ascii: "\n")); n += 1
                if n == batchSize { bodies.append((body, f.file.participant)); body = Data(); n = 0 }
            }
            if n > 0 { bodies.append((body, f.file.participant)) }
            perFile.append(bodies)
        }
        var order: [(body: Data, source: ParticipantIdentity)] = []
        for i in 0..<(perFile.map(\.count).max() ?? 0) { for bodies in perFile where i < bodies.count { order.append(bodies[i]) } }

        let path = work + "/figure9.sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let store = try SQLiteStore(path: path)
        var committed = 0, seconds = 0.0
        var perCommit: [Double] = []
        // Linkage work at each submission's end, to compare the candidates per record early and late.
        var linked: [LinkageWork] = [store.linkageWork()]
        let limits = SubmissionBody.Limits(maxRecords: batchSize * 2)
        for (i, (body, source)) in order.enumerated() {
            let now = Date()
            let context = IngestPlan.Context(policy: policy, pseudonymiser: pseudonymiser, sealer: sealer, source: source, now: now, limits: limits)
            let plan = try IngestPlan.make(body: body, context)
            let id = "sub_bench_\(i)"
            let commit = SubmissionCommit(
                id: id, participant: source.shortName, idempotencyKey: "bench-\(i)", bodyDigest: "bench-\(i)", receivedAt: now,
                records: plan.kept, linkage: linkage,
                buildAudit: { outcomes in
                    AuditEntry(time: now, actor: source.shortName, action: "submit", policyVersion: policy.version, decision: .allow,
                               rule: plan.primaryRule, counts: ["accepted": outcomes.count], subjects: outcomes.map(\.subjectID),
                               requestDigest: "bench:\(i)")
                },
                buildReceipt: { _, index in Data("{\"auditIndex\":\(index)}".utf8) })
            let start = ContinuousClock.now
            _ = try await store.commit(commit)
            let took = RetentionBench.seconds(ContinuousClock.now - start)
            seconds += took
            perCommit.append(took / Double(max(1, plan.kept.count)))
            linked.append(store.linkageWork())
            committed += plan.kept.count
        }
        let counts = try await store.counts()
        print("committed \(committed) records in \(order.count) submissions, \(String(format: "%.1f", seconds)) s of commits; \(counts.subjects) subjects")
        var bulk: [Double] = []
        for _ in 0..<repetitions { bulk.append(try SQLiteBaselines.bulkInsert(rows: committed, path: work + "/figure9-baseline.sqlite")) }
        let perSecond = Double(committed) / seconds, base = Double(committed) / median(bulk)
        table.add("9", "submission commit in process, \(batchSize) a submission (\(formatNumber(Double(committed))) records, \(formatNumber(Double(counts.subjects))) subjects)",
                  rate(perSecond, "records/s"), baseline: "bare SQLite insert, same rows, one transaction (median of \(repetitions))", rate(base, "rows/s"),
                  ratio: perSecond / base)
        let sorted = perCommit.sorted()
        let firstTenth = perCommit.prefix(max(1, perCommit.count / 10)).reduce(0, +) / Double(max(1, perCommit.count / 10))
        let lastTenth = perCommit.suffix(max(1, perCommit.count / 10)).reduce(0, +) / Double(max(1, perCommit.count / 10))
        table.add("9", "commit time per record: median; first tenth of submissions; last tenth",
                  String(format: "%.0f µs; %.0f µs; %.0f µs", sorted[sorted.count / 2] * 1e6, firstTenth * 1e6, lastTenth * 1e6))
        let tenth = max(1, perCommit.count / 10)
        func perRecord(_ w: LinkageWork) -> String {
            let n = Double(max(1, w.records))
            return String(format: "%.2f subjects, %.2f records", Double(w.candidateSubjects) / n, Double(w.candidateRecords) / n)
        }
        table.add("9", "candidates compared per record linked: first tenth of submissions; last tenth",
                  perRecord(linked[tenth] - linked[0]) + "; " + perRecord(linked[linked.count - 1] - linked[linked.count - 1 - tenth]))
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
            try? FileManager.default.removeItem(atPath: work + "/figure9-baseline.sqlite" + suffix)
        }
    }
}
