import Foundation
import SightlineCore

/// Reads the forward planner may make inside the submission's transaction.
public protocol ForwardLookup {
    /// The child's current enrolments (on roll today): which school, and its sealed reference.
    func currentEnrolments(subject: Int64, on day: CivilDate) throws -> [EnrolmentReference]
}

public struct EnrolmentReference: Sendable {
    public let source: String
    public let sealedReference: Data?
}

/// A forward to write into the outbox, in the same transaction as the submission causing it.
public struct NewForward: Sendable {
    public let publicID: String
    public let recipient: String
    public let rule: String
    public let purpose: String
    public let subjectID: Int64
    public let sealedPayload: Data
    public let deadline: Date?
    public let audit: AuditEntry
    /// A partner recipient's pseudonym named in the notice: remembered so it resolves later.
    public let issuedPseudonym: String?

    public init(publicID: String, recipient: String, rule: String, purpose: String, subjectID: Int64, sealedPayload: Data, deadline: Date?,
                audit: AuditEntry, issuedPseudonym: String? = nil) {
        self.publicID = publicID; self.recipient = recipient; self.rule = rule; self.purpose = purpose
        self.subjectID = subjectID; self.sealedPayload = sealedPayload; self.deadline = deadline; self.audit = audit
        self.issuedPseudonym = issuedPseudonym
    }
}

public struct StoredForward: Sendable, Codable {
    public enum State: String, Sendable, Codable { case pending, delivered, dead }
    public let id: Int64
    public let publicID: String
    public let recipient: String
    public let rule: String
    public let purpose: String
    public let subjectID: Int64
    public let sealedPayload: Data
    public let createdAt: Date
    public let deadline: Date?
    public let state: State
    public let attempts: Int
    public let nextAttemptAt: Date
    public let lastError: String?
    public let deliveredAt: Date?
}

public enum ForwardAttemptOutcome: Sendable {
    case delivered(at: Date)
    case failed(error: String, retryAt: Date)
    case dead(error: String)
}

/// Where a recipient's inbox cursor stands after an acknowledgement.
public struct InboxAcknowledgement: Sendable, Equatable {
    /// The cursor now: the acknowledged id, clamped to the newest forward offered, never lower than before.
    public let acknowledged: Int64
    /// Forwards this acknowledgement recorded as delivered.
    public let delivered: Int
    public init(acknowledged: Int64, delivered: Int) { self.acknowledged = acknowledged; self.delivered = delivered }
}

public struct OutboxCounts: Sendable {
    public var pending: Int
    public var dead: Int
    public var delivered: Int
}

/// The outbox: forwards commit with their submission and leave only when delivered.
public protocol ForwardOutbox: Sendable {
    /// The oldest pending forward of each recipient that is due, so that each recipient
    /// receives its forwards in order.
    func dueForwards(now: Date, limit: Int) async throws -> [StoredForward]
    /// Records an attempt's outcome and its audit entry in one transaction.
    func recordAttempt(_ id: Int64, outcome: ForwardAttemptOutcome, audit: AuditEntry) async throws
    /// Pending forwards past their deadline that were not yet reported.
    func overdueForwards(now: Date) async throws -> [StoredForward]
    func markOverdue(_ id: Int64, audit: AuditEntry) async throws
    func forwards(state: StoredForward.State?, limit: Int) async throws -> [StoredForward]
    /// Puts dead forwards (one, or all when `id` is nil) back in the queue; returns how many.
    func retryDead(_ id: Int64?, audit: @Sendable (StoredForward) -> AuditEntry) async throws -> Int
    func inbox(recipient: String, after: Int64?, limit: Int) async throws -> (forwards: [StoredForward], cursor: Int64)
    /// Moves the recipient's cursor to `upTo`, clamped to the newest forward the recipient has
    /// been offered (a cursor past it would hide the next forward); forwards up to the cursor
    /// count as delivered (pulled). A cursor never moves back.
    func acknowledgeInbox(recipient: String, upTo: Int64, audit: @Sendable (StoredForward) -> AuditEntry) async throws -> InboxAcknowledgement
    func outboxCounts() async throws -> OutboxCounts
}
