import Foundation
import SightlineCore

/// Reads the forward planner may make inside the submission's transaction.
public protocol ForwardLookup {
    /// The child's current enrolments (on roll today): which school, and its sealed reference.
    func currentEnrolments(subject: Int64, on day: CivilDate) throws -> [EnrolmentReference]
    /// Every record of the child, as a partner would read it (for residence).
    func records(ofSubject subject: Int64) throws -> [SubjectRecord]
    /// Pseudonyms already issued to `recipient` for `subject`, oldest first.
    func issuedPseudonyms(subject: Int64, recipient: String) throws -> [String]
}

public struct EnrolmentReference: Sendable {
    public let source: String
    public let sealedReference: Data?
    /// The enrolment carries an NHS number or UPN that a record from another participant of the
    /// same child also carries: the school did not make the link up on its own.
    public let corroborated: Bool

    public init(source: String, sealedReference: Data?, corroborated: Bool) {
        self.source = source; self.sealedReference = sealedReference; self.corroborated = corroborated
    }
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
    /// Held for the recipient (an LA team) to route: never delivered as it is.
    public let held: Bool

    public init(publicID: String, recipient: String, rule: String, purpose: String, subjectID: Int64, sealedPayload: Data, deadline: Date?,
                audit: AuditEntry, issuedPseudonym: String? = nil, held: Bool = false) {
        self.publicID = publicID; self.recipient = recipient; self.rule = rule; self.purpose = purpose
        self.subjectID = subjectID; self.sealedPayload = sealedPayload; self.deadline = deadline; self.audit = audit
        self.issuedPseudonym = issuedPseudonym; self.held = held
    }
}

public struct StoredForward: Sendable, Codable {
    /// held: waiting for an LA team to route it (to one school: routed) or close it (closed).
    public enum State: String, Sendable, Codable { case pending, delivered, dead, held, routed, closed }
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
    /// Notices waiting for an LA team to route them.
    public var held: Int = 0
}

/// What an LA team decided about a held forward, decided inside the store's transaction.
public struct HeldResolution: Sendable {
    /// .routed or .closed; anything else leaves the forward held and writes nothing.
    public let state: StoredForward.State
    public let audit: AuditEntry?
    /// The forward to the chosen school, when routed.
    public let replacement: NewForward?
    /// Why nothing was written, when the state is still .held.
    public let refusal: String?

    public init(state: StoredForward.State, audit: AuditEntry?, replacement: NewForward? = nil, refusal: String? = nil) {
        self.state = state; self.audit = audit; self.replacement = replacement; self.refusal = refusal
    }
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
    /// The recipient's held forwards, oldest first.
    func heldForwards(recipient: String, limit: Int) async throws -> [StoredForward]
    /// Routes or closes one of the recipient's held forwards in one transaction: `resolve` decides
    /// (with reads of the child's enrolments), and its audit entry and replacement forward are
    /// written with the state change. nil when the recipient holds no such forward.
    func resolveHeld(publicID: String, recipient: String,
                     _ resolve: @Sendable (StoredForward, any ForwardLookup) throws -> HeldResolution) async throws -> HeldResolution?
}
