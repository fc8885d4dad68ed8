import Foundation
import GRDB
import SightlineClient
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Linkage measured against the generator's ground truth: every pair of stored records that
/// belong to one child should share a subject (recall), and no pair of different children should
/// (precision). The figures are printed; a regression below the floor fails.
@Suite("Linkage against ground truth", .serialized)
struct LinkageQualityTests {
    static let precisionFloor = 0.999
    static let recallFloor = 0.98

    @Test func sampleDataLinksWithHighPrecisionAndRecall() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        var identities: [ParticipantIdentity: String] = [:]
        for (who, _, _, _) in PrivacyTests.submissions where identities[who] == nil { identities[who] = try p.identity(who) }
        let ids = identities
        let (precision, recall, stats) = try await p.withGateway { gw in
            for (who, kind, file, mapping) in PrivacyTests.submissions {
                let client = try gw.client(ids[who]!)
                let prepared = try Submitter.prepare(file: PrivacyTests.sampleData + "/" + file, format: mapping == nil ? "ndjson" : "csv", kind: kind,
                                                     mapping: try mapping.map { try ColumnMapping.load(path: PrivacyTests.mappings + "/" + $0) },
                                                     observedAt: "2026-11-20T09:00:00Z")
                _ = await Submitter(client: client).send(file: file, kind: kind, prepared: prepared)
                try await client.shutdown()
            }
            return try await Self.measure(gw, sources: Dictionary(uniqueKeysWithValues: PrivacyTests.submissions.map { ($0.2, ($0.0, $0.1)) }))
        }
        print("linkage on sample data: precision \(String(format: "%.4f", precision)), recall \(String(format: "%.4f", recall)); \(stats)")
        #expect(precision >= Self.precisionFloor)
        #expect(recall >= Self.recallFloor)
    }

    static func measure(_ gw: RunningGateway, sources: [String: (ParticipantIdentity, RecordKind)]) async throws -> (Double, Double, String) {
        let store = try #require(gw.state.store as? SQLiteStore)
        let truth = try CSVTable(text: String(contentsOfFile: PrivacyTests.sampleData + "/ground-truth.csv", encoding: .utf8))
        let lookups: [(String, RecordKind, Data, String)] = truth.rows.compactMap { row in
            guard let (who, kind) = sources[row.cells[0]] else { return nil }
            return (who.shortName, kind, gw.state.pseudonymiser.referenceKey(source: who, localRef: row.cells[1]), row.cells[2])
        }
        let (assigned, missing) = try await store.pool.read { db in
            var assigned: [(child: String, subject: Int64)] = []
            var missing = 0
            let stmt = try db.makeStatement(sql: "SELECT subject_id FROM record WHERE source = ? AND kind = ? AND reference_key = ?")
            for (source, kind, ref, child) in lookups {
                if let s = try Int64.fetchOne(stmt, arguments: [source, kind.rawValue, ref]) { assigned.append((child, s)) } else { missing += 1 }
            }
            return (assigned, missing)
        }
        func pairs(_ groups: [[Int]]) -> Int { groups.reduce(0) { $0 + $1.count * ($1.count - 1) / 2 } }
        let bySubject = Dictionary(grouping: assigned.indices, by: { assigned[$0].subject }).map(\.value)
        let byChild = Dictionary(grouping: assigned.indices, by: { assigned[$0].child }).map(\.value)
        let both = Dictionary(grouping: assigned.indices, by: { "\(assigned[$0].child)|\(assigned[$0].subject)" }).map(\.value)
        let predicted = pairs(bySubject), actual = pairs(byChild), correct = pairs(both)
        let stats = "\(assigned.count) stored records of \(Set(assigned.map(\.child)).count) children in \(Set(assigned.map(\.subject)).count) subjects; \(missing) rejected; pairs predicted \(predicted), true \(actual), correct \(correct)"
        return (predicted == 0 ? 1 : Double(correct) / Double(predicted), actual == 0 ? 1 : Double(correct) / Double(actual), stats)
    }
}
