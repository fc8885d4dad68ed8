import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A participant's mTLS connection to the gateway, from an identity directory holding
/// cert.pem, key.pem and ca.pem (the layout `sightline certs issue` and dev mode write).
public final class GatewayClient: Sendable {
    public let baseURL: String
    let http: HTTPClient

    public struct Response: Sendable {
        public let status: Int
        public let body: Data
    }

    public init(baseURL: String, identityDirectory: String) throws(ClientError) {
        let dir = identityDirectory
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, roots: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(dir + "/cert.pem") } catch {
            throw ClientError("\(dir)/cert.pem: cannot read a PEM certificate; --identity must be a directory with cert.pem, key.pem and ca.pem")
        }
        do { key = try NIOSSLPrivateKey(file: dir + "/key.pem", format: .pem) } catch {
            throw ClientError("\(dir)/key.pem: cannot read a PEM private key")
        }
        do { roots = try NIOSSLCertificate.fromPEMFile(dir + "/ca.pem") } catch {
            throw ClientError("\(dir)/ca.pem: cannot read the partnership CA certificate")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(key)
        // Trust only the partnership CA: the gateway's certificate must come from it.
        tls.trustRoots = .certificates(roots)
        tls.minimumTLSVersion = .tlsv13
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: .seconds(10), read: .seconds(300))
        config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    public func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
                        timeout: TimeAmount = .seconds(300)) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-ndjson")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await http.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Response(status: Int(response.status.code), body: Data(buffer: buffer))
    }

    public func shutdown() async throws { try await http.shutdown() }
}
