import Foundation
import GRDB
import SightlineCore

/// Everything held about one child, for a subject access request (UK GDPR Art 15).
public struct SubjectAccessData: Sendable {
    public struct Held: Sendable {
        public let record: SubjectRecord
        public let receivedAt: Date
    }
    public let subject: Int64
    /// Subjects merged into this one over time: their audit entries are the child's too.
    public let mergedFrom: [Int64]
    public let records: [Held]
    /// Audit entries naming the child, other than the submissions that brought its records;
    /// their subject lists are left out (they would name other children, and can be long).
    public let entries: [AuditEntry]
}

/// What an erasure removed (UK GDPR Art 17), for its audit entry and answer.
public struct ErasureCounts: Sendable, Codable, Equatable {
    mutating func add(_ o: ErasureCounts) {
        records += o.records; linkageKeys += o.linkageKeys; blockingKeys += o.blockingKeys; forwards += o.forwards
        enquiries += o.enquiries; reviewPairs += o.reviewPairs; pseudonymsWithdrawn += o.pseudonymsWithdrawn
    }
    public var records = 0
    public var linkageKeys = 0
    public var blockingKeys = 0
    public var forwards = 0
    public var enquiries = 0
    public var reviewPairs = 0
    public var pseudonymsWithdrawn = 0
}

/// A partner told that a pseudonym it holds no longer names anything: written to the outbox with the erasure.
public struct Withdrawal: Sendable {
    public let pseudonym: String
    public let recipient: String
}

public protocol DPOStore {
    func subjectAccess(subject: Int64) async throws -> SubjectAccessData
    /// Deletes every record of `subject` and what derives from them, in one transaction, then
    /// truncates the WAL: `secure_delete` has zeroed the freed pages. `notify` builds, from the
    /// pseudonyms issued for the child, the withdrawal forwards to write with it; `audit` the entry.
    func erase(subject: Int64, notify: @Sendable ([Withdrawal]) throws -> [NewForward],
               audit: @Sendable (ErasureCounts) -> AuditEntry) async throws -> ErasureCounts
}

extension SQLiteStore {
    static func registerDPOMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7-audit-subjects") { db in
            // Which audit entries name which child, so a subject access request finds every
            // disclosure without reading the whole log. Not part of what the log hashes: rebuilt
            // from the entries if lost. Submissions are left out (the records say where they came from).
            try db.execute(sql: """
            CREATE TABLE audit_subject (
              subject_id INTEGER NOT NULL,
              idx INTEGER NOT NULL,
              PRIMARY KEY (subject_id, idx)
            ) WITHOUT ROWID;
            """)
            let rows = try Row.fetchCursor(db, sql: "SELECT idx, entry FROM audit_entry WHERE action != 'submission'")
            while let row = try rows.next() {
                guard let entry = try? AuditEntry.decode(canonical: row["entry"]) else { continue }
                try indexSubjects(db, entry, index: row["idx"])
            }
        }
        m.registerMigration("v8-subject-indexes") { db in
            // Erasure and retention delete by subject from these too; without an index each
            // deleted child read the whole table.
            try db.execute(sql: """
            CREATE INDEX forward_subject ON forward(subject_id);
            CREATE INDEX review_pair_subject_b ON review_pair(subject_b);
            CREATE INDEX subject_conflict_subject_b ON subject_conflict(subject_b);
            """)
        }
    }

    static func indexSubjects(_ db: Database, _ entry: AuditEntry, index: Int64) throws {
        guard entry.action != "submission", !entry.subjects.isEmpty else { return }
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO audit_subject (subject_id, idx) VALUES (?, ?)")
        for s in Set(entry.subjects) { try insert.execute(arguments: [s, index]) }
    }

    /// Checkpoints the WAL and truncates it, so that pages a deletion freed are not left in it.
    /// Best effort after the deletion has committed: with readers active SQLite may refuse
    /// (busy), and the deletion stands either way; the next checkpoint overwrites those pages.
    static func truncateWAL(_ pool: DatabasePool) async {
        do { try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) } } catch {
            _ = try? await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        }
    }

    public func subjectAccess(subject: Int64) async throws -> SubjectAccessData {
        try await pool.read { db in
            // Every subject merged into this one, transitively.
            var merged: [Int64] = []
            var frontier = [subject]
            var seen: Set<Int64> = [subject]
            while let next = frontier.popLast() {
                for from in try Int64.fetchAll(db, sql: "SELECT from_subject FROM subject_merge WHERE into_subject = ?", arguments: [next])
                where seen.insert(from).inserted {
                    merged.append(from); frontier.append(from)
                }
            }
            let records = try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns), received_at FROM record WHERE subject_id = ? ORDER BY observed_at",
                                           arguments: [subject]).compactMap { row in
                Self.subjectRecord(row).map { SubjectAccessData.Held(record: $0, receivedAt: Date(timeIntervalSince1970: row["received_at"])) }
            }
            let ids = [subject] + merged
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            // One entry at a time, its subject list dropped: a report's entry names every child it
            // listed (100,000 ids at a large LA), and a child appears in many reports over the years.
            var entries: [AuditEntry] = []
            let cursor = try Data.fetchCursor(db, sql: """
                SELECT e.entry FROM audit_entry e WHERE e.idx IN (SELECT idx FROM audit_subject WHERE subject_id IN (\(marks))) ORDER BY e.idx
                """, arguments: StatementArguments(ids))
            while let bytes = try cursor.next() {
                guard var entry = try? AuditEntry.decode(canonical: bytes) else { continue }
                entry.subjects = []
                entries.append(entry)
            }
            return SubjectAccessData(subject: subject, mergedFrom: merged, records: records, entries: entries)
        }
    }

    /// Everything of a subject but its records: keys, forwards, enquiries, review pairs,
    /// conflicts, issued pseudonyms and the subject row (erasure; retention once no record is left).
    static func deleteRemains(_ db: Database, subject: Int64, into c: inout ErasureCounts) throws {
        func run(_ sql: String, _ args: StatementArguments) throws -> Int {
            try db.cachedStatement(sql: sql).execute(arguments: args)
            return db.changesCount
        }
        c.linkageKeys += try run("DELETE FROM linkage_key WHERE subject_id = ?", [subject])
        c.blockingKeys += try run("DELETE FROM blocking_key WHERE subject_id = ?", [subject])
        // Forwards about the child: undelivered ones never leave; delivered ones keep their row
        // (ids, times, recipient, for the log's sake) but lose the sealed notice.
        c.forwards += try run("DELETE FROM forward WHERE subject_id = ? AND state IN ('pending', 'dead', 'held')", [subject])
        c.forwards += try run("UPDATE forward SET payload = X'' WHERE subject_id = ? AND length(payload) > 0", [subject])
        _ = try run("DELETE FROM enquiry_holder WHERE enquiry_id IN (SELECT id FROM enquiry WHERE subject_id = ?)", [subject])
        c.enquiries += try run("DELETE FROM enquiry WHERE subject_id = ?", [subject])
        c.reviewPairs += try run("DELETE FROM review_pair WHERE subject_a = ? OR subject_b = ?", [subject, subject])
        _ = try run("DELETE FROM subject_conflict WHERE subject_a = ? OR subject_b = ?", [subject, subject])
        c.pseudonymsWithdrawn += try run("DELETE FROM issued_pseudonym WHERE subject_id = ?", [subject])
        _ = try run("DELETE FROM subject WHERE id = ?", [subject])
    }

    public func erase(subject: Int64, notify: @Sendable ([Withdrawal]) throws -> [NewForward],
                      audit: @Sendable (ErasureCounts) -> AuditEntry) async throws -> ErasureCounts {
        let counts = try await pool.write { db -> ErasureCounts in
            var c = ErasureCounts()
            // The subject as it is now (a merge may have landed since it was resolved), and every
            // subject merged into it: forwards and review pairs keep the id they were made under.
            var subject = subject
            while let into = try Int64.fetchOne(db, sql: "SELECT into_subject FROM subject_merge WHERE from_subject = ? ORDER BY merged_at DESC LIMIT 1",
                                                arguments: [subject]) { subject = into }
            var ids: [Int64] = [subject]
            var frontier = [subject]
            while let next = frontier.popLast() {
                for from in try Int64.fetchAll(db, sql: "SELECT from_subject FROM subject_merge WHERE into_subject = ?", arguments: [next])
                where !ids.contains(from) { ids.append(from); frontier.append(from) }
            }
            let withdrawals = try Row.fetchAll(db, sql: "SELECT pseudonym, recipient FROM issued_pseudonym WHERE subject_id = ?", arguments: [subject])
                .map { Withdrawal(pseudonym: $0["pseudonym"], recipient: $0["recipient"]) }
            try db.execute(sql: "DELETE FROM record WHERE subject_id = ?", arguments: [subject])
            c.records = db.changesCount
            for id in ids { try Self.deleteRemains(db, subject: id, into: &c) }
            for f in try notify(withdrawals) { try Self.enqueue(db, f, at: Date().timeIntervalSince1970) }
            _ = try Self.append(db, audit(c))
            return c
        }
        // The deleted rows' pages are zeroed (secure_delete); the WAL still holds the old pages until
        // it is checkpointed and truncated.
        await Self.truncateWAL(pool)
        return counts
    }
}

/// What a retention sweep deleted, or (dry run) would delete.
public struct RetentionCounts: Sendable, Equatable {
    /// Records past retention, by kind.
    public var records: [RecordKind: Int] = [:]
    /// Subjects left with no record, deleted with their keys, pseudonyms, forwards and enquiries.
    public var subjects = 0
    public var remains = ErasureCounts()
    public var total: Int { records.values.reduce(0, +) }
}

public protocol RetentionStore {
    /// Deletes records observed before their kind's cutoff, `batch` records a transaction so
    /// that the write lock is never held long; then the subjects left without records. The
    /// sweep's audit entry is written with its last batch. `dryRun` only counts.
    func sweepRetention(cutoffs: [RecordKind: Date], endFields: [RecordKind: String], batch: Int, dryRun: Bool,
                        audit: @Sendable (RetentionCounts) -> AuditEntry) async throws -> RetentionCounts
}

extension SQLiteStore: RetentionStore {
    /// The instant a record's retention is counted from: observedAt, or the end of its period
    /// (a date in its fields, when the policy keeps that field) when later.
    static func retentionClock(_ endField: String?) -> String {
        guard let endField, endField.allSatisfy({ $0.isLetter }) else { return "observed_at" }
        return "max(observed_at, coalesce(CAST(strftime('%s', json_extract(fields, '$.\(endField)')) AS REAL), 0))"
    }

    public func sweepRetention(cutoffs: [RecordKind: Date], endFields: [RecordKind: String] = [:], batch: Int = 500, dryRun: Bool,
                               audit: @Sendable (RetentionCounts) -> AuditEntry) async throws -> RetentionCounts {
        let cutoffs = cutoffs.filter { $0.value > .distantPast }
        var counts = RetentionCounts()
        if dryRun {
            return try await pool.read { db in
                var counts = RetentionCounts()
                for (kind, cutoff) in cutoffs {
                    let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM record WHERE kind = ? AND \(Self.retentionClock(endFields[kind])) < ?",
                                             arguments: [kind.rawValue, cutoff.timeIntervalSince1970]) ?? 0
                    if n > 0 { counts.records[kind] = n }
                }
                // Subjects every one of whose records would go.
                var expired: [String] = []
                var args: [DatabaseValueConvertible] = []
                for (kind, cutoff) in cutoffs {
                    expired.append("(kind = ? AND \(Self.retentionClock(endFields[kind])) < ?)"); args += [kind.rawValue, cutoff.timeIntervalSince1970]
                }
                if !expired.isEmpty {
                    counts.subjects = try Int.fetchOne(db, sql: """
                        SELECT count(*) FROM (SELECT subject_id FROM record GROUP BY subject_id
                        HAVING sum(CASE WHEN \(expired.joined(separator: " OR ")) THEN 0 ELSE 1 END) = 0)
                        """, arguments: StatementArguments(args)) ?? 0
                }
                return counts
            }
        }
        for (kind, cutoff) in cutoffs.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            while true {
                let (deleted, subjects, remains) = try await pool.write { db -> (Int, Int, ErasureCounts) in
                    let rows = try Row.fetchAll(db, sql: "SELECT id, subject_id FROM record WHERE kind = ? AND \(Self.retentionClock(endFields[kind])) < ? LIMIT ?",
                                                arguments: [kind.rawValue, cutoff.timeIntervalSince1970, batch])
                    guard !rows.isEmpty else { return (0, 0, ErasureCounts()) }
                    let delete = try db.cachedStatement(sql: "DELETE FROM record WHERE id = ?")
                    for row in rows { try delete.execute(arguments: [row["id"] as Int64]) }
                    var remains = ErasureCounts(), gone = 0
                    for subject in Set(rows.map { $0["subject_id"] as Int64 }) {
                        guard try Int.fetchOne(db, sql: "SELECT 1 FROM record WHERE subject_id = ? LIMIT 1", arguments: [subject]) == nil else { continue }
                        try Self.deleteRemains(db, subject: subject, into: &remains)
                        gone += 1
                    }
                    return (rows.count, gone, remains)
                }
                if deleted > 0 { counts.records[kind, default: 0] += deleted }
                counts.subjects += subjects
                counts.remains.add(remains)
                if deleted < batch { break }
            }
        }
        let final = counts
        try await pool.write { db in _ = try Self.append(db, audit(final)) }
        if final.total > 0 { await Self.truncateWAL(pool) }
        return counts
    }
}
