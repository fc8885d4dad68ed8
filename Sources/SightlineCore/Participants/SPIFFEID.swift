/// A SPIFFE ID as Sightline accepts it: `spiffe://<trust-domain>/<role>/<id>`, exactly two path
/// segments, nothing else. Stricter than the SPIFFE spec where the spec leaves room for confusion:
/// the trust domain is lowercase letters, digits, `-`, `_` and dots between non-empty labels; the
/// first segment is lowercase letters; the id is letters, digits, `-` and `_`. No percent-encoding,
/// port, userinfo, query, fragment, empty or dot segment, and no byte outside ASCII, so two URIs
/// that look alike are always the same identity.
public struct SPIFFEID: Hashable, Sendable, CustomStringConvertible {
    public let trustDomain: String
    /// The first path segment: a participant's role, or `gateway`.
    public let kind: String
    public let id: String

    /// Why a URI is not a Sightline SPIFFE ID; the text says what to issue instead.
    public enum Problem: Error, Hashable, Sendable, CustomStringConvertible {
        case scheme, trustDomain, uppercaseTrustDomain, segments, kind, id

        public var description: String {
            switch self {
            case .scheme: "does not start with spiffe:// (lowercase)"
            case .trustDomain: "trust domain must be non-empty dot-separated labels of a-z, 0-9, '-' and '_' (at most 255 characters), with no port or userinfo"
            case .uppercaseTrustDomain: "trust domain has uppercase letters; SPIFFE trust domains are lowercase"
            case .segments: "path must be exactly /<role>/<id>: no empty, extra or trailing segment, no query or fragment"
            case .kind: "role segment must be lowercase letters"
            case .id: "id must be 1 to 64 letters, digits, '-' or '_'"
            }
        }
    }

    public static func parse(_ uri: String) -> Result<SPIFFEID, Problem> {
        let prefix = "spiffe://"
        guard uri.utf8.starts(with: prefix.utf8) else { return .failure(.scheme) }
        let rest = uri.utf8.dropFirst(prefix.utf8.count)
        let parts = rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard let domain = parts.first, isValidTrustDomain(domain, allowUppercase: true) else { return .failure(.trustDomain) }
        guard isValidTrustDomain(domain, allowUppercase: false) else { return .failure(.uppercaseTrustDomain) }
        guard parts.count == 3 else { return .failure(.segments) }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) else {
            return parts[1].isEmpty ? .failure(.segments) : .failure(.kind)
        }
        guard !parts[2].isEmpty else { return .failure(.segments) }
        guard parts[2].count <= 64, parts[2].allSatisfy(isIDByte) else { return .failure(.id) }
        return .success(SPIFFEID(trustDomain: String(decoding: domain, as: UTF8.self),
                                 kind: String(decoding: parts[1], as: UTF8.self), id: String(decoding: parts[2], as: UTF8.self)))
    }

    public init(trustDomain: String, kind: String, id: String) {
        self.trustDomain = trustDomain; self.kind = kind; self.id = id
    }

    public var uri: String { "spiffe://\(trustDomain)/\(kind)/\(id)" }
    public var description: String { uri }

    static func isIDByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    static func isValidTrustDomain(_ s: Substring.UTF8View, allowUppercase: Bool) -> Bool {
        guard !s.isEmpty, s.count <= 255 else { return false }
        let labels = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
                    || (allowUppercase && c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            }
        }
    }
}
