import Crypto
import Foundation

/// One decision of the gateway, as recorded in the append-only audit log. Carries internal
/// subject ids and digests, never identifiers or record contents.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var time: Date
    /// The participant ("school/100001"), or "unauthenticated" for a caller without an identity.
    public var actor: String
    /// What was attempted: "submission", "request", "submission.read", ...
    public var action: String
    public var purpose: String?
    public var policyVersion: String
    public var decision: PolicyDecision.Effect
    /// The rule that made the decision (a policy rule name, or a gateway rule such as "participant-active").
    public var rule: String
    public var counts: [String: Int]
    public var subjects: [Int64]
    /// What the request was, without what it said: a keyed HMAC (`hmac:<key id>:<hex>`, see
    /// RequestDigester) of the request body or of its method and path, or `forward:<id>` for a
    /// forward's events. Never an unkeyed hash of anything an agency sent.
    public var requestDigest: String
    /// Further non-identifying facts: rule per record outcome, dropped field names, submission id.
    public var detail: [String: String]

    public init(time: Date, actor: String, action: String, purpose: String? = nil, policyVersion: String,
                decision: PolicyDecision.Effect, rule: String, counts: [String: Int] = [:], subjects: [Int64] = [],
                requestDigest: String, detail: [String: String] = [:]) {
        self.time = time; self.actor = actor; self.action = action; self.purpose = purpose
        self.policyVersion = policyVersion; self.decision = decision; self.rule = rule; self.counts = counts
        self.subjects = subjects; self.requestDigest = requestDigest; self.detail = detail
    }

    /// The canonical bytes that are hashed: sorted-key JSON, times to the second.
    public func canonicalBytes() -> Data {
        var copy = self
        copy.time = Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
        return (try? CanonicalJSON.encode(copy)) ?? Data()
    }

    /// The requestDigest of a forward's events: the forward's public id, a value the gateway made.
    public static func forwardReference(_ publicID: String) -> String { "forward:\(publicID)" }

    public static func decode(canonical: Data) throws -> AuditEntry {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(AuditEntry.self, from: canonical)
    }
}

/// Hashing of the log: RFC 9162 leaf hashes, chained so that changing, removing or reordering
/// any entry changes every later chain hash.
public enum AuditHash {
    /// SHA-256(0x00 || entry), the RFC 9162 leaf hash.
    public static func leaf(_ entry: Data) -> Data {
        var h = SHA256()
        h.update(data: [0])
        h.update(data: entry)
        return Data(h.finalize())
    }

    /// SHA-256(previous chain hash || leaf hash); the first entry chains from 32 zero bytes.
    public static func chain(previous: Data, leaf: Data) -> Data {
        var h = SHA256()
        h.update(data: previous)
        h.update(data: leaf)
        return Data(h.finalize())
    }

    public static let genesis = Data(repeating: 0, count: 32)
}
