import Foundation
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// The LA's routing queue: notices a forwarding rule held (`hold-for` in forwarding.yaml)
/// because no single school qualified on its own. The team the rule names lists them
/// (`GET /v1/routing`), then routes each to one school of its LA that has the child on roll, or
/// closes it with a reason (`POST /v1/routing/{forwardId}`). Both are audited; a held notice
/// counts towards the overdue metric until it is routed or closed.
struct RoutingRoutes {
    let state: GatewayState
    static let routingRoles: Set<Role> = [.partner]

    /// Why an LA team closes a held notice without routing it: a closed list, so no free text
    /// (which could carry an identifier) reaches the audit log.
    enum CloseReason: String, CaseIterable, Codable {
        case noCurrentSchool = "no-current-school"
        case handledOutsideSightline = "handled-outside-sightline"
        case notThisLA = "not-this-la"
    }

    struct Decision: Decodable {
        var route: String?
        var close: String?
    }

    struct HeldItem: Encodable {
        let forwardId: String
        let rule: String
        let purpose: String
        let createdAt: Date
        let deadline: Date?
        let notice: JSONValue
    }

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("routing", method: .get, roles: Self.routingRoles, state: state) { request, context in try await list(context) }
        group.on("routing/{forwardId}", method: .post, roles: Self.routingRoles, state: state) { request, context in try await decide(request, context) }
    }

    func list(_ context: ParticipantContext) async throws -> Response {
        let caller = context.participant.identity.shortName
        let held = try await state.store.heldForwards(recipient: caller, limit: 1000)
        let items = try held.map { f in
            HeldItem(forwardId: f.publicID, rule: f.rule, purpose: f.purpose, createdAt: f.createdAt, deadline: f.deadline,
                     notice: try JSONDecoder().decode(JSONValue.self, from: state.sealer.open(f.sealedPayload)))
        }
        try await state.store.appendAudit(AuditEntry(
            time: state.now(), actor: caller, action: "routing.read", policyVersion: state.policy.version, decision: .allow,
            rule: "routing-own-held-notices", counts: ["held": items.count], subjects: held.map(\.subjectID),
            requestDigest: state.requestDigest("GET", "/v1/routing")))
        return try json(["held": items])
    }

    func decide(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let caller = context.participant.identity.shortName
        let forwardID = try context.parameters.require("forwardId")
        let body = Data(buffer: try await request.body.collect(upTo: 4096))
        let usage = "expected {\"route\": \"school/<id>\"} or {\"close\": \"\(CloseReason.allCases.map(\.rawValue).joined(separator: "|"))\"}"
        guard let decision = try? JSONDecoder().decode(Decision.self, from: body), (decision.route == nil) != (decision.close == nil) else {
            throw APIError.badRequest(usage)
        }
        let closeReason = try decision.close.map { text throws -> CloseReason in
            guard let reason = CloseReason(rawValue: text) else { throw APIError.badRequest("close: unknown reason; \(usage)") }
            return reason
        }
        var target: Participant? = nil
        if let route = decision.route {
            // The text is checked against the participants file before it goes anywhere near the log.
            guard let identity = ParticipantIdentity(uri: "spiffe://\(state.participants.trustDomain)/\(route)"), identity.role == .school,
                  case .active(let school) = state.participants.lookup(identity) else {
                throw APIError.badRequest("route: not an active school participant; give school/<id> as in the participants file")
            }
            guard let la = context.participant.la, school.la == la else {
                throw APIError.forbidden("school-outside-la", "route: that school is not in your local authority; a notice is routed only within the routing team's LA (rule routing-within-la)")
            }
            target = school
        }
        let now = state.now()
        let version = state.policy.version
        let sealer = state.sealer
        let digest = state.digester.digest("routing-body", body)
        let routedTarget = target
        let resolution = try await state.store.resolveHeld(publicID: forwardID, recipient: caller) { held, lookup in
            guard let school = routedTarget else {
                return HeldResolution(state: .closed, audit: AuditEntry(
                    time: now, actor: caller, action: "forward.closed", purpose: held.purpose, policyVersion: version, decision: .allow,
                    rule: held.rule, subjects: [held.subjectID], requestDigest: digest,
                    detail: ["forward": held.publicID, "reason": closeReason?.rawValue ?? ""]))
            }
            let name = school.identity.shortName
            guard let enrolment = try lookup.currentEnrolments(subject: held.subjectID, on: CivilDate(now)).first(where: { $0.source == name }),
                  let sealed = enrolment.sealedReference, let reference = try? sealer.open(sealed) else {
                return HeldResolution(state: .held, audit: nil, refusal: "\(name) has no current enrolment of this child; ask the school to submit its enrolment, then route again")
            }
            var notice = try SubmissionReceipt.decoder.decode(ForwardPlanner.Notice.self, from: sealer.open(held.sealedPayload))
            let publicID = "fwd_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            notice.forwardId = publicID
            notice.recipient = name
            notice.createdAt = now
            notice.pupilReference = String(decoding: reference, as: UTF8.self)
            notice.pseudonym = nil
            notice.routing = nil
            let payload = try sealer.seal(SubmissionReceipt.encoder.encode(notice))
            let created = AuditEntry(time: now, actor: caller, action: "forward.create", purpose: held.purpose, policyVersion: version,
                                     decision: .allow, rule: held.rule, subjects: [held.subjectID], requestDigest: AuditEntry.forwardReference(publicID),
                                     detail: ["recipient": name, "routedFrom": held.publicID])
            let replacement = NewForward(publicID: publicID, recipient: name, rule: held.rule, purpose: held.purpose, subjectID: held.subjectID,
                                         sealedPayload: payload, deadline: held.deadline, audit: created)
            return HeldResolution(state: .routed, audit: AuditEntry(
                time: now, actor: caller, action: "forward.routed", purpose: held.purpose, policyVersion: version, decision: .allow,
                rule: held.rule, subjects: [held.subjectID], requestDigest: digest,
                detail: ["forward": held.publicID, "to": name, "replacement": publicID]), replacement: replacement)
        }
        guard let resolution else {
            throw APIError.notFound("no held notice \(forwardID) for \(caller); GET /v1/routing lists yours")
        }
        if let refusal = resolution.refusal {
            await state.auditRefusal(actor: caller, action: "forward.route", rule: "routing-school-has-child", reason: refusal,
                                     requestDigest: digest)
            throw APIError(.conflict, "school-has-no-enrolment", refusal)
        }
        if resolution.replacement != nil { state.forwardDoorbell.ring() }
        var answer = ["forwardId": forwardID, "state": resolution.state.rawValue]
        if let r = resolution.replacement { answer["to"] = r.recipient; answer["replacement"] = r.publicID }
        return try json(answer)
    }

    func json<T: Encodable>(_ value: T) throws -> Response {
        let data = try SubmissionReceipt.encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
