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
    static let recallFloor = 0.99
    /// The generator's output to measure: the committed sample unless SIGHTLINE_LINKAGE_DATA names
    /// a larger run of `ops/sample-data/generate.py --children N --out DIR` (ops/linkage/README.md).
    static let data = ProcessInfo.processInfo.environment["SIGHTLINE_LINKAGE_DATA"] ?? PrivacyTests.sampleData

    @Test func sampleDataLinksWithHighPrecisionAndRecall() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        var identities: [ParticipantIdentity: String] = [:]
        for (who, _, _, _) in PrivacyTests.submissions where identities[who] == nil { identities[who] = try p.identity(who) }
        let ids = identities
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let (precision, recall, stats, report) = try await p.withGateway { gw in
            for (who, kind, file, mapping) in PrivacyTests.submissions {
                let client = try gw.client(ids[who]!)
                let prepared = try Submitter.prepare(file: Self.data + "/" + file, format: mapping == nil ? "ndjson" : "csv", kind: kind,
                                                     mapping: try mapping.map { try ColumnMapping.load(path: PrivacyTests.mappings + "/" + $0) },
                                                     observedAt: "2026-11-20T09:00:00Z")
                _ = await Submitter(client: client).send(file: file, kind: kind, prepared: prepared)
                try await client.shutdown()
            }
            let sources = Dictionary(uniqueKeysWithValues: PrivacyTests.submissions.map { ($0.2, ($0.0, $0.1)) })
            let (precision, recall, stats) = try await Self.measure(gw, sources: sources)
            return (precision, recall, stats, try await Self.missingEducation(gw, cme, sources: sources))
        }
        print("linkage on sample data: precision \(String(format: "%.4f", precision)), recall \(String(format: "%.4f", recall)); \(stats)")
        #expect(precision >= Self.precisionFloor)
        #expect(recall >= Self.recallFloor)
        print("missing-education report on sample data: precision \(String(format: "%.4f", report.precision)), recall \(String(format: "%.4f", report.recall)); \(report.stats)")
        #expect(report.precision >= 0.99, "children listed who are on a roll")
        #expect(report.recall >= 0.99, "children missed")
    }

    /// The report's rows, each resolved to the generator's child (by the majority of its subject's
    /// records), against ops/sample-data/expected-missing-education.csv.
    static func missingEducation(_ gw: RunningGateway, _ cme: String, sources: [String: (ParticipantIdentity, RecordKind)]) async throws
        -> (precision: Double, recall: Double, stats: String) {
        let r = try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme")
        guard r.status == 200, case .object(let body) = try JSONDecoder().decode(JSONValue.self, from: r.body),
              case .array(let rows)? = body["rows"] else { throw TestFailure("report answered \(r.status)") }
        let store = try #require(gw.state.store as? SQLiteStore)
        let truth = try CSVTable(text: String(contentsOfFile: Self.data + "/ground-truth.csv", encoding: .utf8))
        var childOf: [Data: String] = [:]
        for row in truth.rows {
            guard let (who, _) = sources[row.cells[0]] else { continue }
            childOf[gw.state.pseudonymiser.referenceKey(source: who, localRef: row.cells[1])] = row.cells[2]
        }
        var listed = Set<String>()
        var listedSubject: [String: Int64] = [:]
        for row in rows {
            guard let p = row.objectValue?["pseudonym"]?.stringValue,
                  let subject = try await store.resolvePseudonym(p, recipient: "partner/304-cme") else { continue }
            let refs = try await store.pool.read { db in try Data.fetchAll(db, sql: "SELECT reference_key FROM record WHERE subject_id = ?", arguments: [subject]) }
            let children = Dictionary(grouping: refs.compactMap { childOf[$0] }, by: { $0 }).mapValues(\.count)
            if let child = children.max(by: { $0.value < $1.value })?.key { listed.insert(child); listedSubject[child] = subject }
        }
        let expected = Set(try CSVTable(text: String(contentsOfFile: Self.data + "/expected-missing-education.csv", encoding: .utf8))
            .rows.map { $0.cells[0] })
        let right = listed.intersection(expected).count
        if ProcessInfo.processInfo.environment["LINKAGE_DEBUG"] != nil {
            // For each false alarm: every subject holding one of the child's records, and whose records each holds.
            let wrong = listed.subtracting(expected)
            let rows = try await store.pool.read { db in
                try Row.fetchAll(db, sql: "SELECT subject_id, kind, source, reference_key, linked_by FROM record").map {
                    (subject: $0["subject_id"] as Int64, what: "\($0["kind"] as String)@\($0["source"] as String) [\($0["linked_by"] as String)]", ref: $0["reference_key"] as Data)
                }
            }
            let bySubject = Dictionary(grouping: rows, by: \.subject)
            for child in wrong.sorted() {
                let subjects = Set(rows.filter { childOf[$0.ref] == child }.map(\.subject))
                print("false alarm \(child) (listed as subject \(listedSubject[child] ?? -1)):")
                for s in subjects.sorted() {
                    print("   subject \(s): " + (bySubject[s] ?? []).filter { !$0.what.hasPrefix("school.attendance") }
                        .map { "\($0.what) of \(childOf[$0.ref] ?? "?")" }.joined(separator: "; "))
                }
            }
            print("listed but on a roll: \(listed.subtracting(expected).sorted().joined(separator: " "))")
            print("missed: \(expected.subtracting(listed).sorted().joined(separator: " "))")
        }
        let stats = "\(rows.count) rows, \(listed.count) children listed, \(expected.count) expected, \(right) right; listed but on a roll: \(listed.subtracting(expected).sorted().prefix(8)), missed: \(expected.subtracting(listed).sorted().prefix(8))"
        return (listed.isEmpty ? 0 : Double(right) / Double(listed.count), expected.isEmpty ? 1 : Double(right) / Double(expected.count), stats)
    }

    static func measure(_ gw: RunningGateway, sources: [String: (ParticipantIdentity, RecordKind)]) async throws -> (Double, Double, String) {
        let store = try #require(gw.state.store as? SQLiteStore)
        let truth = try CSVTable(text: String(contentsOfFile: Self.data + "/ground-truth.csv", encoding: .utf8))
        let lookups: [(String, RecordKind, Data, String, String)] = truth.rows.compactMap { row in
            guard let (who, kind) = sources[row.cells[0]] else { return nil }
            return (who.shortName, kind, gw.state.pseudonymiser.referenceKey(source: who, localRef: row.cells[1]), row.cells[2],
                    row.cells[0] + "|" + row.cells[1])
        }
        let (assigned, missing) = try await store.pool.read { db in
            var assigned: [(child: String, subject: Int64, row: String)] = []
            var missing = 0
            let stmt = try db.makeStatement(sql: "SELECT subject_id FROM record WHERE source = ? AND kind = ? AND reference_key = ?")
            for (source, kind, ref, child, row) in lookups {
                if let s = try Int64.fetchOne(stmt, arguments: [source, kind.rawValue, ref]) { assigned.append((child, s, row)) } else { missing += 1 }
            }
            return (assigned, missing)
        }
        // What the records that did not join their child's main subject have in common: faults.csv kinds.
        let faults = try CSVTable(text: String(contentsOfFile: Self.data + "/faults.csv", encoding: .utf8))
        var faultsByRow: [String: [String]] = [:]
        for row in faults.rows { faultsByRow[row.cells[0] + "|" + row.cells[2], default: []].append(row.cells[4]) }
        var strays: [String: Int] = [:]
        for (_, indices) in Dictionary(grouping: assigned.indices, by: { assigned[$0].child }) {
            let counts = Dictionary(grouping: indices, by: { assigned[$0].subject }).mapValues(\.count)
            guard counts.count > 1, let main = counts.max(by: { $0.value < $1.value })?.key else { continue }
            for i in indices where assigned[i].subject != main {
                strays[(faultsByRow[assigned[i].row] ?? ["no-fault"]).sorted().joined(separator: "+"), default: 0] += 1
                if ProcessInfo.processInfo.environment["LINKAGE_DEBUG"] != nil {
                    let others = indices.filter { assigned[$0].subject == main }.map { assigned[$0].row.split(separator: "|")[0] }
                    print("stray \(assigned[i].row) (\(faultsByRow[assigned[i].row] ?? [])) apart from \(Set(others).sorted())")
                }
            }
        }
        print("linkage: records apart from their child's main subject, by fault: " +
              strays.sorted { $0.value > $1.value }.prefix(12).map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        func pairs(_ groups: [[Int]]) -> Int { groups.reduce(0) { $0 + $1.count * ($1.count - 1) / 2 } }
        let bySubject = Dictionary(grouping: assigned.indices, by: { assigned[$0].subject }).map(\.value)
        let byChild = Dictionary(grouping: assigned.indices, by: { assigned[$0].child }).map(\.value)
        let both = Dictionary(grouping: assigned.indices, by: { "\(assigned[$0].child)|\(assigned[$0].subject)" }).map(\.value)
        let predicted = pairs(bySubject), actual = pairs(byChild), correct = pairs(both)
        let pending = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM review_pair WHERE status = 'pending'") ?? 0 }
        let stats = "\(assigned.count) stored records of \(Set(assigned.map(\.child)).count) children in \(Set(assigned.map(\.subject)).count) subjects; \(missing) rejected; pairs predicted \(predicted), true \(actual), correct \(correct); \(pending) pairs waiting for the steward"
        return (predicted == 0 ? 1 : Double(correct) / Double(predicted), actual == 0 ? 1 : Double(correct) / Double(actual), stats)
    }
}
