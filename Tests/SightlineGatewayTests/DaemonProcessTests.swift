import Foundation
import SightlineClient
import SightlineCore
import Testing

/// The `sightline-gateway` executable as an operator runs it: dev mode, SIGHUP reload, SIGTERM
/// drain, and refusals to start that name the fix.
@Suite("sightline-gateway process", .serialized)
struct DaemonProcessTests {
    static let binary = TestPartnership.repoRoot + "/.build/debug/sightline-gateway"

    final class Daemon: @unchecked Sendable {
        let process = Process()
        let output = Pipe()
        let state: String
        let port: Int
        let opsPort: Int

        init(state: String, extra: [String] = [], port: Int = freeLocalPort(), opsPort: Int = freeLocalPort()) throws {
            self.state = state
            self.port = port
            self.opsPort = opsPort
            process.executableURL = URL(fileURLWithPath: DaemonProcessTests.binary)
            process.arguments = ["serve", "--dev", "--state", state, "--port", "\(port)", "--ops-port", "\(opsPort)",
                                 "--policy", TestPartnership.repoRoot + "/Policies"] + extra
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        func waitReady() async throws {
            for _ in 0..<150 {
                if !process.isRunning { throw TestFailure("gateway exited: \(outputText())") }
                let (status, out) = try await runTool(which("curl"), ["-s", "http://127.0.0.1:\(opsPort)/readyz"])
                if status == 0 && out.hasPrefix("ready") { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("gateway not ready")
        }

        func outputText() -> String { String(decoding: output.fileHandleForReading.availableData, as: UTF8.self) }
        func signal(_ s: Int32) { kill(process.processIdentifier, s) }
    }

    static func submit(_ identity: String, port: Int, localRef: String) async throws -> Int {
        let client = try GatewayClient(baseURL: "https://127.0.0.1:\(port)", identityDirectory: identity)
        defer { Task { try? await client.shutdown() } }
        return try await client.request(.POST, "/v1/submissions", body: Data(SampleRecords.enrolment(localRef).utf8)).status
    }

    @Test func devModeServesReloadsOnSIGHUPAndDrainsOnSIGTERM() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-daemon-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let daemon = try Daemon(state: state)
        try await daemon.waitReady()
        for dir in ["school-100001", "nhs-Y12345", "police-MPS", "housing-brent", "la-304", "partner-304-cme", "auditor-dpo"] {
            for file in ["cert.pem", "key.pem", "ca.pem"] {
                #expect(FileManager.default.fileExists(atPath: "\(state)/identities/\(dir)/\(file)"), "\(dir)/\(file)")
            }
        }
        let keyMode = try FileManager.default.attributesOfItem(atPath: state + "/keys.json")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        let school = state + "/identities/school-100001"
        #expect(try await Self.submit(school, port: daemon.port, localRef: "R-1") == 201)

        // Suspend the school in the participants file and send SIGHUP: refused without a restart.
        let participants = state + "/participants.yaml"
        let text = try String(contentsOfFile: participants, encoding: .utf8)
        let edited = text.replacingOccurrences(of: "  - id: school/100001\n    name: \"Brent Example Primary School\"\n    status: active",
                                               with: "  - id: school/100001\n    name: \"Brent Example Primary School\"\n    status: suspended")
        #expect(edited != text)
        try edited.write(toFile: participants, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        var status = 0
        for _ in 0..<50 {
            status = try await Self.submit(school, port: daemon.port, localRef: "R-2")
            if status == 403 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == 403)
        #expect(daemon.process.isRunning)

        daemon.signal(SIGTERM)
        await waitForExit(daemon.process)
        #expect(daemon.process.terminationStatus == 0)
        #expect(daemon.outputText().contains("stopped"))
    }

    /// `sightline-gateway backup` while the daemon serves and a school keeps submitting: the copy
    /// verifies with `sightline audit verify --database`, holds no raw identifier, and a restore
    /// (the copy as the state's database) serves the children it held.
    @Test func backupWhileServingVerifiesAndRestores() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-daemon-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let daemon = try Daemon(state: state)
        try await daemon.waitReady()
        let school = state + "/identities/school-100001"
        #expect(try await Self.submit(school, port: daemon.port, localRef: "R-1") == 201)
        let writing = Task {
            for i in 2...30 { _ = try await Self.submit(school, port: daemon.port, localRef: "R-\(i)") }
        }
        let out = state + "/backup-1.sqlite"
        let (status, text) = try await runTool(Self.binary, ["backup", "--state", state, "--out", out])
        try await writing.value
        #expect(status == 0, "\(text)")
        #expect(text.contains("backup written: \(out)") && text.contains("quick_check: ok"), "\(text)")
        #expect(try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int == 0o600)
        let again = try await runTool(Self.binary, ["backup", "--state", state, "--out", out])
        #expect(again.status == 1 && again.output.contains("already exists"), "\(again.output)")

        let sightline = TestPartnership.repoRoot + "/.build/debug/sightline"
        let verify = try await runTool(sightline, ["audit", "verify", "--database", out])
        #expect(verify.status == 0 && verify.output.contains("audit log OK"), "\(verify.output)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        for raw in ["Amara", "AMARA", "Okafor", "OKAFOR", "H801200001001", "2014-03-02", "NW6 4DP"] {
            #expect(bytes.range(of: Data(raw.utf8)) == nil, "the backup holds \(raw)")
        }
        daemon.signal(SIGTERM)
        await waitForExit(daemon.process)

        // Restore: the backup in the database's place (its -wal and -shm gone with the old file).
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: state + "/sightline.sqlite" + suffix) }
        try FileManager.default.copyItem(atPath: out, toPath: state + "/sightline.sqlite")
        let restored = try Daemon(state: state)
        try await restored.waitReady()
        #expect(try await Self.submit(school, port: restored.port, localRef: "R-restored") == 201, "the restored gateway serves")
        let afterRestore = try await runTool(sightline, ["audit", "verify", "--database", state + "/sightline.sqlite"])
        #expect(afterRestore.status == 0 && afterRestore.output.contains("audit log OK"), "\(afterRestore.output)")
        restored.signal(SIGTERM)
        await waitForExit(restored.process)
    }

    @Test func refusesToStartOnAKeyFileOthersCanRead() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-daemon-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let first = try Daemon(state: state)
        try await first.waitReady()
        first.signal(SIGTERM)
        await waitForExit(first.process)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: state + "/keys.json")
        let second = try Daemon(state: state)
        await waitForExit(second.process)
        #expect(second.process.terminationStatus == 1)
        let text = second.outputText()
        #expect(text.contains("chmod 600 \(state)/keys.json"), "\(text)")
    }

    @Test func refusesToStartOnABadPolicyNamingFileAndLine() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-daemon-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let policy = state + "-policy"
        defer { try? FileManager.default.removeItem(atPath: policy) }
        try FileManager.default.copyItem(atPath: TestPartnership.repoRoot + "/Policies", toPath: policy)
        let cme = policy + "/purposes/cme.yaml"
        let text = try String(contentsOfFile: cme, encoding: .utf8)
        try text.replacingOccurrences(of: "[onRollFrom, offRollOn, offRollReason]", with: "[onRollFrom, offRollDate]")
            .write(toFile: cme, atomically: true, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("school.enrolment:") }! + 1
        let daemon = try Daemon(state: state, extra: ["--policy", policy])
        await waitForExit(daemon.process)
        #expect(daemon.process.terminationStatus == 1)
        let out = daemon.outputText()
        #expect(out.contains("cme.yaml:\(line):"), "\(out)")
        #expect(out.contains("'offRollDate' is not a field of school.enrolment"), "\(out)")
    }
}
