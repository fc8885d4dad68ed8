/// The identity in a participant's certificate: `spiffe://<trust-domain>/<role>/<id>`.
public struct ParticipantIdentity: Hashable, Sendable, CustomStringConvertible, Codable {
    public let trustDomain: String
    public let role: Role
    public let id: String

    public init(trustDomain: String, role: Role, id: String) {
        self.trustDomain = trustDomain; self.role = role; self.id = id
    }

    /// Parses a SPIFFE URI; nil unless it has exactly a trust domain, a known role and an id.
    public init?(uri: String) {
        let prefix = "spiffe://"
        guard uri.hasPrefix(prefix) else { return nil }
        let parts = uri.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let role = Role(rawValue: String(parts[1])),
              ParticipantIdentity.isValidSegment(parts[0], allowDots: true),
              ParticipantIdentity.isValidSegment(parts[2], allowDots: false)
        else { return nil }
        self.init(trustDomain: String(parts[0]).lowercased(), role: role, id: String(parts[2]))
    }

    public var uri: String { "spiffe://\(trustDomain)/\(role.rawValue)/\(id)" }
    public var description: String { uri }
    /// "school/100001": the short form used in policy files and the participants file.
    public var shortName: String { "\(role.rawValue)/\(id)" }

    static func isValidSegment(_ s: Substring, allowDots: Bool) -> Bool {
        guard !s.isEmpty, s.count <= 64 else { return false }
        return s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
                || (allowDots && c == ".")
        }
    }
}
