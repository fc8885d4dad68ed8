import Foundation
import SightlineCore
import Testing
@testable import SightlineGateway

/// What an LA's IT team deploys: the hardened unit scores "OK" or better with systemd's own
/// analyser, and a scheduled `sightline submit --quiet` prints nothing but problems and exits
/// with the documented codes.
@Suite("Deployment", .serialized)
struct DeploymentTests {
    static let analyser = "/usr/bin/systemd-analyze"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: analyser), "systemd-analyze is not installed here"))
    func theServiceUnitScoresOKOrBetter() async throws {
        let unit = TestPartnership.repoRoot + "/ops/systemd/sightline-gateway.service"
        let (_, output) = try await runTool(Self.analyser, ["security", "--offline=true", "--no-pager", unit])
        let line = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(output.suffix(500))")
        let words = line.split(separator: " ")
        let score = try #require(words.compactMap { Double($0) }.last)
        print("systemd-analyze security: \(line)")
        #expect(score < 2.0, "exposure \(score): \(line)")
        #expect(line.contains("OK") || line.contains("SAFE"))
    }

    @Test func aQuietScheduledSubmissionPrintsOnlyProblemsAndSubmitsNothingTwice() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let file = p.dir + "/nightly.ndjson"
        let bad = SampleRecords.gp("GP-2", nhs: "9434765919").replacingOccurrences(of: "\"Y12345\"", with: "\"nonsense\"")
        try Data((SampleRecords.gp() + "\n" + bad + "\n").utf8).write(to: URL(fileURLWithPath: file))
        let sightline = TestPartnership.repoRoot + "/.build/debug/sightline"
        try await p.withGateway { gw in
            let args = ["submit", "--quiet", "--gateway", gw.baseURL, "--identity", gp, "--kind", "nhs.gp-registration", file]
            let first = try await runTool(sightline, args)
            #expect(first.status == 3, "completed with a rejected record")
            #expect(first.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "one line, the problem: \(first.output)")
            #expect(first.output.contains("line 2") && first.output.contains("fields.practice") && !first.output.contains("nonsense"))
            let again = try await runTool(sightline, args)
            #expect(again.status == 3)
            #expect(try await gw.state.store.counts().records == 1, "a re-run of the same file stores nothing twice")
        }
    }
}

@Suite("Certificate expiry", .serialized)
struct CertificateExpiryTests {
    @Test func daysUntilExpiryAreMetricsAndSoonIsAWarning() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let soon = try p.identity(TestPartnership.id(.school, "100001"), notValidAfter: Date().addingTimeInterval(10 * 86_400))
        let later = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            #expect(try await gw.request(soon, "GET", "/v1/submissions/sub_none").status == 404)
            #expect(try await gw.request(later, "GET", "/v1/submissions/sub_none").status == 404)
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            let lines = metrics.split(separator: "\n").filter { $0.hasPrefix("sightline_certificate_expiry_days{") }
            func days(_ who: String) -> Double? {
                lines.first { $0.contains("certificate=\"\(who)\"") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            }
            #expect(days("school/100001").map { (9.5...10.1).contains($0) } == true, "\(lines)")
            #expect(days("nhs/Y12345").map { $0 > 300 } == true, "\(lines)")
            #expect(days("gateway") != nil, "\(lines)")
            #expect(p.logs.text.contains("a participant's certificate expires soon"))
            #expect(!p.logs.text.contains("participant=nhs/Y12345 days"))
        }
    }
}
