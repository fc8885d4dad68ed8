import Foundation

/// One entry of the participants file: a certificate is necessary, never sufficient; the
/// participant must also be listed here and active.
public struct Participant: Sendable, Equatable {
    public enum Status: String, Sendable { case active, suspended }
    public let identity: ParticipantIdentity
    public let name: String
    public let status: Status
    /// The DfE LA code the participant belongs to (a partner team's area, a school's LA).
    public let la: String?
    /// Where forwards are pushed (`https://host:port`; the gateway POSTs to /forwards). Without
    /// one, the participant pulls forwards from /v1/inbox.
    public let endpoint: String?

    public init(identity: ParticipantIdentity, name: String, status: Status, la: String?, endpoint: String? = nil) {
        self.identity = identity; self.name = name; self.status = status; self.la = la; self.endpoint = endpoint
    }
}

/// The participants file, loaded at start and again on SIGHUP.
public struct ParticipantRegistry: Sendable {
    public let trustDomain: String
    public let participants: [ParticipantIdentity: Participant]

    public enum Lookup: Sendable, Equatable {
        case active(Participant)
        case inactive(Participant)
        case unknown
        case foreignTrustDomain
    }

    public init(trustDomain: String, participants: [Participant]) {
        self.trustDomain = trustDomain
        self.participants = Dictionary(participants.map { ($0.identity, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func lookup(_ identity: ParticipantIdentity) -> Lookup {
        guard identity.trustDomain == trustDomain else { return .foreignTrustDomain }
        guard let p = participants[identity] else { return .unknown }
        return p.status == .active ? .active(p) : .inactive(p)
    }

    public static func load(path: String) throws(SightlineError) -> ParticipantRegistry {
        let file = try YAMLFile(path: path, code: .participants)
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["trust-domain", "participants"])
        let domain = try root.required("trust-domain", in: rootNode).string().lowercased()
        var list: [Participant] = []
        var seen = Set<ParticipantIdentity>()
        for node in try root.required("participants", in: rootNode).sequence() {
            let d = try node.dictionary(allowedKeys: ["id", "name", "status", "la", "endpoint"])
            let idNode = try d.required("id", in: node)
            guard let identity = ParticipantIdentity(uri: "spiffe://\(domain)/\(try idNode.string())") else {
                throw idNode.error("expected <role>/<id> with role one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), e.g. school/100001")
            }
            guard seen.insert(identity).inserted else { throw idNode.error("participant listed twice") }
            var status = Participant.Status.active
            if let s = d["status"] {
                guard let parsed = Participant.Status(rawValue: try s.string()) else { throw s.error("status is active or suspended") }
                status = parsed
            }
            var endpoint: String? = nil
            if let e = d["endpoint"] {
                let text = try e.string()
                guard let url = URL(string: text), url.scheme == "https", url.host != nil, url.port != nil else {
                    throw e.error("endpoint must be https://host:port")
                }
                endpoint = text
            }
            list.append(Participant(identity: identity, name: try d["name"]?.string() ?? identity.shortName,
                                    status: status, la: try d["la"]?.string(), endpoint: endpoint))
        }
        return ParticipantRegistry(trustDomain: domain, participants: list)
    }

    /// The participants file text for a list (used by dev mode).
    public static func render(trustDomain: String, participants: [Participant]) -> String {
        var out = "# Participants of the partnership. A certificate is necessary, never sufficient: a caller\n"
        out += "# must be listed here with status active. Edit, then send SIGHUP to the gateway to reload.\n"
        out += "trust-domain: \(trustDomain)\nparticipants:\n"
        for p in participants {
            out += "  - id: \(p.identity.shortName)\n    name: \"\(p.name)\"\n    status: \(p.status.rawValue)\n"
            if let la = p.la { out += "    la: \"\(la)\"\n" }
            if let endpoint = p.endpoint { out += "    endpoint: \(endpoint)\n" }
        }
        return out
    }
}
