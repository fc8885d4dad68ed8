import Foundation
import SightlineCore
import Testing
@testable import SightlineGateway

/// The system OpenSSL is a second, independent TLS and PKI stack: certificates it makes, from a
/// CA it makes, must work when that CA is the configured trust root.
@Suite("openssl-made certificates", .serialized)
struct OpenSSLInteropTests {
    @Test func certificateFromAnOpenSSLCAIsAccepted() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let script = TestPartnership.repoRoot + "/certs/openssl-pki.sh"
        let caDir = p.dir + "/openssl-ca", identity = p.dir + "/openssl-school"
        let made = try await runTool("/bin/bash", [script, "init-ca", caDir])
        #expect(made.status == 0, "\(made.output)")
        let issued = try await runTool("/bin/bash", [script, "issue", caDir, TestPartnership.trustDomain, "school", "100001", identity])
        #expect(issued.status == 0, "\(issued.output)")
        // The recipe gives serverAuth only to a participant that receives pushes.
        let usage = try await runTool(which("openssl"), ["x509", "-in", identity + "/cert.pem", "-noout", "-ext", "extendedKeyUsage"])
        #expect(usage.output.contains("TLS Web Client Authentication") && !usage.output.contains("Server"), "\(usage.output)")
        let serving = p.dir + "/openssl-serving-school"
        #expect(try await runTool("/bin/bash", [script, "issue", caDir, TestPartnership.trustDomain, "school", "100002", serving, "serves"]).status == 0)
        let servingUsage = try await runTool(which("openssl"), ["x509", "-in", serving + "/cert.pem", "-noout", "-ext", "extendedKeyUsage"])
        #expect(servingUsage.output.contains("TLS Web Server Authentication"), "\(servingUsage.output)")
        // The gateway now trusts the openssl CA for clients; its own server certificate stays
        // from the swift-certificates CA, which the client uses to verify the gateway.
        p.config.tls.ca = caDir + "/ca.pem"
        try Data(contentsOf: URL(fileURLWithPath: p.dir + "/ca/ca.pem")).write(to: URL(fileURLWithPath: identity + "/ca.pem"))
        let partnership = p
        try await partnership.withGateway { gw in
            let r = try await gw.request(identity, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            #expect(r.status == 201, "\(String(decoding: r.body, as: UTF8.self))")
            // A certificate from the swift-certificates CA is no longer trusted: the roots are exactly the configured file.
            let other = try partnership.identity(TestPartnership.id(.school, "100001"))
            await expectHandshakeRefused { try await gw.request(other, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("X-2").utf8)) }
        }
    }
}
