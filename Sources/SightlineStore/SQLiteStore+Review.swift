import Foundation
import GRDB
import SightlineCore

/// One pair in the steward's queue: two subjects that may be one child, with how their records agree.
public struct ReviewItem: Sendable, Codable {
    public let id: Int64
    public let subjectA: Int64
    public let subjectB: Int64
    public let score: Double?
    /// "given=exact,family=close,dob=exact,postcode=sector": levels only, never a value.
    public let levels: String
    public let reason: String
    public let status: String
    public let createdAt: Date
    /// For each side: (subject, kind, source, observed time) of its records.
    public var sources: [[String]]
    /// The sealed local reference of each entry of `sources` (nil where none was kept); opened
    /// by the gateway for the steward only.
    public var sealedReferences: [Data?] = []

    /// Never encoded: the sealed bytes stay inside the gateway.
    enum CodingKeys: String, CodingKey { case id, subjectA, subjectB, score, levels, reason, status, createdAt, sources }
}

/// One record of a subject as linkage explains it: where it came from, when, and how it joined
/// ("nhs", "reference", "new" or "score:23.4 given=exact,family=close,...").
public struct LinkedRecord: Sendable {
    public let kind: String
    public let source: String
    public let observedAt: Date
    public let linkedBy: String
    public let sealedReference: Data?
}

public enum ReviewOutcome: Sendable, Equatable { case decided, notFound, alreadyDecided }

extension SQLiteStore {
    public func reviewItems(status: String = "pending", limit: Int = 100) async throws -> [ReviewItem] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, subject_a, subject_b, score, levels, reason, status, created_at FROM review_pair WHERE status = ? ORDER BY id LIMIT ?",
                             arguments: [status, limit]).map { row in
                var sources: [[String]] = []
                var references: [Data?] = []
                for side in [row["subject_a"] as Int64, row["subject_b"] as Int64] {
                    for r in try Row.fetchAll(db, sql: "SELECT kind, source, observed_at, sealed_ref FROM record WHERE subject_id = ? ORDER BY observed_at LIMIT 20",
                                              arguments: [side]) {
                        sources.append(["\(side)", r["kind"], r["source"], Instant.format(Date(timeIntervalSince1970: r["observed_at"]))])
                        references.append(r["sealed_ref"])
                    }
                }
                var item = ReviewItem(id: row["id"], subjectA: row["subject_a"], subjectB: row["subject_b"], score: row["score"], levels: row["levels"],
                                      reason: row["reason"], status: row["status"], createdAt: Date(timeIntervalSince1970: row["created_at"]), sources: sources)
                item.sealedReferences = references
                return item
            }
        }
    }

    /// Records a steward's decision: `same` merges the pair (the later subject into the earlier; pseudonyms
    /// issued for either keep resolving), `different` keeps them apart for good. The audit entry commits with it.
    public func decideReview(id: Int64, same: Bool, steward: String, sealedNote: Data?, at time: Date,
                             audit: @escaping @Sendable (_ a: Int64, _ b: Int64) -> AuditEntry) async throws -> ReviewOutcome {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT subject_a, subject_b, status FROM review_pair WHERE id = ?", arguments: [id]) else { return .notFound }
            guard (row["status"] as String) == "pending" else { return .alreadyDecided }
            let a: Int64 = row["subject_a"], b: Int64 = row["subject_b"]
            let t = time.timeIntervalSince1970
            try db.execute(sql: "UPDATE review_pair SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?",
                           arguments: [same ? "same" : "different", steward, t, sealedNote, id])
            if same {
                try SubjectLinker.merge(db, max(a, b), into: min(a, b), at: t, rewrap: try activeRewrap(db))
                // The merged subject's other pairs now name the survivor; a pair with itself is settled.
                try db.execute(sql: "UPDATE OR IGNORE review_pair SET subject_a = ? WHERE subject_a = ?", arguments: [min(a, b), max(a, b)])
                try db.execute(sql: "UPDATE OR IGNORE review_pair SET subject_b = ? WHERE subject_b = ?", arguments: [min(a, b), max(a, b)])
                try db.execute(sql: "UPDATE review_pair SET status = 'same' WHERE subject_a = subject_b AND status = 'pending'")
            } else {
                try db.execute(sql: "DELETE FROM subject_conflict WHERE (subject_a = ? AND subject_b = ?) OR (subject_a = ? AND subject_b = ?)", arguments: [a, b, b, a])
            }
            _ = try Self.append(db, audit(a, b))
            return .decided
        }
    }
}
