import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
import SightlineCore
import X509

/// The gateway's mTLS client for pushing forwards: it presents the gateway's certificate and
/// accepts the receiver only if its certificate chains to the partnership CA *and* carries
/// exactly the recipient's SPIFFE identity from the participants file. Hostname checks do not
/// apply: participants are named by URI, not DNS.
struct ForwardTransport: Sendable {
    let sslContext: NIOSSLContext
    let roots: [Certificate]
    let timeout: Duration

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(config: GatewayConfig, timeout: Duration = .seconds(15)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(config.tls.certificate).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: config.tls.key, format: .pem))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(config.tls.ca))
        tls.minimumTLSVersion = .tlsv13
        // Participants are named by URI SAN, not DNS: the custom verification below checks the
        // chain to the CA and the exact identity; a hostname check would only get in the way.
        tls.certificateVerification = .noHostnameVerification
        sslContext = try NIOSSLContext(configuration: tls)
        // The same CA file as the trust roots above, parsed for swift-certificates' verifier.
        roots = try NIOSSLCertificate.fromPEMFile(config.tls.ca).map { try Certificate(derEncoded: try $0.toDERBytes()) }
        self.timeout = timeout
    }

    /// POSTs `body` to `endpoint`/forwards; returns the HTTP status.
    func post(endpoint: String, body: Data, idempotencyKey: String, expectedIdentity: String) async throws -> Int {
        guard let url = URL(string: endpoint), let host = url.host, let port = url.port else {
            throw Failure(description: "endpoint is not https://host:port")
        }
        let roots = self.roots
        let context = sslContext
        return try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(5))
                    .connect(host: host, port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) { certificates, promise in
                                promise.completeWithTask { await Self.verify(certificates, expected: expectedIdentity, roots: roots) }
                            }
                            try channel.pipeline.syncOperations.addHandler(handler)
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/forwards")
                    head.headers.add(name: "Host", value: "\(host):\(port)")
                    head.headers.add(name: "Content-Type", value: "application/json")
                    head.headers.add(name: "Content-Length", value: String(body.count))
                    head.headers.add(name: "Idempotency-Key", value: idempotencyKey)
                    head.headers.add(name: "Connection", value: "close")
                    try await outbound.write(.head(head))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(data: body))))
                    try await outbound.write(.end(nil))
                    var status = 0
                    for try await part in inbound {
                        if case .head(let response) = part { status = Int(response.status.code) }
                        if case .end = part { break }
                    }
                    guard status > 0 else { throw Failure(description: "no HTTP response") }
                    return status
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure(description: "no answer within \(timeout)")
            }
            let status = try await group.next()!
            group.cancelAll()
            return status
        }
    }

    /// Chain to the partnership CA (RFC 5280 rules, validity dates) and the expected URI SAN.
    static func verify(_ presented: [NIOSSLCertificate], expected: String, roots: [Certificate]) async -> NIOSSLVerificationResult {
        guard let leafDER = try? presented.first?.toDERBytes(), let leaf = try? Certificate(derEncoded: leafDER),
              let sans = try? leaf.extensions.subjectAlternativeNames else { return .failed }
        let uris = sans.compactMap { name -> String? in if case .uniformResourceIdentifier(let u) = name { u } else { nil } }
        guard uris == [expected] else { return .failed }
        let intermediates = presented.dropFirst().compactMap { try? $0.toDERBytes() }.compactMap { try? Certificate(derEncoded: $0) }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(validationTime: Date()) }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate: return .certificateVerified
        case .couldNotValidate: return .failed
        }
    }
}
