import Foundation
import SightlineCore
import Testing

/// `sightline policy explain` shows a DPO which records count as one child: the linkage
/// thresholds and weights the gateway would use, read from the same policy files.
@Suite("Policy explain")
struct PolicyExplainTests {
    @Test func showsTheLinkageThresholdsAndWeights() async throws {
        let policy = TestPartnership.repoRoot + "/Policies"
        let model = try PolicyLoader.load(directory: policy).linkage
        let (status, out) = try await runTool(TestPartnership.repoRoot + "/.build/debug/sightline",
                                              ["policy", "explain", "--policy", policy, "--purpose", "cme", "--participant", "partner/304-cme"])
        #expect(status == 0, "\(out)")
        func w(_ x: Double) -> String { (x >= 0 ? "+" : "") + String(format: "%.1f", x) }
        #expect(out.contains("joins a child at a score of \(w(model.join)) or more"), "\(out)")
        #expect(out.contains("from \(w(model.review)) to below"), "\(out)")
        let dob = try #require(model.fields[.dateOfBirth]?.levels[.exact])
        #expect(out.contains("dateOfBirth: exact \(w(dob.weight))"), "\(out)")
        #expect(out.contains("adds \(w(model.addressWithinPostcode.weight))"), "\(out)")
    }
}
