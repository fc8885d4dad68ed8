import Foundation
import NIOCore
import NIOSSL
import SightlineCore
import SightlineTLS

/// The gateway's mTLS client for pushing forwards: it presents the gateway's certificate and
/// accepts the receiver only if its certificate chains to the partnership CA *and* names exactly
/// the recipient (`PeerExpectation.receiver`): another participant's listener gets nothing.
struct ForwardTransport: Sendable {
    let material: PartnershipTLS.Material
    /// Made once: every delivery presents the same certificate.
    let context: NIOSSLContext
    let timeout: TimeAmount
    let now: @Sendable () -> Date

    init(config: GatewayConfig, timeout: TimeAmount = .seconds(15), now: @escaping @Sendable () -> Date = { Date() }) throws {
        material = try GatewayTLS.material(config.tls)
        context = try PartnershipTLS.clientContext(material)
        self.timeout = timeout
        self.now = now
    }

    /// POSTs `body` to `endpoint`/forwards; returns the HTTP status.
    func post(endpoint: String, body: Data, idempotencyKey: String, recipient: ParticipantIdentity) async throws -> Int {
        // One connection per delivery (maxIdle 0: closed after the answer): forwards are few, and
        // a receiver that changes its certificate is checked afresh every time.
        let client = try PartnershipHTTPClient(baseURL: endpoint, context: context, trust: material.trust,
                                               expecting: .receiver(recipient), now: now, maxIdle: 0)
        let response = try await client.request(.POST, "/forwards", headers: [
            ("Content-Type", "application/json"), ("Idempotency-Key", idempotencyKey), ("Connection", "close"),
        ], body: body, timeout: timeout)
        return response.status
    }
}
