import Foundation
import SightlineCore

/// What an agency gets back for a submission: counts, each rejected record with line, field and
/// reason, and the audit index that proves the submission was logged.
public struct SubmissionReceipt: Codable, Sendable {
    public var submissionId: String
    public var receivedAt: Date
    public var participant: String
    public var policyVersion: String
    public var records: Int
    public var accepted: Int
    public var created: Int
    public var updated: Int
    public var rejectedCount: Int
    public var rejected: [RecordRejection]
    /// Per ingress rule, how many records it allowed or refused.
    public var rules: [String: Int]
    /// Per kind, fields dropped at ingress because no purpose uses them.
    public var droppedFields: [String: [String]]
    public var auditIndex: Int64
    /// True when this is the stored receipt of an earlier identical submission.
    public var replayed: Bool

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
