import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import SightlineCore
import SightlineTLS

/// The context every request starts with: the channel (to read the peer certificate) and, once
/// `IdentityMiddleware` has run, the verified participant.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel
    var participant: Participant?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        participant = nil
    }

    // Bodies are read explicitly with the configured limit; this is the default for anything else.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// The context of every /v1 handler: it cannot be built without a verified, listed, active
/// participant, so a handler cannot forget to check who is calling.
public struct ParticipantContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let participant: Participant

    public init(context: GatewayRequestContext) throws {
        guard let participant = context.participant else {
            throw APIError.forbidden("unidentified", "no verified participant for this request")
        }
        self.coreContext = context.coreContext
        self.participant = participant
    }
}

/// Resolves the caller: certificate (already verified against the partnership CA by TLS) ->
/// SPIFFE URI -> participants file -> active. Anything else is a 403 and an audit entry.
struct IdentityMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let digest = state.requestDigest("\(request.method)", request.uri.path)
        // Per request, at the request's time: a resumed TLS session (same certificate, no new
        // handshake) is judged now, not when it first connected.
        let identity: ParticipantIdentity
        let der = await PartnershipTLS.peerCertificateDER(context.channel)
        switch der.map({ PeerIdentity.participant(certificateDER: $0, now: state.now()) }) {
        case .success(let verified):
            identity = verified
        case .failure(let refusal):
            await state.auditRefusal(actor: "unauthenticated", action: "request", rule: "certificate-identity",
                                     reason: refusal.description, requestDigest: digest)
            throw APIError.forbidden("no-identity", "the client certificate is not a participant's: \(refusal.reason)")
        case nil:
            await state.auditRefusal(actor: "unauthenticated", action: "request", rule: "certificate-identity",
                                     reason: "no client certificate", requestDigest: digest)
            throw APIError.forbidden("no-identity", "no client certificate; present one carrying spiffe://<trust-domain>/<role>/<id>")
        }
        switch state.participants.lookup(identity) {
        case .active(let participant):
            if let der { state.certificateExpiry.saw(identity.shortName, certificateDER: der) }
            context.participant = participant
            context.logger[metadataKey: "participant"] = "\(identity.shortName)"
            return try await next(request, context)
        case .inactive:
            await state.auditRefusal(actor: identity.shortName, action: "request", rule: "participant-active",
                                     reason: "participant is suspended", requestDigest: digest)
            throw APIError.forbidden("participant-inactive", "participant \(identity.shortName) is suspended in the participants file")
        case .unknown:
            await state.auditRefusal(actor: identity.shortName, action: "request", rule: "participant-listed",
                                     reason: "participant not in the participants file", requestDigest: digest)
            throw APIError.forbidden("participant-unknown", "participant \(identity.shortName) is not in the participants file")
        case .foreignTrustDomain:
            await state.auditRefusal(actor: identity.shortName, action: "request", rule: "trust-domain",
                                     reason: "certificate from another trust domain", requestDigest: digest)
            throw APIError.forbidden("trust-domain", "this gateway serves trust domain \(state.participants.trustDomain)")
        }
    }
}

/// Records status and latency of every API request.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.record(status: response.status.code, duration: ContinuousClock.now - start)
            return response
        } catch let error as HTTPResponseError {
            metrics.record(status: error.status.code, duration: ContinuousClock.now - start)
            throw error
        }
    }
}

/// Counts each request under the keys in force when it began (`GatewayState.enterRequest`), so
/// that a sealing migration completes only once no request still holding the old key can write.
struct KeyEpochMiddleware<Context: RequestContext>: RouterMiddleware {
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard state.keysResumed else {
            throw APIError(.serviceUnavailable, "starting", "the gateway is starting (checking its keys against the database); try again in a moment", retryAfter: 1)
        }
        let epoch = state.enterRequest()
        defer { state.leaveRequest(epoch) }
        return try await next(request, context)
    }
}

extension RouterGroup where Context == ParticipantContext {
    /// Registers a route that only `roles` may call; anyone else gets 403 naming the rule, and an
    /// audit entry.
    @discardableResult
    func on(_ path: RouterPath, method: HTTPRequest.Method, roles: Set<Role>, state: GatewayState,
            use handler: @escaping @Sendable (Request, ParticipantContext) async throws -> Response) -> Self {
        let rule = "endpoint-roles:\(method) \(path)"
        return on(path, method: method) { request, context in
            guard roles.contains(context.participant.identity.role) else {
                await state.auditRefusal(actor: context.participant.identity.shortName, action: "request", rule: rule,
                                         reason: "role \(context.participant.identity.role.rawValue) may not call this endpoint",
                                         requestDigest: state.requestDigest("\(request.method)", request.uri.path))
                throw APIError.forbidden("role-not-allowed",
                    "role \(context.participant.identity.role.rawValue) may not call \(method) \(request.uri.path); allowed: \(roles.sorted().map(\.rawValue).joined(separator: ", ")) (rule \(rule))")
            }
            return try await handler(request, context)
        }
    }
}
