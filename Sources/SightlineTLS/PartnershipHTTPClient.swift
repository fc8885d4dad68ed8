import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import SightlineCore

/// HTTP/1.1 over the partnership's mutual TLS to one peer that must be `expecting` (the gateway,
/// or the receiver a forward is for). Each new connection's server certificate is checked in the
/// handshake with `PartnershipTrust`; an idle connection is reused (keep-alive), at most
/// `maxIdle` of them. Bodies are buffered: requests and answers here are bounded documents.
public final class PartnershipHTTPClient: Sendable {
    public struct Response: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: Data
    }

    /// A failure a person can act on: the refused server's reason, a timeout, a closed connection.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// Set when the server's certificate was refused.
        public let refusal: PeerRefusal?
        /// A reused keep-alive connection the server had already closed: nothing was answered, so a
        /// fresh connection may send the request again.
        var closedBeforeAnswer = false
    }

    public let host: String
    public let port: Int
    let context: NIOSSLContext
    let trust: PartnershipTrust
    let expecting: PeerExpectation
    let now: @Sendable () -> Date
    let maxIdle: Int
    let maxResponseBytes: Int
    let idle = NIOLockedValueBox<[any Channel]>([])

    /// `https://host:port` of the peer; `material` is this side's identity and the CA.
    public convenience init(baseURL: String, material: PartnershipTLS.Material, expecting: PeerExpectation,
                            now: @escaping @Sendable () -> Date = { Date() }, maxIdle: Int = 8,
                            maxResponseBytes: Int = 64 * 1024 * 1024) throws(SightlineError) {
        try self.init(baseURL: baseURL, context: try PartnershipTLS.clientContext(material), trust: material.trust, expecting: expecting,
                      now: now, maxIdle: maxIdle, maxResponseBytes: maxResponseBytes)
    }

    /// With a context made once by `PartnershipTLS.clientContext` (a caller that talks to many peers).
    public init(baseURL: String, context: NIOSSLContext, trust: PartnershipTrust, expecting: PeerExpectation,
                now: @escaping @Sendable () -> Date = { Date() }, maxIdle: Int = 8, maxResponseBytes: Int = 64 * 1024 * 1024) throws(SightlineError) {
        guard let url = URL(string: baseURL), url.scheme == "https", let host = url.host, !host.isEmpty else {
            throw SightlineError(.config, "\(baseURL) is not https://host[:port]")
        }
        self.host = host
        self.port = url.port ?? 443
        self.context = context
        self.trust = trust
        self.expecting = expecting
        self.now = now
        self.maxIdle = maxIdle
        self.maxResponseBytes = maxResponseBytes
    }

    /// One request; `timeout` covers connecting, sending and the whole answer.
    public func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: Data? = nil,
                        timeout: TimeAmount = .seconds(300)) async throws -> Response {
        if let channel = idle.withLockedValue({ $0.popLast() }), channel.isActive {
            do { return try await send(on: channel, method, path, headers: headers, body: body, timeout: timeout) } catch let failure as Failure where failure.closedBeforeAnswer {
                // The server closed this idle connection as we reused it; nothing was processed.
            }
        }
        return try await send(on: try await connection(timeout: timeout), method, path, headers: headers, body: body, timeout: timeout)
    }

    func send(on channel: any Channel, _ method: HTTPMethod, _ path: String, headers: [(String, String)], body: Data?,
              timeout: TimeAmount) async throws -> Response {
        let collector = try await channel.pipeline.handler(type: ResponseCollector.self).get()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        let request = head
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no answer from \(self.host):\(self.port) within \(timeout)", refusal: nil))
            channel.close(promise: nil)
        }
        channel.eventLoop.execute {
            collector.expect(promise)
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            if let body, !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(data: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { promise.fail($0) }
        }
        let response: Response
        do { response = try await promise.futureResult.get() } catch {
            deadline.cancel()
            channel.close(promise: nil)
            throw error
        }
        deadline.cancel()
        let keepAlive = !(response.headers["connection"].contains { $0.lowercased() == "close" }) && channel.isActive
        let reused = keepAlive && idle.withLockedValue { channels -> Bool in
            guard channels.count < maxIdle else { return false }
            channels.append(channel)
            return true
        }
        if !reused { channel.close(promise: nil) }
        return response
    }

    /// Closes the idle connections.
    public func shutdown() async {
        let channels = idle.withLockedValue { channels in defer { channels = [] }; return channels }
        for channel in channels { try? await channel.close() }
    }

    func connection(timeout: TimeAmount) async throws -> any Channel {
        let refusal = NIOLockedValueBox<PeerRefusal?>(nil)
        let (trust, expecting, now) = (self.trust, self.expecting, self.now)
        let context = self.context
        let maxResponseBytes = self.maxResponseBytes
        let handshake = NIOLockedValueBox<EventLoopPromise<Void>?>(nil)
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(min(timeout, .seconds(10)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let verify = PartnershipTLS.verification(trust: trust, expecting: expecting, now: now) { r in refusal.withLockedValue { $0 = r } }
                        let tls = try NIOSSLClientHandler(context: context, serverHostname: nil, customVerificationCallback: verify)
                        // The watcher completes `done` on every path (handshake, error, removal), so it never leaks.
                        let done = channel.eventLoop.makePromise(of: Void.self)
                        handshake.withLockedValue { $0 = done }
                        let watcher = HandshakeWatcher(done: done)
                        do {
                            try channel.pipeline.syncOperations.addHandler(tls)
                            try channel.pipeline.syncOperations.addHandler(watcher)
                        } catch {
                            done.fail(error)
                            throw error
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(limit: maxResponseBytes))
                    }
                }
                .connect(host: host, port: port).get()
            // Wait for the handshake, so a refused server is reported as such rather than as a write
            // error; a peer that accepts TCP and never finishes TLS is dropped at the deadline.
            let stalled = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            defer { stalled.cancel() }
            do { try await handshake.withLockedValue { $0 }!.futureResult.get() } catch {
                channel.close(promise: nil)
                throw error
            }
            return channel
        } catch {
            if let refused = refusal.withLockedValue({ $0 }) {
                throw Failure(description: "refused the server at \(host):\(port): \(refused.reason)", refusal: refused)
            }
            throw Failure(description: "cannot reach \(host):\(port) over mutual TLS: \(error)", refusal: nil)
        }
    }
}

/// Completes when the TLS handshake does, or fails with the handshake's error.
final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { done.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
    }
}

/// Gathers one response at a time and completes the request's promise with it.
final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let limit: Int
    // Touched on the channel's event loop only.
    private var promise: EventLoopPromise<PartnershipHTTPClient.Response>?
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    init(limit: Int) { self.limit = limit }

    func expect(_ promise: EventLoopPromise<PartnershipHTTPClient.Response>) {
        self.promise = promise; head = nil; body.clear()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= limit else {
                fail(PartnershipHTTPClient.Failure(description: "the answer is larger than \(limit) bytes", refusal: nil))
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&part)
        case .end:
            guard let head, let promise else { return }
            self.promise = nil
            promise.succeed(.init(status: Int(head.status.code), headers: head.headers, body: Data(buffer: body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        var failure = PartnershipHTTPClient.Failure(description: "the connection closed before a complete answer", refusal: nil)
        failure.closedBeforeAnswer = head == nil
        fail(failure)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        promise?.fail(error)
        promise = nil
    }
}
