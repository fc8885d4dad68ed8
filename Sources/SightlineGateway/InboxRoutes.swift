import Foundation
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// Pull as well as push: GET /v1/inbox lists the caller's forwards after a cursor; POST
/// /v1/inbox/ack moves the cursor, which counts those forwards as delivered.
struct InboxRoutes {
    let state: GatewayState
    /// Partners and schools receive forwards; every agency that holds records receives enquiries.
    static let recipientRoles: Set<Role> = [.partner, .school, .nhs, .housing, .police, .la]

    struct InboxItem: Encodable {
        let id: Int64
        let state: String
        /// The purpose and rule the forward or enquiry was sent under, from the gateway's own row
        /// (the notice may not say: an enquiry's names its purpose, an erased forward's nothing).
        let purpose: String
        let rule: String
        let forward: JSONValue
    }
    struct InboxPage: Encodable {
        let acknowledged: Int64
        let next: Int64
        let forwards: [InboxItem]
    }
    struct Ack: Decodable { let upTo: Int64 }

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("inbox", method: .get, roles: Self.recipientRoles, state: state) { request, context in
            let after = request.uri.queryParameters["after"].flatMap { Int64(String($0)) }
            let limit = min(1000, max(1, request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 100))
            let page = try await read(after: after, limit: limit, context)
            let data = try SubmissionReceipt.encoder.encode(page)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        group.on("inbox/ack", method: .post, roles: Self.recipientRoles, state: state) { request, context in
            let body = Data(buffer: try await request.body.collect(upTo: 4096))
            guard let ack = try? JSONDecoder().decode(Ack.self, from: body), ack.upTo >= 0 else {
                throw APIError.badRequest("expected {\"upTo\": <forward id>}")
            }
            let result = try await acknowledge(upTo: ack.upTo, context)
            let data = try JSONEncoder().encode(["acknowledged": result.acknowledged, "delivered": Int64(result.delivered)])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
    }

    /// The forwards waiting for this participant after `after`, opened, audited as `inbox.read`.
    func read(after: Int64?, limit: Int, _ context: ParticipantContext) async throws -> InboxPage {
        let recipient = context.participant.identity.shortName
        let (forwards, acknowledged) = try await state.store.inbox(recipient: recipient, after: after, limit: limit)
        let items = try forwards.map { f in
            InboxItem(id: f.id, state: f.state.rawValue, purpose: f.purpose, rule: f.rule,
                      // A forward about a child since erased keeps its row, not its notice.
                      forward: f.sealedPayload.isEmpty ? .object(["type": .string("erased"), "forwardId": .string(f.publicID)])
                          : try JSONDecoder().decode(JSONValue.self, from: state.sealer.open(f.sealedPayload)))
        }
        try await state.store.appendAudit(AuditEntry(
            time: state.now(), actor: recipient, action: "inbox.read", policyVersion: state.policy.version, decision: .allow,
            rule: "inbox-own-forwards", counts: ["forwards": items.count], subjects: forwards.map(\.subjectID),
            requestDigest: state.requestDigest("GET", "/v1/inbox?after=\(after ?? -1)")))
        return InboxPage(acknowledged: acknowledged, next: forwards.last?.id ?? max(after ?? 0, acknowledged), forwards: items)
    }

    /// Acknowledges every forward up to `upTo` (clamped to the newest offered), each a `forward.delivered` entry.
    func acknowledge(upTo: Int64, _ context: ParticipantContext) async throws -> (acknowledged: Int64, delivered: Int) {
        let recipient = context.participant.identity.shortName
        let now = state.now()
        let metrics = state.metrics
        let version = state.policy.version
        // The answer's `acknowledged` is where the cursor now stands: `upTo` clamped to the newest
        // forward this recipient has been offered, so an over-large ack cannot hide the next one.
        let result = try await state.store.acknowledgeInbox(recipient: recipient, upTo: upTo) { f in
            metrics.forwardsDelivered.increment()
            return AuditEntry(time: now, actor: recipient, action: "forward.delivered", purpose: f.purpose, policyVersion: version,
                              decision: .allow, rule: f.rule, subjects: [f.subjectID], requestDigest: AuditEntry.forwardReference(f.publicID),
                              detail: ["forward": f.publicID, "recipient": recipient, "via": "inbox"])
        }
        return (result.acknowledged, result.delivered)
    }
}
