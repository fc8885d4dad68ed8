/// The identity in a participant's certificate: `spiffe://<trust-domain>/<role>/<id>`.
public struct ParticipantIdentity: Hashable, Sendable, CustomStringConvertible, Codable {
    public let trustDomain: String
    public let role: Role
    public let id: String

    public init(trustDomain: String, role: Role, id: String) {
        self.trustDomain = trustDomain; self.role = role; self.id = id
    }

    /// Parses a SPIFFE URI (`SPIFFEID`'s strict grammar) whose role is a participant role; nil otherwise.
    public init?(uri: String) {
        guard case .success(let spiffe) = SPIFFEID.parse(uri) else { return nil }
        self.init(spiffe)
    }

    /// The participant a SPIFFE ID names, or nil if its first segment is not a participant role.
    public init?(_ spiffe: SPIFFEID) {
        guard let role = Role(rawValue: spiffe.kind) else { return nil }
        self.init(trustDomain: spiffe.trustDomain, role: role, id: spiffe.id)
    }

    public var uri: String { "spiffe://\(trustDomain)/\(role.rawValue)/\(id)" }
    public var description: String { uri }
    /// "school/100001": the short form used in policy files and the participants file.
    public var shortName: String { "\(role.rawValue)/\(id)" }
}
