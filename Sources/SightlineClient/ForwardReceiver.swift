import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SightlineCore
import SightlineTLS
import UnixSignals
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The receiving end of forwarding: the mTLS endpoint a school or partner team runs so the gateway
/// can push forwards to it (`sightline partner listen`). It accepts only the gateway's certificate,
/// appends each forward to an NDJSON file, answers 200 only after the line is on disk, and answers
/// a repeated Idempotency-Key with `{"duplicate": true}` (also across restarts).
///
/// Contract with the gateway's delivery service: `POST /forwards`, a JSON object body, header
/// `Idempotency-Key`; 200 `{"stored": true}` | 200 `{"duplicate": true}` | 400 | 403 | 500 (retry).
public struct ForwardReceiver: Sendable {
    public struct Configuration: Sendable {
        /// Directory holding cert.pem, key.pem (this participant's identity, used as the server
        /// certificate) and ca.pem (the partnership CA: the only trust root).
        public var identityDirectory: String
        /// The NDJSON file forwards are appended to; created (mode 0600) if missing.
        public var outputPath: String
        public var host: String
        /// 0 picks a free port; `onListening` reports the one chosen.
        public var port: Int
        /// The only client identity served; nil means `spiffe://<own trust domain>/gateway/main`.
        public var gatewayIdentity: String?
        /// Forward notices are small; anything larger is refused before it is buffered.
        public var maxBodyBytes: Int

        public init(identityDirectory: String, outputPath: String, host: String = "127.0.0.1", port: Int = 0,
                    gatewayIdentity: String? = nil, maxBodyBytes: Int = 1024 * 1024) {
            self.identityDirectory = identityDirectory; self.outputPath = outputPath
            self.host = host; self.port = port; self.gatewayIdentity = gatewayIdentity; self.maxBodyBytes = maxBodyBytes
        }
    }

    public let configuration: Configuration
    /// Who this receiver is (the URI SAN of its own cert.pem).
    public let identity: ParticipantIdentity
    /// The exact SPIFFE ID a client certificate must carry.
    public let gatewayIdentity: SPIFFEID
    public let log: ForwardLog
    let application: any Service
    let logger: Logger

    /// Reads the identity and the output file (rebuilding the set of stored keys) and prepares the
    /// listener; nothing is bound until it runs. `onListening` gets the bound port.
    public init(configuration: Configuration, logger: Logger = Logger(label: "sightline.partner-listen"),
                onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws(SightlineError) {
        let dir = configuration.identityDirectory
        let material = try PartnershipTLS.Material.load(.init(certificate: dir + "/cert.pem", key: dir + "/key.pem", ca: dir + "/ca.pem"),
                                                        hint: "; --identity must be a directory with cert.pem, key.pem and ca.pem")
        let identity: ParticipantIdentity
        switch PeerIdentity.spiffeID(certificateDER: material.leafDER).map(ParticipantIdentity.init) {
        case .success(let parsed?): identity = parsed
        case .success(nil):
            throw SightlineError(.certificate, "\(dir)/cert.pem is not a participant's certificate (its URI SAN's role is not a participant role)")
        case .failure(let refusal):
            throw SightlineError(.certificate, "\(dir)/cert.pem: \(refusal.reason); issue it with `sightline certs issue`")
        }
        // The gateway checks this certificate as a receiver's; say now, not at the first push, if it cannot be one.
        if case .failure(let refusal) = PeerIdentity.check(certificateDER: material.leafDER, expecting: .receiver(identity), now: Date()) {
            throw SightlineError(.certificate, "\(dir)/cert.pem cannot receive pushes: \(refusal.reason); reissue it with `sightline certs issue ... --serves`")
        }
        let gatewayURI = configuration.gatewayIdentity ?? "spiffe://\(identity.trustDomain)/gateway/main"
        guard case .success(let gatewayIdentity) = SPIFFEID.parse(gatewayURI), gatewayIdentity.kind == "gateway" else {
            throw SightlineError(.config, "gateway identity \(gatewayURI) is not spiffe://<trust-domain>/gateway/<id>")
        }
        let tls = PartnershipTLS.server(material)
        let log = try ForwardLog(path: configuration.outputPath, logger: logger)
        let router = Router(context: ForwardReceiverContext.self)
        router.add(middleware: GatewayOnlyMiddleware(gatewayIdentity: gatewayIdentity, now: { Date() }))
        router.post("forwards", use: ForwardHandler(log: log, maxBodyBytes: configuration.maxBodyBytes, logger: logger).handle)
        do {
            self.application = Application(
                router: router,
                // Idle connections are closed after 60 s: the gateway reconnects cheaply, a stuck peer holds nothing.
                server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: tls),
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
                onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
                logger: logger)
        } catch {
            throw SightlineError(.certificate, "cannot set up TLS with the identity in \(dir): \(error)")
        }
        self.configuration = configuration
        self.identity = identity
        self.gatewayIdentity = gatewayIdentity
        self.log = log
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting, finishes in-flight requests and closes the file.
    public func run() async throws {
        try await serviceGroup(gracefulShutdownSignals: [.sigterm, .sigint]).run()
        await log.close()
    }

    /// The ServiceGroup running the listener; tests (or a host process) trigger its graceful shutdown.
    /// Call `log.close()` after it returns to release the output file.
    public func serviceGroup(gracefulShutdownSignals: [UnixSignal]) -> ServiceGroup {
        ServiceGroup(configuration: .init(services: [.init(service: application)],
                                          gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
    }

    /// Starts a receiver, runs `body` with its port once it listens, then drains it and closes the file.
    @discardableResult
    public static func withRunning<T: Sendable>(_ configuration: Configuration, logger: Logger = Logger(label: "sightline.partner-listen"),
                                                _ body: @Sendable (_ receiver: ForwardReceiver, _ port: Int) async throws -> T) async throws -> T {
        let ports = AsyncStream<Int>.makeStream()
        let receiver = try ForwardReceiver(configuration: configuration, logger: logger) { ports.continuation.yield($0) }
        let group = receiver.serviceGroup(gracefulShutdownSignals: [])
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // If the listener cannot bind, the stream ends and the bind error is rethrown below.
                defer { ports.continuation.finish() }
                try await group.run()
            }
            var iterator = ports.stream.makeAsyncIterator()
            do {
                guard let port = await iterator.next() else {
                    try await tasks.waitForAll()
                    throw SightlineError(.config, "the receiver stopped before it listened")
                }
                let result = try await body(receiver, port)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                await receiver.log.close()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                await receiver.log.close()
                throw error
            }
        }
    }
}

/// Each request keeps its channel, to read the peer certificate the TLS handshake verified.
public struct ForwardReceiverContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    // Bodies are collected explicitly with the configured limit; this bounds anything else.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// A refusal with a status and the JSON error shape the gateway uses: `{"error", "message"}`.
struct ReceiverError: HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status; self.code = code; self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = (try? JSONEncoder().encode(["error": code, "message": message])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: body)))
    }
}

/// TLS has already checked the chain to the partnership CA; this checks that the certificate is
/// the gateway's and nobody else's. Every other participant holds a valid certificate too.
struct GatewayOnlyMiddleware: RouterMiddleware {
    typealias Context = ForwardReceiverContext
    let gatewayIdentity: SPIFFEID
    let now: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let verdict = await PartnershipTLS.peerCertificateDER(context.channel)
            .map { PeerIdentity.check(certificateDER: $0, expecting: .gatewayClient(gatewayIdentity), now: now()) }
        guard case .success = verdict else {
            let reason = if case .failure(let refusal) = verdict { refusal.description } else { "no client certificate" }
            context.logger.warning("refused a client that is not the gateway", metadata: ["reason": "\(reason)"])
            throw ReceiverError(.forbidden, "not-the-gateway", "only \(gatewayIdentity.uri) may push forwards to this endpoint")
        }
        return try await next(request, context)
    }
}

/// `POST /forwards`: validate, append and fsync, then answer.
struct ForwardHandler: Sendable {
    let log: ForwardLog
    let maxBodyBytes: Int
    let logger: Logger

    func handle(_ request: Request, context: ForwardReceiverContext) async throws -> Response {
        let key = request.headers[values: .init("Idempotency-Key")!].first?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !key.isEmpty, key.count <= 256 else {
            throw ReceiverError(.badRequest, "idempotency-key", "an Idempotency-Key header of 1 to 256 characters is required")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maxBodyBytes) } catch {
            throw ReceiverError(.contentTooLarge, "too-large", "a forward notice may be at most \(maxBodyBytes) bytes")
        }
        let body = Data(buffer: buffer)
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw ReceiverError(.badRequest, "not-a-json-object", "the body must be one JSON object (a forward notice)")
        }
        let outcome: ForwardLog.Outcome
        do { outcome = try await log.append(idempotencyKey: key, forward: body) } catch {
            logger.error("could not store a forward; the gateway will retry", metadata: ["idempotencyKey": "\(key)", "problem": "\(error)"])
            throw ReceiverError(.internalServerError, "not-stored", "the forward could not be written; retry later")
        }
        let forwardId = String((object["forwardId"] as? String ?? "-").prefix(128))
        let reply: String
        switch outcome {
        case .stored:
            logger.info("forward stored", metadata: ["forwardId": "\(forwardId)", "idempotencyKey": "\(key)"])
            reply = #"{"stored":true}"#
        case .duplicate:
            logger.info("forward already stored (duplicate)", metadata: ["forwardId": "\(forwardId)", "idempotencyKey": "\(key)"])
            reply = #"{"duplicate":true}"#
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: reply)))
    }
}

/// The output file: one line per stored forward,
/// `{"receivedAt": ISO8601, "idempotencyKey": K, "forward": <the body as received>}`.
/// Appends are serialised by the actor; each line is written with O_APPEND and fsync'd before the
/// caller answers, so an acknowledged forward survives a crash. The set of stored keys is rebuilt
/// from the file at start, so a retry after a restart is still recognised.
public actor ForwardLog {
    public enum Outcome: Sendable, Equatable { case stored, duplicate }

    public nonisolated let path: String
    private var keys: Set<String>
    private var handle: FileHandle?
    /// Length of the file up to the last complete, fsync'd line.
    private var committedSize: UInt64
    /// Set when a failed write could not be rolled back: no further append until it is.
    private var needsRollback = false

    /// `lockWait`: how long to wait for another holder of the file's lock to let go before refusing.
    /// A receiver restarted at once (systemd, or a test) can find the lock still held for a moment
    /// after the old one closed the file: a process being spawned at that instant holds a copy of
    /// the descriptor until its exec closes it.
    public init(path: String, logger: Logger = Logger(label: "sightline.partner-listen"), lockWait: Duration = .seconds(2)) throws(SightlineError) {
        self.path = path
        let existed = FileManager.default.fileExists(atPath: path)
        // Append mode: every write lands at the end, whatever else holds the file open.
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SightlineError(.store, "\(path): cannot open for appending (\(String(cString: strerror(errno)))); check the directory exists and is writable")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        // One receiver per file: two would each miss the other's keys and store duplicates.
        let giveUp = ContinuousClock.now + lockWait
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        while !locked, errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < giveUp {
            usleep(50_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            try? handle.close()
            throw SightlineError(.store, "\(path) is in use by another `sightline partner listen`; give each receiver its own --out file")
        }
        if !existed { Self.syncDirectory(of: path) }
        let content: Data
        do { content = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            try? handle.close()
            throw SightlineError(.store, "\(path): cannot read the stored forwards")
        }
        var keys = Set<String>()
        var lineStart = content.startIndex
        var lineNumber = 0
        while let newline = content[lineStart...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let line = content[lineStart..<newline]
            lineStart = newline + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard let entry = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any],
                  let key = entry["idempotencyKey"] as? String else {
                try? handle.close()
                throw SightlineError(.store, "\(path) line \(lineNumber) is not a stored forward (no idempotencyKey); move the file aside or repair that line")
            }
            keys.insert(key)
        }
        let committed = UInt64(lineStart - content.startIndex)
        if lineStart < content.endIndex {
            // A line without its newline was never acknowledged (we answer only after the whole line
            // and fsync), so the gateway still holds it and will retry: cut the torn tail off.
            let torn = content.endIndex - lineStart
            guard ftruncate(fd, off_t(committed)) == 0, fsync(fd) == 0 else {
                try? handle.close()
                throw SightlineError(.store, "\(path) ends in an incomplete line and cannot be repaired (\(String(cString: strerror(errno))))")
            }
            logger.warning("removed an incomplete last line (never acknowledged; the gateway retries it)",
                           metadata: ["file": "\(path)", "bytes": "\(torn)"])
        }
        self.keys = keys
        self.handle = handle
        self.committedSize = committed
    }

    /// Stores one forward unless its key is already stored. Returns only after the line is fsync'd.
    /// `forward` must be a JSON object (it is embedded as received).
    public func append(idempotencyKey: String, forward: Data, receivedAt: Date = Date()) throws(SightlineError) -> Outcome {
        if keys.contains(idempotencyKey) { return .duplicate }
        guard let handle else { throw SightlineError(.store, "\(path) is closed") }
        let fd = handle.fileDescriptor
        if needsRollback {
            guard ftruncate(fd, off_t(committedSize)) == 0 else {
                throw SightlineError(.store, "\(path): a failed write could not be rolled back (\(String(cString: strerror(errno))))")
            }
            needsRollback = false
        }
        let line = try Self.line(receivedAt: receivedAt, idempotencyKey: idempotencyKey, forward: forward)
        do {
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch {
            // Take back whatever part of the line reached the file, so it stays one object per line
            // and the gateway's retry is stored once.
            if ftruncate(fd, off_t(committedSize)) != 0 { needsRollback = true }
            throw SightlineError(.store, "\(path): write or fsync failed (\(error))")
        }
        committedSize += UInt64(line.count)
        keys.insert(idempotencyKey)
        return .stored
    }

    public func contains(_ idempotencyKey: String) -> Bool { keys.contains(idempotencyKey) }
    public var storedCount: Int { keys.count }

    /// Releases the file (and its lock). Appends after this fail.
    public func close() {
        try? handle?.close()
        handle = nil
    }

    /// The NDJSON line for one forward: the body embedded as received, on one line.
    static func line(receivedAt: Date, idempotencyKey: String, forward: Data) throws(SightlineError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let time = try? encoder.encode(receivedAt.formatted(.iso8601)),
              let key = try? encoder.encode(idempotencyKey) else {
            throw SightlineError(.input, "cannot encode the line")
        }
        // Strict JSON has no raw CR or LF inside strings, so any are whitespace between tokens:
        // turning them into spaces keeps the body's content and the file one line per forward.
        var body = Data(forward.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
        var line = Data(#"{"receivedAt":"#.utf8) + time + Data(#","idempotencyKey":"#.utf8) + key + Data(#","forward":"#.utf8)
        if !Self.isObjectLine(line + body + Data("}".utf8)) {
            // Not embeddable byte for byte (e.g. UTF-16 or a byte-order mark): store its canonical form.
            guard let object = try? JSONSerialization.jsonObject(with: forward),
                  let canonical = try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]) else {
                throw SightlineError(.input, "the forward is not a JSON object")
            }
            body = canonical
        }
        line += body + Data("}\n".utf8)
        return line
    }

    static func isObjectLine(_ data: Data) -> Bool {
        ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["forward"] is [String: Any]
    }

    /// Makes a newly created file's directory entry durable, so the file itself survives a crash.
    static func syncDirectory(of path: String) {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(dir, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try? handle.synchronize()
        try? handle.close()
    }
}
