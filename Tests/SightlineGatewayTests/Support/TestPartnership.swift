import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SightlineClient
import SightlineCore
@testable import SightlineGateway

/// A real partnership in a temporary directory: a CA made with swift-certificates, a gateway
/// certificate, a key file, a participants file and identities. Generated per run, never committed.
final class TestPartnership: @unchecked Sendable {
    static let trustDomain = "test.sightline"
    let dir: String
    let ca: PartnershipCA
    var config: GatewayConfig
    let logs = LogCapture()

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let participants: [Participant] = [
        .init(identity: id(.school, "100001"), name: "School", status: .active, la: "304"),
        .init(identity: id(.nhs, "Y12345"), name: "GP", status: .active, la: "304"),
        .init(identity: id(.housing, "brent"), name: "Housing", status: .active, la: "304"),
        .init(identity: id(.police, "MPS"), name: "Police", status: .active, la: "304"),
        .init(identity: id(.la, "304"), name: "LA", status: .active, la: "304"),
        .init(identity: id(.school, "100002"), name: "Second school", status: .active, la: "304"),
        .init(identity: id(.school, "100003"), name: "Third school", status: .active, la: "304"),
        .init(identity: id(.school, "100009"), name: "Suspended school", status: .suspended, la: "304"),
        .init(identity: id(.steward, "304"), name: "Steward", status: .active, la: "304"),
        .init(identity: id(.partner, "304-cme"), name: "CME team", status: .active, la: "304"),
    ]

    static func id(_ role: Role, _ id: String) -> ParticipantIdentity {
        ParticipantIdentity(trustDomain: trustDomain, role: role, id: id)
    }

    init(maxBodyBytes: Int? = nil) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ca = try PartnershipCA.create(name: "Test CA")
        try DevEnvironment.writeCA(ca, to: dir + "/ca")
        try IdentityDirectory.write(try ca.issueGateway(trustDomain: Self.trustDomain, hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]),
                                    caPEM: ca.certificatePEM, to: dir + "/gateway")
        try KeyMaterial.generate().write(to: dir + "/keys.json")
        try Data(ParticipantRegistry.render(trustDomain: Self.trustDomain, participants: Self.participants).utf8)
            .write(to: URL(fileURLWithPath: dir + "/participants.yaml"))
        config = GatewayConfig(tls: .init(certificate: dir + "/gateway/cert.pem", key: dir + "/gateway/key.pem", ca: dir + "/ca/ca.pem"),
                               keysPath: dir + "/keys.json", participantsPath: dir + "/participants.yaml",
                               policyDirectory: Self.repoRoot + "/Policies", databasePath: dir + "/sightline.sqlite")
        config.listen = .init(host: "127.0.0.1", port: 0)
        config.ops = .init(host: "127.0.0.1", port: 0)
        config.localAuthorities = [DevEnvironment.brent]
        if let maxBodyBytes { config.limits.maxBodyBytes = maxBodyBytes }
    }

    /// Writes an identity directory for `identity`, issued by this partnership's CA unless told
    /// otherwise; `serves` adds serverAuth, for a participant that runs `sightline partner listen`.
    func identity(_ identity: ParticipantIdentity, issuer: PartnershipCA? = nil, serves: Bool = false,
                  notValidBefore: Date? = nil, notValidAfter: Date? = nil) throws -> String {
        let issuer = issuer ?? ca
        let path = "\(dir)/identities/\(identity.role.rawValue)-\(identity.id)-\(UUID().uuidString.prefix(6))"
        let issued = try issuer.issueParticipant(identity, serves: serves, notValidBefore: notValidBefore, notValidAfter: notValidAfter)
        // ca.pem is always this partnership's CA: it is what the client uses to verify the gateway.
        try IdentityDirectory.write(issued, caPEM: ca.certificatePEM, to: path)
        return path
    }

    /// Starts the gateway in-process, runs `body` with the API and ops ports, then drains it.
    func withGateway<T: Sendable>(_ body: @Sendable (RunningGateway) async throws -> T) async throws -> T {
        let ports = AsyncStream<(Int, Int)>.makeStream()
        var logger = Logger(label: "test-gateway") { _ in LogCaptureHandler(capture: self.logs) }
        logger.logLevel = .trace
        let gateway = try Gateway.load(config: config, logger: logger) { api, ops in ports.continuation.yield((api, ops)) }
        let group = gateway.serviceGroup(gracefulShutdownSignals: [])
        let runner = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let (api, ops) = await iterator.next() else { throw TestFailure("gateway did not start") }
        // Serving starts once the key file has been checked against the database (KeyRotationService).
        for _ in 0..<1000 where !gateway.state.keysResumed { try await Task.sleep(for: .milliseconds(10)) }
        let running = RunningGateway(partnership: self, gateway: gateway, apiPort: api, opsPort: ops)
        do {
            let result = try await body(running)
            await group.triggerGracefulShutdown()
            try await runner.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await runner.value
            throw error
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

struct RunningGateway: Sendable {
    let partnership: TestPartnership
    let gateway: Gateway
    let apiPort: Int
    let opsPort: Int
    var baseURL: String { "https://127.0.0.1:\(apiPort)" }
    var state: GatewayState { gateway.state }

    func client(_ identityDir: String) throws -> GatewayClient {
        try GatewayClient(baseURL: baseURL, identityDirectory: identityDir)
    }

    /// One request with a fresh client (so each test sees its own TLS handshake).
    func request(_ identityDir: String, _ method: String, _ path: String, body: Data? = nil, headers: [(String, String)] = []) async throws -> GatewayClient.Response {
        let client = try client(identityDir)
        do {
            let response = try await client.request(.init(rawValue: method), path, body: body, headers: headers, timeout: .seconds(30))
            try await client.shutdown()
            return response
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Every log line the gateway writes, to check that none carries an identifier.
final class LogCapture: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
    var text: String { lines.withLockedValue { $0.joined(separator: "\n") } }
}

struct LogCaptureHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        capture.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
    }
}

/// Runs a command-line tool (curl, openssl) and returns its exit status and output.
///
/// The blocking wait happens on a Dispatch thread, never on Swift's cooperative pool: on a
/// 2-core machine two tests blocking there would starve the in-process gateway they talk to.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], input: Data? = nil) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do { continuation.resume(returning: try runToolBlocking(executable, arguments, input: input)) } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

private func runToolBlocking(_ executable: String, _ arguments: [String], input: Data?) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(input) }
    try? stdin.fileHandleForWriting.close()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Waits for a child process without blocking a cooperative thread.
func waitForExit(_ process: Process) async {
    while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
}

func which(_ tool: String) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
        return "\(dir)/\(tool)"
    }
    return "/usr/bin/\(tool)"
}

extension Data {
    init(ndjson lines: [String]) { self.init(lines.joined(separator: "\n").utf8) }
}

/// A port nothing listens on right now: bound to 127.0.0.1:0 by the kernel, then released.
/// (Random ports collided with other processes on a busy machine.)
func freeLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
