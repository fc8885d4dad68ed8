import Foundation
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// The DPO's duties (role auditor): subject access (UK GDPR Art 15) and erasure (Art 17). The
/// child is named by identifiers, resolved by the same matcher as ingestion and `POST /v1/match`;
/// the identifiers are pseudonymised in memory and never stored. Both are audited.
struct DPORoutes {
    let state: GatewayState
    static let roles: Set<Role> = [.auditor]
    static let maxReasonBytes = 500

    var partner: PartnerRoutes { PartnerRoutes(state: state) }

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("subject-access", method: .post, roles: Self.roles, state: state) { request, context in try await subjectAccess(request, context) }
        group.on("erasures", method: .post, roles: Self.roles, state: state) { request, context in try await erase(request, context) }
    }

    /// The subject the request's identifiers name, or 404; and the reason given (bounded).
    func resolve(_ request: Request, _ context: ParticipantContext, action: String, reasonRequired: Bool) async throws
        -> (subject: Int64, reason: String, matchedBy: String) {
        let expected = #"{"identifiers": {...as in records...}, "reason": text}"#
        let object = try await boundedJSONObject(request, allowed: ["identifiers", "reason"], expected: expected)
        guard case .object(let identifiers)? = object["identifiers"] else { throw APIError.badRequest("expected \(expected)") }
        if let r = object["reason"], r != .null, r.stringValue == nil { throw APIError.badRequest("expected \(expected)") }
        let reason = (object["reason"]?.stringValue ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if reasonRequired && reason.isEmpty { throw APIError.badRequest("reason is required: say why the child's records are erased") }
        guard reason.utf8.count <= Self.maxReasonBytes else { throw APIError.badRequest("reason is longer than \(Self.maxReasonBytes) bytes") }
        let ids: SubjectIdentifiers
        switch RecordValidator(now: state.now()).validateIdentifiers(identifiers) {
        case .success(let v): ids = v
        case .failure(let problem): throw APIError.badRequest("identifiers\(problem.field.isEmpty ? "" : "." + problem.field): \(problem.reason)")
        }
        guard case .join(let subject, let basis, let score, _) = try await partner.decide(ids, asker: context.participant.identity.shortName) else {
            try await state.store.appendAudit(AuditEntry(time: state.now(), actor: context.participant.identity.shortName,
                                                         action: action,
                                                         policyVersion: state.policy.version, decision: .deny, rule: "dpo-no-subject",
                                                         requestDigest: state.requestDigest("POST", request.uri.path)))
            throw APIError.notFound("no child held matches these identifiers")
        }
        let matchedBy = basis == "score" ? "score:\(String(format: "%.1f", score.total)) \(score.explanation)" : basis
        return (subject, reason, matchedBy)
    }

    func subjectAccess(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let auditor = context.participant.identity
        let (subject, reason, matchedBy) = try await resolve(request, context, action: "dpo.subject-access", reasonRequired: false)
        let data = try await state.store.subjectAccess(subject: subject)
        let now = state.now()
        let today = CivilDate(now)
        let uncertain = try await state.store.isUncertain(subject)
        let pseudonym = try await state.pseudonym(for: subject, recipient: auditor)
        try await state.store.recordIssuedPseudonyms([IssuedPseudonym(pseudonym: pseudonym, recipient: auditor.shortName, subject: subject)])
        let records = data.records.map(\.record)
        // As partners saw the child: each purpose's minimised view, for the kinds it uses.
        var views: [JSONValue] = []
        for purpose in state.policy.purposes.values.sorted(by: { $0.name < $1.name }) where records.contains(where: { purpose.uses[$0.kind] != nil }) {
            let view = SubjectView(pseudonym: "(each recipient's own)", purpose: purpose, records: records, uncertain: uncertain, today: today)
            views.append(.object(["purpose": .string(purpose.name), "recipients": .array(purpose.recipients.map { .string($0) }),
                                  "view": try JSONDecoder().decode(JSONValue.self, from: SubmissionReceipt.encoder.encode(view))]))
        }
        let held: [JSONValue] = data.records.map { h in
            var o: [String: JSONValue] = ["kind": .string(h.record.kind.rawValue), "source": .string(h.record.source),
                                          "observedAt": .string(Instant.format(h.record.observedAt)), "receivedAt": .string(Instant.format(h.receivedAt)),
                                          "fields": .object(h.record.fields), "linkedBy": .string(h.record.linkedBy)]
            if let y = h.record.birthYearMonth { o["birthYearMonth"] = .string(y) }
            if let d = h.record.postcodeDistrict { o["postcodeDistrict"] = .string(d) }
            return .object(o)
        }
        let disclosures: [JSONValue] = data.entries.map { e in
            var o: [String: JSONValue] = ["time": .string(Instant.format(e.time)), "action": .string(e.action), "actor": .string(e.actor),
                                          "decision": .string(e.decision.rawValue), "rule": .string(e.rule),
                                          "recipient": .string(e.detail["recipient"] ?? e.actor)]
            if let p = e.purpose { o["purpose"] = .string(p) }
            for key in ["report", "forward", "enquiry", "via", "status"] { if let v = e.detail[key] { o[key] = .string(v) } }
            return .object(o)
        }
        try await state.store.appendAudit(AuditEntry(
            time: now, actor: auditor.shortName, action: "dpo.subject-access", policyVersion: state.policy.version, decision: .allow,
            rule: "dpo-subject-access", counts: ["records": held.count, "disclosures": disclosures.count], subjects: [subject],
            requestDigest: state.requestDigest("POST", "/v1/subject-access"),
            detail: reason.isEmpty ? [:] : ["reason": state.digester.digest("dpo-reason", text: reason)]))
        return try json([
            "subject": .string(pseudonym), "matchedBy": .string(matchedBy), "generatedAt": .string(Instant.format(now)), "policyVersion": .string(state.policy.version),
            "uncertain": .bool(uncertain), "mergedSubjects": .number(Double(data.mergedFrom.count)),
            "records": .array(held), "asSeenUnderPurposes": .array(views), "disclosures": .array(disclosures),
        ])
    }

    func erase(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let dpo = context.participant.identity.shortName
        let (subject, reason, matchedBy) = try await resolve(request, context, action: "dpo.erasure", reasonRequired: true)
        // Deleting is not undone: only a child named by a strong identifier (NHS number, UPN) is
        // erased, never one a name and date of birth found by score.
        guard matchedBy == "nhs" || matchedBy == "upn" else {
            await state.auditRefusal(actor: dpo, action: "dpo.erasure", rule: "dpo-erasure-strong-identifier",
                                     reason: "the child was found by score, not by NHS number or UPN", requestDigest: state.requestDigest("POST", "/v1/erasures"))
            throw APIError(.conflict, "strong-identifier-required",
                           "these identifiers found a child by score (\(matchedBy.split(separator: " ").first ?? "")), not by NHS number or UPN; erasure needs one of those, so that it cannot delete another child")
        }
        let now = state.now(), version = state.policy.version
        let reasonDigest = state.digester.digest("dpo-reason", text: reason)
        let sealer = state.sealer
        let counts = try await state.store.erase(subject: subject, notify: { withdrawals in
            // Each partner that was given a pseudonym for the child is told it no longer names anyone.
            try withdrawals.filter { $0.recipient.hasPrefix("partner/") }.map { w in
                let id = EnquiryRoutes.newID("wd-")
                let notice: [String: JSONValue] = ["type": .string("withdrawal"), "forwardId": .string(id), "pseudonym": .string(w.pseudonym),
                                                   "reason": .string("erased"), "createdAt": .string(Instant.format(now)),
                                                   "meaning": .string("the gateway holds nothing under this pseudonym any more; remove it from your records of shared data")]
                return NewForward(publicID: id, recipient: w.recipient, rule: "dpo-erasure", purpose: "erasure", subjectID: subject,
                                  sealedPayload: try sealer.seal(try SubmissionReceipt.encoder.encode(notice)), deadline: nil,
                                  audit: AuditEntry(time: now, actor: dpo, action: "dpo.withdrawal", policyVersion: version, decision: .allow,
                                                    rule: "dpo-erasure", subjects: [subject], requestDigest: AuditEntry.forwardReference(id),
                                                    detail: ["recipient": w.recipient]))
            }
        }, audit: { c in
            AuditEntry(time: now, actor: dpo, action: "dpo.erasure", policyVersion: version, decision: .allow, rule: "dpo-erasure",
                       counts: ["records": c.records, "linkageKeys": c.linkageKeys, "blockingKeys": c.blockingKeys, "forwards": c.forwards,
                                "enquiries": c.enquiries, "reviewPairs": c.reviewPairs, "pseudonymsWithdrawn": c.pseudonymsWithdrawn,
                                "reasonBytes": reason.utf8.count],
                       subjects: [subject], requestDigest: state.requestDigest("POST", "/v1/erasures"), detail: ["reason": reasonDigest])
        })
        state.forwardDoorbell.ring()
        state.logger.notice("subject erased", metadata: ["subject": "\(subject)", "records": "\(counts.records)"])
        let encoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(counts))
        return try json(["subject": .number(Double(subject)), "erased": encoded])
    }

    func json(_ value: [String: JSONValue]) throws -> Response {
        let data = try SubmissionReceipt.encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
