import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SightlineCore
import SightlineTLS
import Testing
import X509
@testable import SightlineClient

/// `sightline partner listen` as the gateway's delivery service sees it: real mTLS on loopback,
/// certificates made per run by a partnership CA, the output file read back after every step.
@Suite("Forward receiver", .serialized)
struct ForwardReceiverTests {
    @Test("a forward is stored once; the same Idempotency-Key again is a duplicate")
    func storesOnceAndRecognisesTheKey() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let logs = LogLines()
        try await ForwardReceiver.withRunning(f.configuration(), logger: logs.logger()) { _, port in
            let first = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "delivery-1")
            #expect(first.status == 200)
            #expect(try first.json()["stored"] as? Bool == true)
            #expect(try f.lines().count == 1)

            let again = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "delivery-1")
            #expect(again.status == 200)
            #expect(try again.json()["duplicate"] as? Bool == true)
            #expect(try f.lines().count == 1)

            let second = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-2"), key: "delivery-2")
            #expect(try second.json()["stored"] as? Bool == true)
        }
        let lines = try f.lines()
        #expect(lines.count == 2)
        let entry = lines[0]
        #expect(entry["idempotencyKey"] as? String == "delivery-1")
        let forward = try #require(entry["forward"] as? [String: Any])
        #expect(forward["forwardId"] as? String == "fw-1")
        #expect(forward["localRef"] as? String == "ADM-0042")
        let receivedAt = try #require(entry["receivedAt"] as? String)
        #expect((try? Date(receivedAt, strategy: .iso8601)) != nil, "receivedAt \(receivedAt) is not ISO 8601")
        // The log names the forward and the key, and nothing from the body.
        #expect(logs.text.contains("fw-1") && logs.text.contains("delivery-1") && logs.text.contains("duplicate"))
        #expect(!logs.text.contains("ADM-0042"))
    }

    @Test("after a restart on the same file the stored keys are still known")
    func keysSurviveARestart() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            let status = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1").status
            #expect(status == 200)
        }
        try await ForwardReceiver.withRunning(f.configuration()) { receiver, port in
            #expect(await receiver.log.contains("k-1"))
            let r = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1")
            #expect(r.status == 200)
            #expect(try r.json()["duplicate"] as? Bool == true)
            #expect(try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-2"), key: "k-2").status == 200)
        }
        #expect(try f.lines().map { $0["idempotencyKey"] as? String } == ["k-1", "k-2"])
    }

    @Test("a participant's certificate (valid, same CA, not the gateway) gets 403 and nothing is written")
    func participantCertificateIsRefused() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let partner = try f.participant(.partner, "304-cme")
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            let r = try await f.post(port: port, identity: partner, body: f.notice("fw-1"), key: "k-1")
            #expect(r.status == 403)
            #expect(try r.json()["error"] as? String == "not-the-gateway")
            // The receiver's own certificate is not the gateway either.
            #expect(try await f.post(port: port, identity: f.receiverDir, body: f.notice("fw-1"), key: "k-1").status == 403)
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("--gateway-identity replaces the default: the default gateway's certificate is then refused")
    func explicitGatewayIdentity() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        var configuration = f.configuration()
        configuration.gatewayIdentity = "spiffe://\(ReceiverFixture.trustDomain)/gateway/other"
        try await ForwardReceiver.withRunning(configuration) { receiver, port in
            #expect(receiver.gatewayIdentity.uri == "spiffe://\(ReceiverFixture.trustDomain)/gateway/other")
            let status = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1").status
            #expect(status == 403)
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("the default gateway identity comes from the trust domain of the receiver's own certificate")
    func defaultGatewayIdentity() throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let receiver = try ForwardReceiver(configuration: f.configuration())
        #expect(receiver.gatewayIdentity.uri == "spiffe://\(ReceiverFixture.trustDomain)/gateway/main")
        #expect(receiver.identity.uri == "spiffe://\(ReceiverFixture.trustDomain)/school/100001")
    }

    @Test("no client certificate fails in TLS; nothing is written")
    func noClientCertificate() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            await #expect(throws: (any Error).self) {
                _ = try await f.post(port: port, identity: nil, body: f.notice("fw-1"), key: "k-1")
            }
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("a gateway certificate from another CA fails in TLS; nothing is written")
    func foreignCA() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let foreign = try PartnershipCA.create(name: "Someone else's CA")
        let impostor = f.dir + "/impostor"
        try IdentityDirectory.write(try foreign.issueGateway(trustDomain: ReceiverFixture.trustDomain, hostnames: [], ipAddresses: []),
                                    caPEM: f.ca.certificatePEM, to: impostor)
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            await #expect(throws: (any Error).self) {
                _ = try await f.post(port: port, identity: impostor, body: f.notice("fw-1"), key: "k-1")
            }
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("bodies that are not one JSON object, or a missing Idempotency-Key, get 400 and nothing is written")
    func badRequests() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            for body in ["not json", "[1,2]", "\"text\"", "{\"a\":1} trailing", ""] {
                let r = try await f.post(port: port, identity: f.gatewayDir, body: Data(body.utf8), key: "k-\(body.count)")
                #expect(r.status == 400, "body \(body)")
            }
            let noKey = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: nil)
            #expect(noKey.status == 400)
            #expect(try noKey.json()["error"] as? String == "idempotency-key")
            let blankKey = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "  ")
            #expect(blankKey.status == 400)
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("when the file cannot be written the answer is 500 (the gateway retries) and the key stays unknown")
    func writeFailureIs500() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { receiver, port in
            await receiver.log.close()
            let r = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1")
            #expect(r.status == 500)
            #expect(try r.json()["stored"] == nil)
            #expect(await !receiver.log.contains("k-1"))
        }
        #expect(try f.fileSize() == 0)
    }

    @Test("a pretty-printed body is stored on one line with its content intact")
    func multiLineBodyStaysOneLine() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let pretty = "{\n  \"forwardId\": \"fw-9\",\r\n  \"note\": \"a \\n b\",\n  \"nested\": {\"n\": 1.50}\n}\n"
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            let status = try await f.post(port: port, identity: f.gatewayDir, body: Data(pretty.utf8), key: "k-9").status
            #expect(status == 200)
        }
        let lines = try f.lines()
        #expect(lines.count == 1)
        let forward = try #require(lines.first?["forward"] as? [String: Any])
        #expect(forward["note"] as? String == "a \n b")
        #expect(forward["forwardId"] as? String == "fw-9")
    }

    @Test("concurrent deliveries, some repeated, are each stored exactly once and every line is whole")
    func concurrentDeliveries() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            try await withThrowingTaskGroup(of: Int.self) { tasks in
                for i in 0..<30 {
                    tasks.addTask { try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-\(i % 10)"), key: "k-\(i % 10)").status }
                }
                for try await status in tasks { #expect(status == 200) }
            }
        }
        let keys = try f.lines().compactMap { $0["idempotencyKey"] as? String }
        #expect(keys.count == 10)
        #expect(Set(keys) == Set((0..<10).map { "k-\($0)" }))
    }

    @Test("a graceful shutdown lets a request in flight finish and be stored")
    func drainsInFlightRequests() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let ports = AsyncStream<Int>.makeStream()
        let receiver = try ForwardReceiver(configuration: f.configuration()) { ports.continuation.yield($0) }
        let group = receiver.serviceGroup(gracefulShutdownSignals: [])
        let running = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let reply = try await f.post(port: port, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1") {
            try await Task.sleep(for: .milliseconds(200))  // the receiver has the head and is reading the body
            await group.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(reply.status == 200)
        try await running.value
        await receiver.log.close()
        #expect(try f.lines().count == 1)
    }

    @Test("a torn last line (never acknowledged) is cut off at start; complete lines and their keys stay")
    func tornTailIsRemoved() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let good = #"{"receivedAt":"2026-01-01T00:00:00Z","idempotencyKey":"k-1","forward":{"forwardId":"fw-1"}}"# + "\n"
        try Data((good + #"{"receivedAt":"2026-01-01T00:00:01Z","idem"#).utf8).write(to: URL(fileURLWithPath: f.outPath))
        let log = try ForwardLog(path: f.outPath)
        #expect(await log.contains("k-1"))
        #expect(try await log.append(idempotencyKey: "k-1", forward: f.notice("fw-1")) == .duplicate)
        #expect(try await log.append(idempotencyKey: "k-2", forward: f.notice("fw-2")) == .stored)
        await log.close()
        #expect(try f.lines().compactMap { $0["idempotencyKey"] as? String } == ["k-1", "k-2"])
    }

    @Test("a complete line that is not a stored forward stops the start, naming file and line")
    func corruptLineStopsTheStart() throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let good = #"{"receivedAt":"2026-01-01T00:00:00Z","idempotencyKey":"k-1","forward":{}}"#
        try Data((good + "\nnot a forward\n" + good + "\n").utf8).write(to: URL(fileURLWithPath: f.outPath))
        do {
            _ = try ForwardLog(path: f.outPath)
            Issue.record("a corrupt file must stop the start")
        } catch {
            #expect(error.message.contains("line 2") && error.message.contains(f.outPath))
        }
    }

    @Test("a second receiver on the same file is refused while the first runs")
    func oneReceiverPerFile() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, _ in
            #expect(throws: SightlineError.self) { _ = try ForwardReceiver(configuration: f.configuration()) }
        }
        // Released on shutdown.
        _ = try ForwardLog(path: f.outPath)
    }

    @Test("a lock let go within the wait is taken (a restart at once); one held past it is refused")
    func lockReleasedWithinTheWait() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        // Another open file description holds the lock, as a process being spawned briefly does.
        let other = open(f.outPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(other >= 0 && flock(other, LOCK_EX | LOCK_NB) == 0)
        #expect(throws: SightlineError.self) { _ = try ForwardLog(path: f.outPath, lockWait: .milliseconds(100)) }
        let release = Task.detached { try await Task.sleep(for: .milliseconds(300)); close(other) }
        let started = ContinuousClock.now
        let log = try ForwardLog(path: f.outPath, lockWait: .seconds(5))
        #expect(ContinuousClock.now - started >= .milliseconds(200), "it waited for the holder")
        try await release.value
        #expect(try await log.append(idempotencyKey: "k-1", forward: f.notice("fw-1")) == .stored)
        await log.close()
    }

    @Test("a port already in use is an error, not a hang")
    func portInUse() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        try await ForwardReceiver.withRunning(f.configuration()) { _, port in
            var second = f.configuration()
            second.outputPath = f.dir + "/other.ndjson"
            second.port = port
            await #expect(throws: (any Error).self) {
                try await ForwardReceiver.withRunning(second) { _, _ in }
            }
        }
    }

    @Test("a new output file is created with mode 0600")
    func outputFileMode() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let log = try ForwardLog(path: f.outPath)
        await log.close()
        let mode = try FileManager.default.attributesOfItem(atPath: f.outPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("`sightline partner listen` prints its port, stores a forward, and exits 0 on SIGTERM")
    func commandLine() async throws {
        let f = try ReceiverFixture(); defer { f.remove() }
        let binary = ReceiverFixture.repoRoot + "/.build/debug/sightline"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build first: swift build --build-tests")
        let stdout = f.dir + "/stdout", stderr = f.dir + "/stderr"
        #expect(FileManager.default.createFile(atPath: stdout, contents: nil))
        #expect(FileManager.default.createFile(atPath: stderr, contents: nil))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["partner", "listen", "--port", "0", "--identity", f.receiverDir, "--out", f.outPath]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var port: Int?
        for _ in 0..<100 where port == nil {
            let text = try String(contentsOfFile: stdout, encoding: .utf8)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on https://127.0.0.1:") }) {
                port = Int(line.dropFirst("listening on https://127.0.0.1:".count).prefix { $0.isNumber })
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let bound = try #require(port, "no listening line; stderr: \((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
        #expect(try await f.post(port: bound, identity: f.gatewayDir, body: f.notice("fw-1"), key: "k-1").status == 200)

        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        #expect(try f.lines().count == 1)
        let stderrText = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(stderrText.contains("forward stored") && stderrText.contains("fw-1") && stderrText.contains("k-1"))
        #expect(try String(contentsOfFile: stdout, encoding: .utf8).split(separator: "\n").count == 1)
    }
}

/// A CA, a gateway identity, a receiver identity (a school) and an output path in a temporary directory.
struct ReceiverFixture: Sendable {
    static let trustDomain = "test.sightline"
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let dir: String
    let ca: PartnershipCA
    let gatewayDir: String
    let receiverDir: String
    let outPath: String
    let receiverIdentity = ParticipantIdentity(trustDomain: ReceiverFixture.trustDomain, role: .school, id: "100001")

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-receiver-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ca = try PartnershipCA.create(name: "Test CA")
        gatewayDir = dir + "/gateway"
        try IdentityDirectory.write(try ca.issueGateway(trustDomain: Self.trustDomain, hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]),
                                    caPEM: ca.certificatePEM, to: gatewayDir)
        receiverDir = dir + "/school-100001"
        try IdentityDirectory.write(try ca.issueParticipant(receiverIdentity, serves: true), caPEM: ca.certificatePEM, to: receiverDir)
        outPath = dir + "/forwards.ndjson"
    }

    func participant(_ role: Role, _ id: String) throws -> String {
        let path = "\(dir)/\(role.rawValue)-\(id)"
        try IdentityDirectory.write(try ca.issueParticipant(ParticipantIdentity(trustDomain: Self.trustDomain, role: role, id: id)),
                                    caPEM: ca.certificatePEM, to: path)
        return path
    }

    func configuration() -> ForwardReceiver.Configuration {
        .init(identityDirectory: receiverDir, outputPath: outPath)
    }

    func notice(_ forwardId: String) -> Data {
        Data(#"{"forwardId":"\#(forwardId)","rule":"encompass-to-school","purpose":"encompass","localRef":"ADM-0042","fields":{"category":"domestic-abuse"}}"#.utf8)
    }

    struct Reply: Sendable {
        let status: Int
        let body: Data
        func json() throws -> [String: Any] { try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any]) }
    }

    /// One delivery as the gateway's delivery service makes it: TLS 1.3, its client certificate, and
    /// the receiver accepted only if its certificate chains to the CA (RFC 5280, swift-certificates)
    /// and carries exactly the receiver's URI SAN. No hostname check: participants are named by URI.
    func post(port: Int, identity: String?, body: Data, key: String?,
              midBody: (@Sendable () async throws -> Void)? = nil) async throws -> Reply {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(receiverDir + "/ca.pem"))
        // With no server hostname NIOSSL would otherwise match the peer's IP against the SANs.
        tls.certificateVerification = .noHostnameVerification
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(identity + "/cert.pem").map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: identity + "/key.pem", format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        let trust = PartnershipTrust(roots: [ca.certificate])
        let expected = receiverIdentity
        return try await withThrowingTaskGroup(of: Reply.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(5))
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let verify = PartnershipTLS.verification(trust: trust, expecting: .receiver(expected), now: { Date() }) { _ in }
                            let handler = try NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: verify)
                            try channel.pipeline.syncOperations.addHandler(handler)
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/forwards")
                    head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: String(body.count))
                    if let key { head.headers.add(name: "Idempotency-Key", value: key) }
                    head.headers.add(name: "Connection", value: "close")
                    try await outbound.write(.head(head))
                    if let midBody {
                        // Half the body now, the rest after `midBody`: a request in flight.
                        let half = body.count / 2
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(data: body.prefix(half)))))
                        try await midBody()
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(data: body.dropFirst(half)))))
                    } else {
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(data: body))))
                    }
                    try await outbound.write(.end(nil))
                    var status = 0
                    var received = Data()
                    response: for try await part in inbound {
                        switch part {
                        case .head(let response): status = Int(response.status.code)
                        case .body(let buffer): received.append(Data(buffer: buffer))
                        case .end: break response
                        }
                    }
                    guard status > 0 else { throw ReceiverTestFailure("no HTTP response") }
                    return Reply(status: status, body: received)
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                throw ReceiverTestFailure("no answer within 20 s")
            }
            let reply = try await group.next()!
            group.cancelAll()
            return reply
        }
    }

    func lines() throws -> [[String: Any]] {
        let text = try String(contentsOfFile: outPath, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), "the file must end with a complete line")
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object line: \(line)")
        }
    }

    func fileSize() throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: outPath)[.size] as? Int) ?? -1
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

struct ReceiverTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Collects what the receiver logs.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
    func append(_ line: String) { lock.withLock { lines.append(line) } }

    func logger() -> Logger {
        Logger(label: "test-receiver") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            sink.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
        }
    }
}
