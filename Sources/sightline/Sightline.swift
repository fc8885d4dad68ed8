import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

@main
struct Sightline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightline",
        abstract: "Sightline's tool for agencies, partners and auditors.",
        discussion: "Exit codes: 0 success; 1 failure; 3 completed with rejected records; 64 usage error.",
        subcommands: [Submit.self, Match.self, SubjectCommand.self, Report.self, Inbox.self, RoutingCommand.self, ReviewCommand.self, EnquiryCommand.self, DPOCommand.self, AuditCommand.self, Keys.self, Certs.self, PolicyCommand.self, PartnerCommand.self])
}

/// Options every command that talks to the gateway takes.
struct GatewayOptions: ParsableArguments {
    @Option(help: "Gateway base URL.") var gateway = "https://127.0.0.1:8443"
    @Option(help: "Identity directory holding cert.pem, key.pem and ca.pem.") var identity: String
    @Flag(help: "Machine-readable JSON output.") var json = false

    func client() throws -> GatewayClient {
        do { return try GatewayClient(baseURL: gateway, identityDirectory: identity) } catch { fail(error.message) }
    }
}

/// Prints to standard error and exits 1: for failures the user must fix.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("sightline: \(message)\n".utf8))
    Foundation.exit(1)
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}
