import Foundation
import GRDB
import SightlineCore

/// A record as its holding agency would be asked about it: the record and its sealed reference.
public struct HeldRecord: Sendable {
    public let record: SubjectRecord
    public let sealedReference: Data?
}

/// An enquiry to write: one per question, one holder row (and forward) per agency asked.
public struct NewEnquiry: Sendable {
    public let publicID: String
    public let asker: String
    public let purpose: String
    public let subjectID: Int64
    public let sealedQuestion: Data
    public let questionLength: Int
    public let createdAt: Date
    /// When answers are due; for an enquiry awaiting approval, recomputed when it is approved.
    public let deadline: Date
    /// Set when a second participant must approve before anything leaves; expires after this.
    public let approvalDue: Date?
    /// Each holder's notice as a forward: queued now, or on approval.
    public let forwards: [NewForward]
    public let audit: AuditEntry

    public init(publicID: String, asker: String, purpose: String, subjectID: Int64, sealedQuestion: Data, questionLength: Int,
                createdAt: Date, deadline: Date, approvalDue: Date?, forwards: [NewForward], audit: AuditEntry) {
        self.publicID = publicID; self.asker = asker; self.purpose = purpose; self.subjectID = subjectID
        self.sealedQuestion = sealedQuestion; self.questionLength = questionLength; self.createdAt = createdAt
        self.deadline = deadline; self.approvalDue = approvalDue; self.forwards = forwards; self.audit = audit
    }
}

public struct StoredEnquiry: Sendable {
    public enum State: String, Sendable, Codable { case awaitingApproval = "awaiting-approval", sent, refused, expired }
    public struct Holder: Sendable {
        public let holder: String
        public let forwardPublicID: String
        public let sealedNotice: Data
        public let status: String?
        public let sealedAnswer: Data?
        public let answerLength: Int?
        public let answeredAt: Date?
        public let overdueReported: Bool
        /// The forward carrying the notice: pending, delivered (pushed or pulled) or dead; nil before it leaves.
        public let delivery: String?
    }
    public let id: Int64
    public let publicID: String
    public let asker: String
    public let purpose: String
    public let subjectID: Int64
    public let sealedQuestion: Data
    public let questionLength: Int
    public let state: State
    public let createdAt: Date
    public let deadline: Date
    public let approvalDue: Date?
    public let approvedBy: String?
    public let decidedAt: Date?
    public let holders: [Holder]
}

public enum EnquiryApprovalOutcome: Sendable, Equatable {
    case decided(StoredEnquiry.State)
    case notFound
    /// Not awaiting approval any more (approved, refused or expired), with its state.
    case notAwaiting(StoredEnquiry.State)
}

public enum EnquiryAnswerOutcome: Sendable, Equatable { case answered, notFound, alreadyAnswered, notSent }

/// Enquiries: a partner's question to the agencies holding a child's records, carried by the
/// outbox like forwards (pushed where the agency has an endpoint, pulled from its inbox otherwise).
public protocol EnquiryStore {
    func heldRecords(ofSubject subject: Int64) async throws -> [HeldRecord]
    func createEnquiry(_ enquiry: NewEnquiry) async throws
    /// The one `publicID`, or those addressed to `holder` (sent ones only), or asked by `asker`, or (all nil) every one: newest first.
    func enquiries(asker: String?, holder: String?, publicID: String?, limit: Int) async throws -> [StoredEnquiry]
    /// Approves or refuses an enquiry awaiting approval, in one transaction; `approve` builds the
    /// forwards (with the deadline counted from now) and the audit entry from the stored enquiry.
    func decideEnquiry(publicID: String, approve: Bool, by approver: String, at time: Date,
                       _ build: @Sendable (StoredEnquiry) throws -> (forwards: [NewForward], deadline: Date, audit: AuditEntry)) async throws
        -> EnquiryApprovalOutcome
    func answerEnquiry(publicID: String, holder: String, status: String, sealedAnswer: Data?, answerLength: Int, at time: Date,
                       audit: AuditEntry) async throws -> EnquiryAnswerOutcome
    /// Expires enquiries whose approval is overdue and reports holders whose answers are, once
    /// each, with their audit entries; returns what it did.
    func sweepEnquiries(now: Date, expired: @Sendable (StoredEnquiry) -> AuditEntry,
                        overdue: @Sendable (StoredEnquiry, String) -> AuditEntry) async throws -> (expired: Int, overdue: Int)
    /// Per subject, every answer given under `purpose`, oldest first.
    func enquiryAnswers(purpose: String) async throws -> [Int64: [(status: String, at: Date)]]
}

extension SQLiteStore {
    static func registerEnquiryMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6-enquiries") { db in
            try db.execute(sql: """
            CREATE TABLE enquiry (
              id INTEGER PRIMARY KEY,
              public_id TEXT NOT NULL UNIQUE,
              asker TEXT NOT NULL,                    -- "partner/304-cme"
              purpose TEXT NOT NULL,
              subject_id INTEGER NOT NULL,
              question BLOB NOT NULL,                 -- AES-GCM sealed free text
              question_length INTEGER NOT NULL,
              state TEXT NOT NULL,                    -- awaiting-approval | sent | refused | expired
              created_at REAL NOT NULL,
              deadline REAL NOT NULL,
              approval_due REAL,
              approved_by TEXT,
              decided_at REAL
            );
            CREATE INDEX enquiry_asker ON enquiry(asker, id);
            CREATE INDEX enquiry_subject ON enquiry(subject_id);
            CREATE TABLE enquiry_holder (
              enquiry_id INTEGER NOT NULL REFERENCES enquiry(id),
              holder TEXT NOT NULL,                   -- "nhs/Y12345"
              forward_public_id TEXT NOT NULL UNIQUE,
              notice BLOB NOT NULL,                   -- the sealed notice, kept until it leaves
              status TEXT,
              answer BLOB,                            -- sealed free text
              answer_length INTEGER,
              answered_at REAL,
              overdue_reported INTEGER NOT NULL DEFAULT 0,
              PRIMARY KEY (enquiry_id, holder)
            );
            CREATE INDEX enquiry_holder_holder ON enquiry_holder(holder, enquiry_id);
            """)
        }
    }

    public func heldRecords(ofSubject subject: Int64) async throws -> [HeldRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns), sealed_ref FROM record WHERE subject_id = ?", arguments: [subject])
                .compactMap { row in Self.subjectRecord(row).map { HeldRecord(record: $0, sealedReference: row["sealed_ref"]) } }
        }
    }

    public func createEnquiry(_ e: NewEnquiry) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO enquiry (public_id, asker, purpose, subject_id, question, question_length, state, created_at, deadline, approval_due)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [e.publicID, e.asker, e.purpose, e.subjectID, e.sealedQuestion, e.questionLength,
                                 (e.approvalDue == nil ? StoredEnquiry.State.sent : .awaitingApproval).rawValue,
                                 e.createdAt.timeIntervalSince1970, e.deadline.timeIntervalSince1970, e.approvalDue?.timeIntervalSince1970])
            let id = db.lastInsertedRowID
            _ = try Self.append(db, e.audit)
            for f in e.forwards {
                try db.execute(sql: "INSERT INTO enquiry_holder (enquiry_id, holder, forward_public_id, notice) VALUES (?, ?, ?, ?)",
                               arguments: [id, f.recipient, f.publicID, f.sealedPayload])
                if e.approvalDue == nil { try Self.enqueue(db, f, at: e.createdAt.timeIntervalSince1970) }
            }
        }
    }

    static func storedEnquiry(_ db: Database, _ row: Row) throws -> StoredEnquiry {
        let holders = try Row.fetchAll(db, sql: """
            SELECT h.*, f.state AS delivery FROM enquiry_holder h LEFT JOIN forward f ON f.public_id = h.forward_public_id
            WHERE h.enquiry_id = ? ORDER BY h.holder
            """, arguments: [row["id"] as Int64]).map { h in
            StoredEnquiry.Holder(holder: h["holder"], forwardPublicID: h["forward_public_id"], sealedNotice: h["notice"], status: h["status"],
                                 sealedAnswer: h["answer"], answerLength: h["answer_length"],
                                 answeredAt: (h["answered_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                                 overdueReported: (h["overdue_reported"] as Int) != 0, delivery: h["delivery"])
        }
        return StoredEnquiry(id: row["id"], publicID: row["public_id"], asker: row["asker"], purpose: row["purpose"], subjectID: row["subject_id"],
                             sealedQuestion: row["question"], questionLength: row["question_length"],
                             state: StoredEnquiry.State(rawValue: row["state"]) ?? .expired,
                             createdAt: Date(timeIntervalSince1970: row["created_at"]), deadline: Date(timeIntervalSince1970: row["deadline"]),
                             approvalDue: (row["approval_due"] as Double?).map(Date.init(timeIntervalSince1970:)),
                             approvedBy: row["approved_by"], decidedAt: (row["decided_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                             holders: holders)
    }

    public func enquiries(asker: String?, holder: String?, publicID: String?, limit: Int = 100) async throws -> [StoredEnquiry] {
        try await pool.read { db in
            let rows: [Row]
            if let publicID {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM enquiry WHERE public_id = ?", arguments: [publicID])
            } else if let holder {
                rows = try Row.fetchAll(db, sql: """
                    SELECT e.* FROM enquiry e JOIN enquiry_holder h ON h.enquiry_id = e.id
                    WHERE h.holder = ? AND e.state = 'sent' ORDER BY e.id DESC LIMIT ?
                    """, arguments: [holder, limit])
            } else if let asker {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM enquiry WHERE asker = ? ORDER BY id DESC LIMIT ?", arguments: [asker, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM enquiry ORDER BY id DESC LIMIT ?", arguments: [limit])
            }
            return try rows.map { try Self.storedEnquiry(db, $0) }
        }
    }

    public func decideEnquiry(publicID: String, approve: Bool, by approver: String, at time: Date,
                              _ build: @Sendable (StoredEnquiry) throws -> (forwards: [NewForward], deadline: Date, audit: AuditEntry)) async throws
        -> EnquiryApprovalOutcome {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM enquiry WHERE public_id = ?", arguments: [publicID]) else { return .notFound }
            let enquiry = try Self.storedEnquiry(db, row)
            guard enquiry.state == .awaitingApproval else { return .notAwaiting(enquiry.state) }
            if let due = enquiry.approvalDue, due <= time { return .notAwaiting(.expired) }  // the sweep writes the expiry
            let (forwards, deadline, audit) = try build(enquiry)
            let state: StoredEnquiry.State = approve ? .sent : .refused
            try db.execute(sql: "UPDATE enquiry SET state = ?, approved_by = ?, decided_at = ?, deadline = ? WHERE id = ?",
                           arguments: [state.rawValue, approver, time.timeIntervalSince1970, deadline.timeIntervalSince1970, enquiry.id])
            _ = try Self.append(db, audit)
            if approve {
                for f in forwards {
                    try db.execute(sql: "UPDATE enquiry_holder SET notice = ? WHERE enquiry_id = ? AND forward_public_id = ?",
                                   arguments: [f.sealedPayload, enquiry.id, f.publicID])
                    try Self.enqueue(db, f, at: time.timeIntervalSince1970)
                }
            }
            return .decided(state)
        }
    }

    public func answerEnquiry(publicID: String, holder: String, status: String, sealedAnswer: Data?, answerLength: Int, at time: Date,
                              audit: AuditEntry) async throws -> EnquiryAnswerOutcome {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT e.id, e.state, h.status FROM enquiry e JOIN enquiry_holder h ON h.enquiry_id = e.id
                WHERE e.public_id = ? AND h.holder = ?
                """, arguments: [publicID, holder]) else { return .notFound }
            guard (row["state"] as String) == StoredEnquiry.State.sent.rawValue else { return .notSent }
            guard (row["status"] as String?) == nil else { return .alreadyAnswered }
            try db.execute(sql: "UPDATE enquiry_holder SET status = ?, answer = ?, answer_length = ?, answered_at = ? WHERE enquiry_id = ? AND holder = ?",
                           arguments: [status, sealedAnswer, answerLength, time.timeIntervalSince1970, row["id"] as Int64, holder])
            _ = try Self.append(db, audit)
            return .answered
        }
    }

    public func sweepEnquiries(now: Date, expired: @Sendable (StoredEnquiry) -> AuditEntry,
                               overdue: @Sendable (StoredEnquiry, String) -> AuditEntry) async throws -> (expired: Int, overdue: Int) {
        // Most passes find nothing: look first without taking the write lock.
        let t = now.timeIntervalSince1970
        let due = try await pool.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM enquiry WHERE state = 'awaiting-approval' AND approval_due <= ?)
                    OR EXISTS (SELECT 1 FROM enquiry e JOIN enquiry_holder h ON h.enquiry_id = e.id
                               WHERE e.state = 'sent' AND e.deadline <= ? AND h.status IS NULL AND h.overdue_reported = 0)
                """, arguments: [t, t]) ?? false
        }
        guard due else { return (0, 0) }
        return try await pool.write { db in
            var expiredCount = 0, overdueCount = 0
            for row in try Row.fetchAll(db, sql: "SELECT * FROM enquiry WHERE state = 'awaiting-approval' AND approval_due <= ? LIMIT 500", arguments: [t]) {
                let e = try Self.storedEnquiry(db, row)
                try db.execute(sql: "UPDATE enquiry SET state = 'expired', decided_at = ? WHERE id = ?", arguments: [t, e.id])
                _ = try Self.append(db, expired(e))
                expiredCount += 1
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT DISTINCT e.* FROM enquiry e JOIN enquiry_holder h ON h.enquiry_id = e.id
                WHERE e.state = 'sent' AND e.deadline <= ? AND h.status IS NULL AND h.overdue_reported = 0 LIMIT 500
                """, arguments: [t]) {
                let e = try Self.storedEnquiry(db, row)
                for h in e.holders where h.status == nil && !h.overdueReported {
                    try db.execute(sql: "UPDATE enquiry_holder SET overdue_reported = 1 WHERE enquiry_id = ? AND holder = ?", arguments: [e.id, h.holder])
                    _ = try Self.append(db, overdue(e, h.holder))
                    overdueCount += 1
                }
            }
            return (expiredCount, overdueCount)
        }
    }

    public func enquiryAnswers(purpose: String) async throws -> [Int64: [(status: String, at: Date)]] {
        try await pool.read { db in
            var out: [Int64: [(status: String, at: Date)]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT e.subject_id, h.status, h.answered_at FROM enquiry e JOIN enquiry_holder h ON h.enquiry_id = e.id
                WHERE e.purpose = ? AND h.status IS NOT NULL ORDER BY h.answered_at
                """, arguments: [purpose]) {
                out[row["subject_id"], default: []].append((row["status"], Date(timeIntervalSince1970: row["answered_at"])))
            }
            return out
        }
    }
}
