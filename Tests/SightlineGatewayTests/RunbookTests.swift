import Foundation
import Testing

/// ops/RUNBOOK.md promises that each procedure is a list of commands that has run: its check
/// script cuts every ```sh block out of the page and runs the ones it marks `# check: run` (and the
/// drills that must fail) against a real gateway in a temporary directory, so a command that stops
/// working, or a block added without a `# check:` line, fails here.
@Suite("Runbook")
struct RunbookTests {
    /// What the runbook's procedures use beyond the build's own needs (sqlite3 for backups, gnupg to
    /// encrypt them, iproute2's ss to find who holds a port).
    static let tools = ["sqlite3", "gpg", "ss", "openssl", "curl"]
    static var missingTools: [String] {
        tools.filter { tool in
            !["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
    }

    @Test(.enabled(if: missingTools.isEmpty, "the runbook needs sqlite3, gnupg and iproute2 installed"), .timeLimit(.minutes(3)))
    func everyCheckedBlockOfTheRunbookRuns() async throws {
        let script = TestPartnership.repoRoot + "/ops/runbook/check.sh"
        let (status, output) = try await runTool("/bin/bash", [script])
        #expect(status == 0, "ops/runbook/check.sh exited \(status):\n\(output.suffix(4000))")
        let summary = output.split(separator: "\n").filter { $0.hasPrefix("check: ") }
        #expect(summary.contains { $0.hasPrefix("check: OK") }, "\(summary)")
        print(summary.joined(separator: "\n"))
    }
}
