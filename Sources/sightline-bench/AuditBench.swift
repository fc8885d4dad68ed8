import Crypto
import Foundation
import SightlineCore
import SightlineStore

/// Figure 5: the audit log through the store's own API. Appends go one entry per transaction
/// through `SQLiteStore.appendAudit`, as the gateway appends for each match, report and refusal
/// (a submission's entry rides in the submission's transaction), with a checkpoint signed every
/// 1,000 entries as the gateway's default config does. Verification is `verifyAuditLog`, what
/// `sightline audit verify --database` runs. Baseline: bare SHA-256 over the same entry bytes.
enum AuditBench {
    static let origin = "brent.sightline/sightline/audit"

    static func run(entries count: Int, directory: String, policyVersion: String, repetitions: Int, table: ResultsTable) async throws {
        section("5. audit append and full verification at \(formatNumber(Double(count))) entries")
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/audit.sqlite"
        let store = try SQLiteStore(path: path)
        let signingKey = Curve25519.Signing.PrivateKey()
        let verifier = try NoteVerifierKey(name: origin, publicKey: signingKey.publicKey)

        func sign() async throws {
            let head = try await store.auditTreeHead()
            let checkpoint = AuditCheckpoint(origin: origin, size: head.size, rootHash: head.rootHash, time: Date())
            let note = try checkpoint.signedNote(signer: signingKey, keyName: origin)
            try await store.saveCheckpoint(StoredCheckpoint(size: checkpoint.size, rootHash: checkpoint.rootHash, time: checkpoint.time,
                                                            note: note, verifierKey: verifier.description))
        }

        let chunk = max(count / 10, 1)
        var chunkRates: [Double] = []
        let clock = ContinuousClock()
        var chunkStart = clock.now
        let appendSeconds = try await timed {
            for i in 0..<count {
                try await store.appendAudit(entry(i, policyVersion: policyVersion))
                if (i + 1) % 1000 == 0 { try await sign() }
                if (i + 1) % chunk == 0 {
                    let now = clock.now
                    chunkRates.append(Double(chunk) / (now - chunkStart).seconds)
                    chunkStart = now
                    print("  appended \(i + 1) (\(formatNumber(chunkRates.last!)) entries/s over the last \(chunk))")
                }
            }
            try await sign()
        }
        let size = (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0

        // The bytes the log hashes, read once, for the baseline.
        var bytes: [Data] = []
        bytes.reserveCapacity(count)
        try store.forEachAuditEntry { e in bytes.append(e.entry); return true }
        let totalBytes = bytes.reduce(0) { $0 + $1.count }
        print("entries: \(bytes.count), \(formatNumber(Double(totalBytes) / Double(max(bytes.count, 1)))) bytes each on average; database \(formatNumber(Double(size) / 1_048_576)) MiB")

        var verify: [Double] = [], bare: [Double] = []
        var sink = 0
        for i in 0..<repetitions {
            var report: AuditVerificationReport?
            verify.append(timed { report = store.verifyAuditLog(pinned: [verifier]) })
            guard let report, report.ok, report.entries == Int64(count) else {
                throw BenchError("the audit log did not verify: \(report?.text ?? "no report")")
            }
            bare.append(timed {
                for b in bytes {
                    var h = SHA256()
                    h.update(data: [0])
                    h.update(data: b)
                    sink &+= h.finalize().withUnsafeBytes { Int($0[0]) }
                }
            })
            print(String(format: "  run %d: verifyAuditLog %.2f s (%d checkpoints), bare SHA-256 %.3f s", i + 1, verify[i], report.checkpointsVerified, bare[i]))
        }
        let n = Double(count)
        let bareRate = n / median(bare)
        let bareLabel = "bare SHA-256 of the same \(formatNumber(Double(totalBytes) / 1_048_576)) MiB (one hash per entry)"
        table.add("5", "audit append, appendAudit one per transaction (\(formatNumber(n)) entries)", rate(n / appendSeconds, "entries/s"),
                  baseline: bareLabel, rate(bareRate, "entries/s"), ratio: (n / appendSeconds) / bareRate)
        // Each append is a transaction with an fsync, so the disk's commit rate is the other floor;
        // measured here, next to the appends, since the machine's load drifts.
        let commits = min(count, 20_000)
        let (commitWall, _) = try SQLiteBaselines.singleRowCommits(commits, path: directory + "/baseline-commits.sqlite")
        table.add("5", "audit append (as above)", rate(n / appendSeconds, "entries/s"),
                  baseline: "bare SQLite one-row commits, WAL + synchronous FULL (\(formatNumber(Double(commits))))",
                  rate(Double(commits) / commitWall, "commits/s"), ratio: (n / appendSeconds) / (Double(commits) / commitWall))
        table.add("5", "full verification, verifyAuditLog (median of \(repetitions))", rate(n / median(verify), "entries/s"),
                  baseline: bareLabel, rate(bareRate, "entries/s"), ratio: median(bare) / median(verify))
        if let first = chunkRates.first, let last = chunkRates.last {
            table.note("audit append rate over the first and last tenth of the \(formatNumber(n)) entries: \(formatNumber(first)) and \(formatNumber(last)) entries/s; database \(formatNumber(Double(size) / 1_048_576)) MiB")
        }
        if sink == 42 { print("") }
    }

    /// Entries shaped like the gateway's: three in four are per-request entries (a match naming one
    /// subject), one in four a submission entry of a 100-record daily feed naming its 100 subjects.
    static func entry(_ i: Int, policyVersion: String) -> AuditEntry {
        let actors = ["school/100001", "school/100002", "school/100003", "nhs/Y12345", "housing/brent", "police/MPS", "la/304"]
        let time = Date(timeIntervalSince1970: 1_790_000_000 + Double(i))
        let digest = String(format: "%016llx", UInt64(i) &* 0x9E37_79B9_7F4A_7C15) + String(repeating: "0f1e2d3c", count: 6)
        if i % 4 == 3 {
            return AuditEntry(time: time, actor: "partner/304-cme", action: "match", purpose: "cme", policyVersion: policyVersion,
                              decision: .allow, rule: "purpose:cme", subjects: [Int64(i % 90_000)], requestDigest: digest,
                              detail: ["linkedBy": "nhs"])
        }
        let subjects = (0..<100).map { Int64((i * 7 + $0 * 997) % 100_000) }.sorted()
        return AuditEntry(
            time: time, actor: actors[i % actors.count], action: "submission", policyVersion: policyVersion, decision: .allow,
            rule: "school-enrolment-from-schools",
            counts: ["records": 101, "accepted": 100, "rejected": 1, "created": 90, "updated": 10, "subjects": 100, "merges": 1, "conflicts": 0],
            subjects: subjects, requestDigest: digest,
            detail: ["submission": "sub_\(digest.prefix(32))", "rules": "minimise-at-ingress:school.enrolment=100,school-enrolment-from-schools=100",
                     "dropped": "school.enrolment:freeSchoolMeals", "linkedBy": "name-dob=2,new=8,upn=90",
                     "merges": "\(i)->\(i + 1) via upn", "conflicts": "", "rejections": "fields.onRollFrom=1"])
    }
}
