import Foundation
import GRDB
import SightlineCore

extension SQLiteStore {
    public func findSubject(keys: [LinkageKey]) async throws -> SubjectMatch {
        try await pool.read { db in
            let find = try db.cachedStatement(sql: "SELECT subject_id FROM linkage_key WHERE digest = ?")
            let ambiguous = try db.cachedStatement(sql: "SELECT 1 FROM ambiguous_key WHERE digest = ?")
            for key in keys.sorted(by: { $0.basis.isStrong && !$1.basis.isStrong }) {
                if !key.basis.isStrong, try Bool.fetchOne(ambiguous, arguments: [key.digest]) == true { continue }
                if let subject = try Int64.fetchOne(find, arguments: [key.digest]) { return .found(subject: subject, basis: key.basis) }
            }
            return .notFound
        }
    }

    public func linkageCandidates(strongKeys: [Data], blockingKeys: [Data], nameTokens: [UInt64],
                                  open: @escaping @Sendable (Data) -> ComparisonMaterial?) async throws -> LinkageCandidates {
        try await pool.read { db in
            let raw = RawStatements(db)
            let found = try SubjectLinker.candidates(db, raw: raw, strongKeys: strongKeys, blockingKeys: blockingKeys, source: "",
                                                     kind: .schoolEnrolment, referenceKeys: [], rewrap: try activeRewrap(db), open: { open($1) })
            return LinkageCandidates(records: found.records, strongHits: found.strongHits,
                                     frequencies: try SubjectLinker.frequencies(raw, tokens: nameTokens))
        }
    }

    static let recordColumns = "subject_id, kind, source, observed_at, fields, birth_year_month, postcode_district, linked_by"

    static func subjectRecord(_ row: Row) -> SubjectRecord? { subjectRecord(row, decoder: JSONDecoder()) }

    /// `decoder`: one for many rows (a report's page), not one a row.
    static func subjectRecord(_ row: Row, decoder: JSONDecoder) -> SubjectRecord? {
        guard let kind = RecordKind(rawValue: row["kind"]) else { return nil }
        let fieldsText: String = row["fields"]
        let fields = (try? decoder.decode([String: JSONValue].self, from: Data(fieldsText.utf8))) ?? [:]
        return SubjectRecord(subjectID: row["subject_id"], kind: kind, source: row["source"],
                             observedAt: Date(timeIntervalSince1970: row["observed_at"]), fields: fields,
                             birthYearMonth: row["birth_year_month"], postcodeDistrict: row["postcode_district"], linkedBy: row["linked_by"])
    }

    public func records(ofSubject subject: Int64) async throws -> [SubjectRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns) FROM record WHERE subject_id = ? ORDER BY observed_at", arguments: [subject])
                .compactMap(Self.subjectRecord)
        }
    }

    public func reduceSubjectPages<T: Sendable>(ofKinds kinds: [RecordKind], subjectsPerPage: Int, into initial: T,
                                                _ update: @escaping @Sendable (inout T, [Int64: [SubjectRecord]]) throws -> Void) async throws -> T {
        try await pool.read { db in
            var result = initial
            guard !kinds.isEmpty, let last = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM subject") else { return result }
            let placeholders = kinds.map { _ in "?" }.joined(separator: ",")
            // record_kind_subject (kind, subject_id) answers each page with one range per kind.
            let statement = try db.cachedStatement(sql: "SELECT \(Self.recordColumns) FROM record WHERE kind IN (\(placeholders)) AND subject_id >= ? AND subject_id < ?")
            let step = Int64(max(1, subjectsPerPage))
            var low: Int64 = 0
            while low <= last {
                let high = low + step
                var page: [Int64: [SubjectRecord]] = [:]
                let decoder = JSONDecoder()
                let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(kinds.map(\.rawValue)) + [low, high])
                while let row = try cursor.next() {
                    if let r = Self.subjectRecord(row, decoder: decoder) { page[r.subjectID, default: []].append(r) }
                }
                if !page.isEmpty { try update(&result, page) }
                low = high
            }
            return result
        }
    }

    public func uncertainSubjects() async throws -> Set<Int64> {
        try await pool.read { db in
            var out = Set<Int64>()
            for row in try Row.fetchAll(db, sql: "SELECT subject_a, subject_b FROM subject_conflict") {
                out.insert(row["subject_a"]); out.insert(row["subject_b"])
            }
            // A pair waiting for the steward: either child may be the other.
            for row in try Row.fetchAll(db, sql: "SELECT subject_a, subject_b FROM review_pair WHERE status = 'pending'") {
                out.insert(row["subject_a"]); out.insert(row["subject_b"])
            }
            return out
        }
    }

    public func isUncertain(_ subject: Int64) async throws -> Bool {
        try await pool.read { db in
            // Each side by its own index: the primary keys lead with subject_a, and subject_b has an index of its own.
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM subject_conflict WHERE subject_a = ?1) OR EXISTS (SELECT 1 FROM subject_conflict WHERE subject_b = ?1)
                    OR EXISTS (SELECT 1 FROM review_pair WHERE subject_a = ?1 AND status = 'pending')
                    OR EXISTS (SELECT 1 FROM review_pair WHERE subject_b = ?1 AND status = 'pending')
                """, arguments: [subject]) ?? false
        }
    }

    public func recordIssuedPseudonyms(_ issued: [IssuedPseudonym]) async throws {
        guard !issued.isEmpty else { return }
        try await pool.write { db in
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO issued_pseudonym (pseudonym, recipient, subject_id, origin_subject) VALUES (?, ?, ?, ?)")
            for i in issued { try insert.execute(arguments: [i.pseudonym, i.recipient, i.subject, i.subject]) }
        }
    }

    public func resolvePseudonym(_ pseudonym: String) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT subject_id FROM issued_pseudonym WHERE pseudonym = ? LIMIT 1", arguments: [pseudonym])
        }
    }

    public func linkExplanation(ofSubject subject: Int64) async throws -> [LinkedRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, source, observed_at, linked_by, sealed_ref FROM record WHERE subject_id = ? ORDER BY observed_at, id",
                             arguments: [subject]).map {
                LinkedRecord(kind: $0["kind"], source: $0["source"], observedAt: Date(timeIntervalSince1970: $0["observed_at"]),
                             linkedBy: $0["linked_by"] ?? "", sealedReference: $0["sealed_ref"])
            }
        }
    }

    public func resolvePseudonym(_ pseudonym: String, recipient: String) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT subject_id FROM issued_pseudonym WHERE pseudonym = ? AND recipient = ?", arguments: [pseudonym, recipient])
        }
    }
}
