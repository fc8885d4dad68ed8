import Foundation
import SightlineCore

/// `serve --dev --state DIR`: a complete local partnership in one folder, created if missing:
/// a CA, the gateway's certificate, a key file, a participants file, a config, and one client
/// identity per role under DIR/identities/<role>-<id>/ (cert.pem, key.pem, ca.pem).
public enum DevEnvironment {
    public static let trustDomain = "brent.sightline"
    /// Brent, DfE LA code 304, and its postcode districts.
    public static let brent = GatewayConfig.LocalAuthority(
        code: "304", name: "Brent", districts: ["HA0", "HA1", "HA3", "HA8", "HA9", "NW2", "NW6", "NW9", "NW10", "W9", "W10"])

    public static let participants: [Participant] = [
        .init(identity: id(.school, "100001"), name: "Brent Example Primary School", status: .active, la: "304"),
        .init(identity: id(.school, "100002"), name: "Brent Example Academy", status: .active, la: "304"),
        .init(identity: id(.school, "100003"), name: "Brent Example High School", status: .active, la: "304"),
        .init(identity: id(.nhs, "Y12345"), name: "NHS North West London ICB (GP registrations)", status: .active, la: "304"),
        .init(identity: id(.police, "MPS"), name: "Metropolitan Police Service", status: .active, la: "304"),
        .init(identity: id(.housing, "brent"), name: "Brent Housing", status: .active, la: "304"),
        .init(identity: id(.la, "304"), name: "Brent Council (registers)", status: .active, la: "304"),
        .init(identity: id(.partner, "304-cme"), name: "Brent children missing education team", status: .active, la: "304"),
        .init(identity: id(.partner, "304-mash"), name: "Brent multi-agency safeguarding hub", status: .active, la: "304"),
        .init(identity: id(.steward, "304"), name: "Brent data-quality officer (linkage review)", status: .active, la: "304"),
        .init(identity: id(.auditor, "dpo"), name: "Brent data protection officer", status: .active, la: "304"),
    ]

    /// The one dev participant that receives pushed forwards (Operation Encompass notices) at an
    /// endpoint; every other participant pulls from /v1/inbox, so only its certificate can serve.
    public static let pushReceiver = id(.school, "100001")

    static func id(_ role: Role, _ id: String) -> ParticipantIdentity {
        ParticipantIdentity(trustDomain: trustDomain, role: role, id: id)
    }

    /// Creates whatever is missing under `stateDir` and returns the config to serve with.
    /// Existing files are kept, so a dev state survives restarts.
    public static func prepare(stateDir: String, policyDirectory: String, port: Int, opsPort: Int) throws -> (config: GatewayConfig, created: Bool) {
        let fm = FileManager.default
        let state = URL(fileURLWithPath: stateDir).standardizedFileURL.path
        try fm.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caDir = state + "/ca"
        var created = false

        let ca: PartnershipCA
        if fm.fileExists(atPath: caDir + "/ca.pem") {
            ca = try PartnershipCA.load(directory: caDir)
        } else {
            created = true
            ca = try PartnershipCA.create(name: "Sightline dev CA (\(trustDomain))")
            try writeCA(ca, to: caDir)
        }
        let gatewayDir = state + "/gateway"
        if !fm.fileExists(atPath: gatewayDir + "/cert.pem") {
            let issued = try ca.issueGateway(trustDomain: trustDomain, hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]])
            try IdentityDirectory.write(issued, caPEM: ca.certificatePEM, to: gatewayDir)
        }
        for p in participants {
            let dir = "\(state)/identities/\(p.identity.role.rawValue)-\(p.identity.id)"
            if !fm.fileExists(atPath: dir + "/cert.pem") {
                // serverAuth only for the participant that receives pushes (it has an endpoint below).
                let issued = try ca.issueParticipant(p.identity, serves: p.identity == pushReceiver)
                try IdentityDirectory.write(issued, caPEM: ca.certificatePEM, to: dir)
            }
        }
        let keysPath = state + "/keys.json"
        if !fm.fileExists(atPath: keysPath) { try KeyMaterial.generate().write(to: keysPath) }
        let participantsPath = state + "/participants.yaml"
        if !fm.fileExists(atPath: participantsPath) {
            // The first school receives pushed forwards (Operation Encompass) at the port after the
            // API's: run `sightline partner listen --port <port+1> --identity identities/school-100001`.
            let withEndpoint = participants.map { p in
                p.identity == pushReceiver
                    ? Participant(identity: p.identity, name: p.name, status: p.status, la: p.la, endpoint: "https://127.0.0.1:\(port + 1)")
                    : p
            }
            try Data(ParticipantRegistry.render(trustDomain: trustDomain, participants: withEndpoint).utf8)
                .write(to: URL(fileURLWithPath: participantsPath))
        }
        var config = GatewayConfig(
            tls: .init(certificate: gatewayDir + "/cert.pem", key: gatewayDir + "/key.pem", ca: caDir + "/ca.pem"),
            keysPath: keysPath, participantsPath: participantsPath,
            policyDirectory: URL(fileURLWithPath: policyDirectory).standardizedFileURL.path,
            databasePath: state + "/sightline.sqlite")
        config.listen = .init(host: "127.0.0.1", port: port)
        config.ops = .init(host: "127.0.0.1", port: opsPort)
        config.localAuthorities = [brent]
        try Data(config.render().utf8).write(to: URL(fileURLWithPath: state + "/gateway.yaml"))
        return (config, created)
    }

    public static func writeCA(_ ca: PartnershipCA, to directory: String) throws {
        // Dev only: the CA key beside the gateway. A real partnership keeps it offline (certs/README.md).
        try ca.write(to: directory)
    }
}
