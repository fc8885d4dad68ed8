import Foundation
import SightlineCore

/// A submission to commit: its records, and how to build its audit entry and receipt once the
/// records are linked. Records, audit entry and idempotency entry commit in one transaction.
public struct SubmissionCommit: Sendable {
    public let id: String
    public let participant: String
    public let idempotencyKey: String
    public let bodyDigest: String
    public let receivedAt: Date
    public let records: [PseudonymisedRecord]
    /// The core matcher and how to open sealed comparison material.
    public let linkage: LinkageContext
    public let buildAudit: @Sendable (_ outcomes: [RecordOutcome]) -> AuditEntry
    public let buildReceipt: @Sendable (_ outcomes: [RecordOutcome], _ auditIndex: Int64) throws -> Data
    /// Plans forwards from the linked records; they are written to the outbox in the same transaction.
    /// Runs first inside the transaction; throwing aborts it (the participant was suspended meanwhile).
    public var authorise: (@Sendable () throws -> Void)? = nil
    public var planForwards: (@Sendable (_ records: [PseudonymisedRecord], _ outcomes: [RecordOutcome], _ lookup: any ForwardLookup) throws -> [NewForward])? = nil

    public init(id: String, participant: String, idempotencyKey: String, bodyDigest: String, receivedAt: Date,
                records: [PseudonymisedRecord], linkage: LinkageContext,
                buildAudit: @escaping @Sendable ([RecordOutcome]) -> AuditEntry,
                buildReceipt: @escaping @Sendable ([RecordOutcome], Int64) throws -> Data) {
        self.id = id; self.participant = participant; self.idempotencyKey = idempotencyKey
        self.bodyDigest = bodyDigest; self.receivedAt = receivedAt; self.records = records; self.linkage = linkage
        self.buildAudit = buildAudit; self.buildReceipt = buildReceipt
    }
}

/// What happened to one stored record.
public struct RecordOutcome: Sendable {
    public enum Change: String, Sendable { case created, updated }
    public let subjectID: Int64
    public let change: Change
    /// The key basis that joined the record to an existing subject, or "new".
    public let linkedBy: String
    /// Subjects this record showed to be one child, merged while linking it.
    public let merges: [SubjectMerge]
    /// Links refused because identifiers disagree (same UPN, different date of birth).
    public let conflicts: [SubjectConflict]
    /// Pairs sent to the steward's review queue while linking this record.
    public var reviews: Int = 0
}

public enum SubmissionCommitResult: Sendable {
    /// Stored now; the (sealed) receipt and its audit index.
    case committed(receipt: Data, auditIndex: Int64, forwards: Int)
    /// The same participant sent the same idempotency key and body before: the earlier receipt.
    case replayed(receipt: Data)
    /// The same idempotency key with a different body.
    case conflict
}

public struct StoredAuditEntry: Sendable {
    public let index: Int64
    public let entry: Data
    public let leafHash: Data
    public let chainHash: Data
    /// The search columns stored beside the entry, when the read fetched them: what filters
    /// match on, and what verification holds to the entry.
    public var columns: AuditSearchColumns? = nil
}

/// Persistence of submissions and the audit log. SQLite is the embedded default; a second
/// backend (PostgreSQL) implements the same protocol.
public protocol SightlineStore: ForwardOutbox, EnquiryStore, DPOStore, RetentionStore, KeyRotationStore, AuditPruningStore {
    func commit(_ submission: SubmissionCommit) async throws -> SubmissionCommitResult
    /// The sealed receipt of a submission, if it belongs to `participant`.
    func receipt(submissionID: String, participant: String) async throws -> Data?
    @discardableResult
    func appendAudit(_ entry: AuditEntry) async throws -> Int64
    func auditEntries(from index: Int64, limit: Int) async throws -> [StoredAuditEntry]
    func auditCount() async throws -> Int64
    func counts() async throws -> StoreCounts

    // The audit log as a Merkle log (SQLiteStore+AuditLog.swift). Proofs throw
    // AuditLogError(.proofRange) for sizes or indexes the tree does not have.
    func auditTreeHead() async throws -> AuditTreeHead
    func auditInclusionProof(index: Int64, size: Int64) async throws -> AuditInclusionProof
    func auditConsistencyProof(from: Int64, to: Int64) async throws -> AuditConsistencyProof
    /// Entries from `filter.from` on that match every filter given, in index order.
    func auditEntries(matching filter: AuditEntryFilter) async throws -> [StoredAuditEntry]
    func saveCheckpoint(_ checkpoint: StoredCheckpoint) async throws
    func latestCheckpoint() async throws -> StoredCheckpoint?
    /// Every signed checkpoint of at most `maxSize` entries, oldest first.
    func checkpoints(upTo maxSize: Int64) async throws -> [StoredCheckpoint]
    func isReady() async -> Bool

    // Partner reads
    /// The subject whose linkage keys match, strongest key first; name + DOB keys marked
    /// ambiguous are not used.
    func findSubject(keys: [LinkageKey]) async throws -> SubjectMatch
    /// Candidates for `POST /v1/match`, found exactly as ingestion finds them, and the term
    /// frequencies of the given name tokens: the core matcher decides.
    func linkageCandidates(strongKeys: [Data], blockingKeys: [Data], nameTokens: [UInt64],
                           open: @escaping @Sendable (Data) -> ComparisonMaterial?) async throws -> LinkageCandidates
    func records(ofSubject subject: Int64) async throws -> [SubjectRecord]
    /// Every subject holding a record of one of `kinds`, with all its records of those kinds, a page
    /// of subjects at a time (at most `subjectsPerPage` subject ids, in id order). All pages are
    /// read in one read transaction, so that they are one state of the store:
    /// `update` folds each page into the result, and no more than one page is held at once.
    func reduceSubjectPages<T: Sendable>(ofKinds kinds: [RecordKind], subjectsPerPage: Int, into initial: T,
                                         _ update: @escaping @Sendable (inout T, [Int64: [SubjectRecord]]) throws -> Void) async throws -> T
    /// Subjects with an unresolved identifier conflict.
    func uncertainSubjects() async throws -> Set<Int64>
    /// Whether one subject is uncertain (in `uncertainSubjects()`), by index: a match or a subject
    /// view must not read every pending pair (178,216 of them at 1,000,000 generated children).
    func isUncertain(_ subject: Int64) async throws -> Bool
    /// Remembers pseudonyms given to recipients so that they keep resolving after merges.
    func recordIssuedPseudonyms(_ issued: [IssuedPseudonym]) async throws
    func resolvePseudonym(_ pseudonym: String, recipient: String) async throws -> Int64?
    /// The pseudonyms issued to `recipient`, oldest first, for `subjects` (every subject when nil).
    func issuedPseudonyms(recipient: String, subjects: [Int64]?) async throws -> [Int64: [String]]
    /// The subject a pseudonym issued to any recipient names (for the steward and the auditor).
    func resolvePseudonym(_ pseudonym: String) async throws -> Int64?
    /// How each record of a subject was linked, with its sealed local reference (for the steward).
    func linkExplanation(ofSubject subject: Int64) async throws -> [LinkedRecord]
    /// The linkage work of the submissions committed since the store was opened (not persisted).
    func linkageWork() -> LinkageWork

    // The steward's review queue (SQLiteStore+Review.swift)
    func reviewItems(status: String, limit: Int) async throws -> [ReviewItem]
    func decideReview(id: Int64, same: Bool, steward: String, sealedNote: Data?, at time: Date,
                      audit: @escaping @Sendable (_ a: Int64, _ b: Int64) -> AuditEntry) async throws -> ReviewOutcome
}

/// What the store found for the matcher: candidate records, the subjects sharing a strong key, name frequencies.
public struct LinkageCandidates: Sendable {
    public let records: [CandidateRecord]
    public let strongHits: [Int64: String]
    public let frequencies: [UInt64: Double]
}

public enum SubjectMatch: Sendable, Equatable {
    case found(subject: Int64, basis: LinkageKey.Basis)
    case notFound
}

public struct IssuedPseudonym: Sendable {
    public let pseudonym: String
    public let recipient: String
    public let subject: Int64
    public init(pseudonym: String, recipient: String, subject: Int64) {
        self.pseudonym = pseudonym; self.recipient = recipient; self.subject = subject
    }
}

/// How much comparing linkage did since the store was opened: the records linked, and the
/// candidate subjects and candidate records the matcher compared them with. Blocking that scales
/// keeps the candidates per record flat as the population grows; a rising ratio says keys have
/// become too common (see ops/benchmarks.md, figure 9).
public struct LinkageWork: Sendable, Equatable {
    public var records = 0
    public var candidateSubjects = 0
    public var candidateRecords = 0
    public init() {}
    public static func + (a: LinkageWork, b: LinkageWork) -> LinkageWork { combine(a, b, +) }
    public static func - (a: LinkageWork, b: LinkageWork) -> LinkageWork { combine(a, b, -) }
    private static func combine(_ a: LinkageWork, _ b: LinkageWork, _ op: (Int, Int) -> Int) -> LinkageWork {
        var d = LinkageWork()
        d.records = op(a.records, b.records); d.candidateSubjects = op(a.candidateSubjects, b.candidateSubjects)
        d.candidateRecords = op(a.candidateRecords, b.candidateRecords)
        return d
    }
}

public struct StoreCounts: Sendable, Codable {
    public var subjects: Int
    public var records: Int
    public var submissions: Int
    public var auditEntries: Int
}
