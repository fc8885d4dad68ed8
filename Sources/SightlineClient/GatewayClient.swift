import Foundation
import NIOCore
import NIOHTTP1
import SightlineCore
import SightlineTLS

/// A participant's mTLS connection to the gateway, from an identity directory holding
/// cert.pem, key.pem and ca.pem (the layout `sightline certs issue` and dev mode write).
/// The server must be the gateway of this participant's own trust domain
/// (`spiffe://<trust-domain>/gateway/<id>`, chained to ca.pem): any other certificate of the
/// partnership, a participant's included, is refused before a byte of a request is sent.
public final class GatewayClient: Sendable {
    public let baseURL: String
    /// Who this client is: the SPIFFE ID in its own certificate.
    public let identity: SPIFFEID
    let http: PartnershipHTTPClient

    public struct Response: Sendable {
        public let status: Int
        public let body: Data
        /// The response's header fields, in order (names as sent).
        public var headers: [(String, String)] = []
    }

    public init(baseURL: String, identityDirectory: String) throws(ClientError) {
        let dir = identityDirectory
        let material: PartnershipTLS.Material
        do {
            material = try PartnershipTLS.Material.load(.init(certificate: dir + "/cert.pem", key: dir + "/key.pem", ca: dir + "/ca.pem"),
                                                        hint: "; --identity must be a directory with cert.pem, key.pem and ca.pem")
        } catch { throw ClientError(error.message) }
        let own: SPIFFEID
        switch PeerIdentity.spiffeID(certificateDER: material.leafDER) {
        case .success(let spiffe): own = spiffe
        case .failure(let refusal): throw ClientError("\(dir)/cert.pem: \(refusal.reason); issue it with `sightline certs issue`")
        }
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        do {
            http = try PartnershipHTTPClient(baseURL: trimmed, material: material, expecting: .gatewayServer(trustDomain: own.trustDomain))
        } catch { throw ClientError("--gateway \(baseURL): \(error.message)") }
        self.baseURL = trimmed
        identity = own
    }

    public func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [],
                        timeout: TimeAmount = .seconds(300)) async throws -> Response {
        var headers = headers
        if body != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/x-ndjson")) }
        let response = try await http.request(method, path, headers: headers, body: body, timeout: timeout)
        return Response(status: response.status, body: response.body, headers: response.headers.map { ($0.name, $0.value) })
    }

    public func shutdown() async throws { await http.shutdown() }
}
