import Foundation
import GRDB
import SightlineCore

/// Applies the core matcher's decisions inside the submission's transaction: finds candidates
/// (strong keys, then keyed blocking keys), hands them to `SubjectMatcher`, and writes what it
/// decided. No rule of linkage lives here; the store only finds and applies.
final class SubjectLinker {
    let db: Database
    let time: Double
    let linkage: LinkageContext
    /// Opened material of the records this transaction has seen, by record id: the records of one
    /// child arrive together (an enrolment and its attendance), so each is opened once a commit.
    /// Bounded: a submission whose records reach many different candidates starts it afresh.
    private var opened: [Int64: ComparisonMaterial] = [:]
    static let maxOpenedPerCommit = 20_000
    /// Name counts of the records created so far, written once at the end (`flush`).
    private var pendingNames: [UInt64: Int] = [:]
    /// What this transaction compared: records linked, candidate subjects and records.
    private(set) var work = LinkageWork()

    /// During a link key migration: how a subject still in the previous form is brought up to date.
    let rewrap: LinkRewrap?
    /// The link key generation of the records being linked (checked against the store's).
    let generation: Int

    /// The hot statements, prepared once for the writer connection (RawStatements.swift).
    let raw: RawStatements

    init(db: Database, time: Double, linkage: LinkageContext, rewrap: LinkRewrap? = nil, generation: Int = 0, raw: RawStatements) {
        self.db = db; self.time = time; self.linkage = linkage; self.rewrap = rewrap; self.generation = generation; self.raw = raw
    }

    /// A blocking key shared by more subjects than this says nothing (a common name on a common
    /// date): it is skipped, so that the work per record does not grow with the population.
    static let maxSubjectsPerBlockingKey = 64
    /// Records of one candidate compared; the most recent first (attendance repeats identifiers).
    static let maxRecordsPerCandidate = 24
    /// A candidate's records, this source's and kind's first: made once, not per lookup.
    static let candidateRecordsSQL = """
        SELECT id, source, kind, reference_key, material FROM record WHERE subject_id = ? AND material IS NOT NULL
        ORDER BY (source = ? AND kind = ?) DESC, observed_at DESC LIMIT \(maxRecordsPerCandidate)
        """

    struct Decision {
        var subject: Int64
        /// How the record joined: "nhs", "upn", "reference", "score:23.4 given=exact,...", or "new".
        var linkedBy: String
        var merges: [SubjectMerge] = []
        var conflicts: [SubjectConflict] = []
        var reviews: [ReviewPair] = []
        /// The id of this source's earlier version of the record (same reference), if any.
        var existingRecord: Int64? = nil
    }

    func link(_ record: PseudonymisedRecord, source: String) throws -> Decision {
        let legacy = rewrap == nil ? nil : record.legacy
        let found = try Self.candidates(db, raw: raw, strongKeys: record.linkageKeys.filter(\.basis.isStrong).map(\.digest) + (legacy?.strongKeys ?? []),
                                        blockingKeys: record.candidateKeys + (legacy?.candidateKeys ?? []), source: source, kind: record.kind,
                                        referenceKeys: [record.referenceKey] + (legacy.map { [$0.referenceKey] } ?? []), rewrap: rewrap, open: open)
        work.records += 1
        work.candidateRecords += found.records.count
        work.candidateSubjects += found.subjectCount
        let frequency = try frequencies([record.material.given?.exact, record.material.family?.exact].compactMap { $0 })
        let decision = linkage.matcher.decide(
            SubjectMatcher.Record(material: record.material, source: source, kind: record.kind, referenceKey: record.referenceKey),
            candidates: found.records, strongHits: found.strongHits, frequency: { frequency[$0] })
        var out: Decision
        switch decision {
        case .join(let subject, let basis, let score, let review):
            out = Decision(subject: subject, linkedBy: basis == "score" ? "score:\(String(format: "%.1f", score.total)) \(score.explanation)" : basis,
                           reviews: review)
        case .newSubject(let review):
            try raw.statement(.newSubject, "INSERT INTO subject (created_at, link_gen) VALUES (?, ?)").bind(1, time).bind(2, Int64(generation)).run()
            out = Decision(subject: db.lastInsertedRowID, linkedBy: "new", reviews: review)
        }
        out.existingRecord = found.existingRecord
        for pair in out.reviews where pair.candidate != out.subject {
            let (a, b) = (min(pair.candidate, out.subject), max(pair.candidate, out.subject))
            guard try !Self.decidedDifferent(db, a, b) else { continue }
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO review_pair (subject_a, subject_b, score, levels, reason, status, created_at)
                VALUES (?, ?, ?, ?, ?, 'pending', ?)
                """).execute(arguments: [a, b, pair.score.total.isFinite ? pair.score.total : nil, pair.score.explanation, pair.reason, time])
            // Strong identifiers that disagree with the rest are conflicts too: both children are uncertain.
            if pair.reason.hasSuffix("different-date-of-birth") || pair.reason == "record-bridges-subjects-with-strong-identifiers" {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO subject_conflict (subject_a, subject_b, reason, found_at) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [a, b, pair.reason, time])
                out.conflicts.append(SubjectConflict(subjectA: a, subjectB: b, reason: pair.reason))
            }
        }
        // Keys the subject did not have yet are added, so later records find it through any of them;
        // a strong key that already names another subject keeps pointing there. Every key derives
        // from the identifiers `sameKeys` compares, and a subject holds the keys of all its records:
        // when one of them carries the same identifiers (attendance after its enrolment, a
        // resubmitted row), there is nothing to add.
        let subject = out.subject
        // A subject this record joins is brought to the current link generation first, so that
        // its keys are never of two forms.
        // The material cache holds what it opened in the old form: after a migration it is stale.
        if let rewrap, try SQLiteStore.migrateSubject(db, subject, rewrap) { opened.removeAll(keepingCapacity: true) }
        if !found.records.contains(where: { $0.subject == subject && $0.material.sameKeys(as: record.material) }) {
            for key in record.linkageKeys where key.basis.isStrong {
                try raw.statement(.insertLinkageKey, "INSERT OR IGNORE INTO linkage_key (digest, basis, subject_id) VALUES (?, ?, ?)")
                    .bind(1, key.digest).bind(2, key.basis.rawValue).bind(3, subject).run()
            }
            for key in record.blockingKeys {
                try raw.statement(.insertBlockingKey, "INSERT OR IGNORE INTO blocking_key (digest, subject_id) VALUES (?, ?)").bind(1, key).bind(2, subject).run()
            }
        }
        return out
    }

    /// After the record is written: its material is known without opening it again, and its
    /// names count from now on.
    func stored(_ record: PseudonymisedRecord, id: Int64, created: Bool) {
        remember(id, record.material)
        guard created else { return }
        for token in [record.material.given?.exact, record.material.family?.exact].compactMap({ $0 }) { pendingNames[token, default: 0] += 1 }
        pendingNames[0, default: 0] += 1  // token 0: the number of named records
    }

    /// Writes the name counts of the records this transaction created.
    func flush() throws {
        let bump = try db.cachedStatement(sql: "INSERT INTO name_frequency (token, count) VALUES (?, ?) ON CONFLICT(token) DO UPDATE SET count = count + excluded.count")
        for (token, n) in pendingNames.sorted(by: { $0.key < $1.key }) { try bump.execute(arguments: [Int64(bitPattern: token), n]) }
        pendingNames = [:]
    }

    private func open(_ id: Int64, _ sealed: Data) -> ComparisonMaterial? {
        if let m = opened[id] { return m }
        let m = linkage.openMaterial(sealed)
        remember(id, m)
        return m
    }

    private func remember(_ id: Int64, _ material: ComparisonMaterial?) {
        if opened.count >= Self.maxOpenedPerCommit { opened.removeAll(keepingCapacity: true) }
        opened[id] = material
    }

    /// Term frequencies of name tokens, counting this transaction's records not yet written.
    func frequencies(_ tokens: [UInt64]) throws -> [UInt64: Double] {
        try Self.frequencies(raw, tokens: tokens, pending: pendingNames)
    }

    static func frequencies(_ raw: RawStatements, tokens: [UInt64], pending: [UInt64: Int] = [:]) throws -> [UInt64: Double] {
        guard !tokens.isEmpty else { return [:] }
        var counts: [UInt64: Int] = [:]
        try raw.statement(.nameFrequencies, "SELECT token, count FROM name_frequency WHERE token IN (0, ?, ?)")
            .bind(1, Int64(bitPattern: tokens[0])).bind(2, Int64(bitPattern: tokens.count > 1 ? tokens[1] : tokens[0]))
            .step { row in counts[UInt64(bitPattern: row.int64(0))] = Int(row.int64(1)) }
        for t in Set(tokens + [0]) { if let n = pending[t] { counts[t, default: 0] += n } }
        guard let total = counts[0], total >= 100 else { return [:] }  // too few to say
        var out: [UInt64: Double] = [:]
        for t in tokens where t != 0 { if let c = counts[t] { out[t] = Double(c) / Double(total) } }
        return out
    }

    struct Candidates {
        var records: [CandidateRecord]
        var strongHits: [Int64: String]
        /// This source's earlier version of the record, by reference.
        var existingRecord: Int64?
        /// The subjects found (by strong key, blocking key or reference), whose records these are.
        var subjectCount = 0
    }

    /// Every record (keyed material, opened) of the subjects that share a strong key or a
    /// blocking key with the record, plus the subject holding this source's own earlier version.
    static func candidates(_ db: Database, raw: RawStatements, strongKeys: [Data], blockingKeys: [Data], source: String, kind: RecordKind,
                           referenceKeys: [Data], rewrap: LinkRewrap?, open: (Int64, Data) -> ComparisonMaterial?) throws -> Candidates {
        var subjects = Set<Int64>()
        var strongHits: [Int64: String] = [:]
        for key in strongKeys {
            try raw.statement(.strongKey, "SELECT subject_id, basis FROM linkage_key WHERE digest = ? LIMIT 1").bind(1, key).step { row in
                let s = row.int64(0)
                subjects.insert(s)
                if strongHits[s] == nil { strongHits[s] = row.text(1) }
            }
        }
        // One statement for all of a record's blocking keys (a dozen), each still read at most
        // maxSubjectsPerBlockingKey + 1 rows deep: one statement a key was most of the linker's cost.
        let blockingKeys = Array(Set(blockingKeys))
        if !blockingKeys.isEmpty {
            // Each subquery tagged with its key's position, so the rows need not carry the digest back.
            let blocking = try raw.statement(.blocking(keys: blockingKeys.count), blockingKeys.indices.map {
                "SELECT * FROM (SELECT \($0), subject_id FROM blocking_key WHERE digest = ? LIMIT \(maxSubjectsPerBlockingKey + 1))"
            }.joined(separator: " UNION ALL "))
            for (i, key) in blockingKeys.enumerated() { blocking.bind(Int32(i + 1), key) }
            var perKey = [[Int64]](repeating: [], count: blockingKeys.count)
            try blocking.step { row in perKey[Int(row.int64(0))].append(row.int64(1)) }
            for found in perKey where found.count <= maxSubjectsPerBlockingKey { subjects.formUnion(found) }
        }
        var existing: Int64? = nil
        for referenceKey in referenceKeys where existing == nil {
            try raw.statement(.reference, "SELECT id, subject_id FROM record WHERE source = ? AND kind = ? AND reference_key = ?")
                .bind(1, source).bind(2, kind.rawValue).bind(3, referenceKey).step { row in
                    existing = row.int64(0)
                    subjects.insert(row.int64(1))
                }
        }
        var out: [CandidateRecord] = []
        let generation = try rewrap.map { _ in try db.cachedStatement(sql: "SELECT link_gen FROM subject WHERE id = ?") }
        for subject in subjects.sorted() {
            // A subject not yet migrated holds material in the previous form: compare it lifted to the current one.
            var lift: LinkRewrap? = nil
            if let rewrap, let generation, let g = try Int.fetchOne(generation, arguments: [subject]), g < rewrap.generation { lift = rewrap }
            try raw.statement(.candidateRecords, candidateRecordsSQL).bind(1, subject).bind(2, source).bind(3, kind.rawValue).step { row in
                // id, source, kind, reference_key, material
                guard let k = RecordKind(rawValue: row.text(2)), let m = open(row.int64(0), row.data(4)) else { return }
                let referenceKey = row.data(3)
                out.append(CandidateRecord(subject: subject, source: row.text(1), kind: k,
                                           referenceKey: lift.map { $0.digest(referenceKey) } ?? referenceKey,
                                           material: lift.map { w in m.mappingTokens(w.token) } ?? m))
            }
        }
        return Candidates(records: out, strongHits: strongHits, existingRecord: existing, subjectCount: subjects.count)
    }

    static func decidedDifferent(_ db: Database, _ a: Int64, _ b: Int64) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM review_pair WHERE subject_a = ? AND subject_b = ? AND status = 'different'"),
                          arguments: [a, b]) == true
    }

    /// Moves everything of `from` to `into`. Pseudonyms already issued for `from` keep resolving,
    /// now to `into`.
    static func merge(_ db: Database, _ from: Int64, into: Int64, at time: Double, rewrap: LinkRewrap?) throws {
        if let rewrap { try SQLiteStore.migrateSubject(db, from, rewrap); try SQLiteStore.migrateSubject(db, into, rewrap) }
        for sql in ["UPDATE record SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE OR IGNORE linkage_key SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE OR IGNORE blocking_key SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE issued_pseudonym SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE enquiry SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE OR IGNORE subject_conflict SET subject_a = ? WHERE subject_a = ?",
                    "UPDATE OR IGNORE subject_conflict SET subject_b = ? WHERE subject_b = ?"] {
            try db.cachedStatement(sql: sql).execute(arguments: [into, from])
        }
        for sql in ["DELETE FROM blocking_key WHERE subject_id = ?", "DELETE FROM subject_conflict WHERE subject_a = ? OR subject_b = ?"] {
            try db.execute(sql: sql, arguments: sql.contains("OR") ? [from, from] : [from])
        }
        try db.cachedStatement(sql: "DELETE FROM subject_conflict WHERE subject_a = subject_b").execute()
        try db.cachedStatement(sql: "INSERT INTO subject_merge (from_subject, into_subject, merged_at) VALUES (?, ?, ?)")
            .execute(arguments: [from, into, time])
        try db.cachedStatement(sql: "DELETE FROM subject WHERE id = ?").execute(arguments: [from])
    }

    static func registerMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-probabilistic-linkage") { db in
            try db.execute(sql: """
            ALTER TABLE record ADD COLUMN material BLOB;     -- AES-GCM sealed keyed comparison material (ComparisonMaterial)
            CREATE TABLE blocking_key (
              digest BLOB NOT NULL,             -- keyed HMAC of a multi-field combination; finds candidates, compares nothing
              subject_id INTEGER NOT NULL,
              PRIMARY KEY (digest, subject_id)
            ) WITHOUT ROWID;
            CREATE INDEX blocking_key_subject ON blocking_key(subject_id);
            CREATE TABLE name_frequency (
              token INTEGER PRIMARY KEY,        -- keyed token of a normalised name (0: the number of named records)
              count INTEGER NOT NULL
            );
            CREATE TABLE review_pair (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              subject_a INTEGER NOT NULL,
              subject_b INTEGER NOT NULL,
              score REAL,                       -- null when a strong identifier linked the pair
              levels TEXT NOT NULL,             -- agreement level of each field, e.g. given=exact,dob=swapped
              reason TEXT NOT NULL,
              status TEXT NOT NULL,             -- pending | same | different
              created_at REAL NOT NULL,
              decided_by TEXT,
              decided_at REAL,
              note BLOB,                        -- the steward's note, sealed
              UNIQUE (subject_a, subject_b)
            );
            CREATE INDEX review_pair_status ON review_pair(status);
            """)
        }
    }
}

/// What the linker needs from the domain: the matcher (policy weights) and how to open sealed material.
public struct LinkageContext: Sendable {
    public let matcher: SubjectMatcher
    public let openMaterial: @Sendable (Data) -> ComparisonMaterial?
    public init(matcher: SubjectMatcher, openMaterial: @escaping @Sendable (Data) -> ComparisonMaterial?) {
        self.matcher = matcher; self.openMaterial = openMaterial
    }
}

public struct SubjectMerge: Sendable, Codable, Equatable {
    public let from: Int64
    public let into: Int64
    public let basis: String
}

public struct SubjectConflict: Sendable, Codable, Equatable {
    public var subjectA: Int64
    public var subjectB: Int64
    public let reason: String
}
