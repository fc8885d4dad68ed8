import Foundation
import GRDB
import SightlineCore

extension SQLiteStore {
    /// Comparison vectors for estimating the linkage model (`sightline-gateway linkage estimate`):
    /// pairs of records from different sources that blocking brings together (the records of one
    /// subject, and of two subjects sharing a blocking key), and pairs of records drawn at random.
    /// Bounded: at most `maxSubjectPairs` subject pairs, four records a subject, `randomPairs` pairs.
    public func linkageTrainingPairs(matcher: SubjectMatcher, open: @escaping @Sendable (Data) -> ComparisonMaterial?,
                                     maxSubjectPairs: Int = 50_000, randomPairs: Int = 20_000) async throws
        -> (blocked: [LinkageEstimator.Vector], random: [LinkageEstimator.Vector]) {
        try await pool.read { db in
            // Subject pairs sharing a blocking key; blocking keys are keyed digests, so their order is a fair sample.
            var pairs = Set<[Int64]>()
            var group: [Int64] = []
            var groupDigest: Data? = nil
            func close() {
                guard group.count >= 2, group.count <= SubjectLinker.maxSubjectsPerBlockingKey else { return }
                for i in group.indices { for j in group.indices where j > i { pairs.insert([group[i], group[j]]) } }
            }
            let keys = try Row.fetchCursor(db, sql: "SELECT digest, subject_id FROM blocking_key ORDER BY digest")
            while let row = try keys.next(), pairs.count < maxSubjectPairs {
                let digest: Data = row["digest"]
                if digest != groupDigest { close(); group = []; groupDigest = digest }
                // A key shared by more subjects than linkage reads is skipped there, and here.
                if group.count <= SubjectLinker.maxSubjectsPerBlockingKey { group.append(row["subject_id"]) }
            }
            close()
            var subjects = Set(pairs.flatMap { $0 })
            // And subjects on their own: the pairs the current model linked.
            for s in try Int64.fetchAll(db, sql: "SELECT DISTINCT subject_id FROM record ORDER BY random() LIMIT ?", arguments: [maxSubjectPairs]) {
                subjects.insert(s); pairs.insert([s, s])
            }
            let read = try db.cachedStatement(sql: """
                SELECT source, material FROM record WHERE subject_id = ? AND material IS NOT NULL
                GROUP BY source, kind ORDER BY observed_at DESC LIMIT 4
                """)
            var records: [Int64: [(source: String, material: ComparisonMaterial)]] = [:]
            for s in subjects {
                records[s] = try Row.fetchAll(read, arguments: [s]).compactMap { row in
                    open(row["material"]).map { (source: row["source"] as String, material: $0) }
                }
            }
            var blocked: [LinkageEstimator.Vector] = []
            for pair in pairs {
                let a = records[pair[0]] ?? [], b = records[pair[1]] ?? []
                for (i, x) in a.enumerated() {
                    for (j, y) in b.enumerated() where x.source != y.source && (pair[0] != pair[1] || j > i) {
                        blocked.append(matcher.compare(x.material, y.material).levels)
                    }
                }
            }
            var random: [LinkageEstimator.Vector] = []
            let sample = try Row.fetchAll(db, sql: "SELECT source, material FROM record WHERE material IS NOT NULL ORDER BY random() LIMIT ?",
                                          arguments: [randomPairs * 2])
            var k = 0
            while k + 1 < sample.count {
                let x: String = sample[k]["source"], y: String = sample[k + 1]["source"]
                if x != y, let a = open(sample[k]["material"]), let b = open(sample[k + 1]["material"]) {
                    random.append(matcher.compare(a, b).levels)
                }
                k += 2
            }
            return (blocked, random)
        }
    }
}
