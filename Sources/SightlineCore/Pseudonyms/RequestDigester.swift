import Crypto
import Foundation

/// Digests of data an agency sent, as kept in the audit log, the submissions table and logs:
/// HMAC-SHA256 under the key file's digest key, named by its key id.
///
/// Never an unkeyed hash: a match request or a one-record submission is small and predictable,
/// and SHA-256 of it is reversed by enumerating the roughly 10^9 NHS numbers in seconds. With
/// the key held by the gateway alone, a digest only lets someone who holds the same bytes (and
/// asks the gateway) confirm them.
public struct RequestDigester: Sendable {
    private let hmac: HMAC<SHA256>
    public let keyID: String

    public init(keys: KeyMaterial) {
        hmac = HMAC<SHA256>(key: keys.digestKey)
        keyID = keys.digestKeyID
    }

    /// `hmac:<key id>:<hex>`; `domain` separates digests of different things (a body, an
    /// idempotency key) so that one can never stand in for another.
    public func digest(_ domain: String, _ data: some DataProtocol) -> String {
        var h = hmac
        h.update(data: Data(domain.utf8))
        h.update(data: [0])
        h.update(data: data)
        return "hmac:\(keyID):" + Data(h.finalize()).hexString
    }

    public func digest(_ domain: String, text: String) -> String { digest(domain, Data(text.utf8)) }
}
