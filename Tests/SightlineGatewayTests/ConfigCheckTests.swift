import Foundation
import SightlineCore
import Testing
@testable import SightlineGateway

/// `sightline-gateway check`: a dev partnership checks clean; each thing the gateway would refuse
/// at start is found without starting, with its fix.
@Suite("Config check", .serialized)
struct ConfigCheckTests {
    static func devState() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-check-\(UUID().uuidString)").path
        _ = try DevEnvironment.prepare(stateDir: dir, policyDirectory: TestPartnership.repoRoot + "/Policies", port: 0, opsPort: 0)
        return dir
    }

    @Test func aDevPartnershipChecksClean() async throws {
        let dir = try Self.devState(); defer { try? FileManager.default.removeItem(atPath: dir) }
        let findings = await ConfigCheck.run(configPath: dir + "/gateway.yaml")
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test func eachProblemIsFoundWithItsFix() async throws {
        let dir = try Self.devState(); defer { try? FileManager.default.removeItem(atPath: dir) }
        // A readable key file, a participant's certificate in place of the gateway's, a broken participants file.
        chmod(dir + "/keys.json", 0o644)
        try FileManager.default.removeItem(atPath: dir + "/gateway/cert.pem")
        try FileManager.default.copyItem(atPath: dir + "/identities/school-100001/cert.pem", toPath: dir + "/gateway/cert.pem")
        try Data("participants: [".utf8).write(to: URL(fileURLWithPath: dir + "/participants.yaml"))
        let findings = await ConfigCheck.run(configPath: dir + "/gateway.yaml").filter { $0.severity == .problem }
        let text = findings.map(\.description).joined(separator: "\n")
        #expect(findings.contains { $0.fix == "chmod 600 \(dir)/keys.json" }, "\(text)")
        #expect(findings.contains { $0.what.contains("participants") }, "\(text)")
        #expect(findings.contains { $0.what.contains("tls.key") && $0.what.contains("not the key") }, "the school's certificate is not the gateway key's: \(text)")
        // With the participants file back, the trust domain is known and the wrong identity is named.
        try FileManager.default.removeItem(atPath: dir + "/participants.yaml")
        _ = try DevEnvironment.prepare(stateDir: dir, policyDirectory: TestPartnership.repoRoot + "/Policies", port: 0, opsPort: 0)
        let again = await ConfigCheck.run(configPath: dir + "/gateway.yaml").filter { $0.severity == .problem }
        #expect(again.contains { $0.fix.contains("spiffe://brent.sightline/gateway/") }, "\(again)")
    }

    @Test func aConfigThatDoesNotLoadIsOneProblem() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
        try Data("listen: [nonsense\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let findings = await ConfigCheck.run(configPath: path)
        #expect(findings.count == 1 && findings[0].severity == .problem)
    }
}
