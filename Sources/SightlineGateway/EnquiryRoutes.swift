import Foundation
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// From the report to the child: a partner asks the agencies that hold a child's records, each
/// by its own reference, and they answer. The gateway holds no names; each agency re-identifies
/// its own record and learns nothing of the others. The policy decides who may ask whom, by
/// when, and whether a second participant must approve first (Policies/purposes/*.yaml,
/// `enquiries:`). Questions and answers are sealed at rest, never logged, and visible only to the
/// two ends and the auditor; audit entries keep their keyed digests and lengths.
struct EnquiryRoutes {
    let state: GatewayState
    static let maxTextBytes = 2000
    static let holderRoles: Set<Role> = [.school, .nhs, .housing, .police, .la]

    var partner: PartnerRoutes { PartnerRoutes(state: state) }

    /// What a holding agency receives (sealed in the outbox, pushed or pulled like a forward).
    struct Notice: Codable {
        var type = "enquiry"
        var enquiryId: String
        var forwardId: String
        var purpose: String
        var purposeTitle: String
        var legalGateways: [Gateway]
        var askedBy: String
        var askedAt: Date
        var question: String
        var deadline: Date
        var recipient: String
        var about: About
        var answer: Answer

        struct Gateway: Codable { var id: String; var title: String }
        /// The holder's own record: its reference, kind and date; whether it is still current (a
        /// deregistration or an off-roll is still asked when it is the latest evidence).
        struct About: Codable { var kind: String; var yourReference: String; var observedAt: Date; var current: Bool? }
        struct Answer: Codable { var endpoint: String; var statuses: [String] }
    }

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("enquiries", method: .post, roles: [.partner], state: state) { request, context in try await ask(request, context) }
        group.on("enquiries", method: .get, roles: Self.holderRoles.union([.partner, .auditor]), state: state) { request, context in
            try await list(request, context)
        }
        group.on("enquiries/{id}/answers", method: .post, roles: Self.holderRoles, state: state) { request, context in try await answer(request, context) }
        group.on("enquiries/{id}/approval", method: .post, roles: [.partner, .la], state: state) { request, context in try await approve(request, context) }
    }

    /// Free text: present when required, at most maxTextBytes of UTF-8, no control characters but line breaks and tabs.
    func text(_ value: JSONValue?, field: String, required: Bool) throws -> String {
        guard let value, value != .null else {
            if required { throw APIError.badRequest("\(field) is required") }
            return ""
        }
        guard let s = value.stringValue else { throw APIError.badRequest("\(field) is a string") }
        let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if required && trimmed.isEmpty { throw APIError.badRequest("\(field) is empty") }
        guard trimmed.utf8.count <= Self.maxTextBytes else { throw APIError.badRequest("\(field) is longer than \(Self.maxTextBytes) bytes of UTF-8") }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !["\n", "\t", "\r"].contains($0) }) else {
            throw APIError.badRequest("\(field) contains control characters")
        }
        return trimmed
    }

    static func newID(_ prefix: String) -> String {
        prefix + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    // MARK: ask

    func ask(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let asker = context.participant.identity.shortName
        let digest = state.requestDigest("POST", "/v1/enquiries")
        guard state.enquiryLimiter.allow(asker) else {
            await state.auditRefusal(actor: asker, action: "enquiry.ask", rule: "enquiry-rate-limit", reason: "rate limit exceeded", requestDigest: digest)
            throw APIError(.tooManyRequests, "rate-limited",
                           "too many enquiries; at most \(Int(state.enquiryLimiter.burst)) at once and \(Int(state.enquiryLimiter.perMinute)) a minute per participant")
        }
        let o = try await boundedJSONObject(request, allowed: ["pseudonym", "purpose", "question"], expected: #"{"pseudonym": P, "purpose": P, "question": text}"#)
        return try json(try await askEnquiry(pseudonym: o["pseudonym"]?.stringValue, purposeName: o["purpose"]?.stringValue, question: o["question"],
                                             context, digest: digest), status: .created)
    }

    /// Asks the agencies holding a child's records, as `POST /v1/enquiries` and the console's
    /// form do (the rate limit is the caller's); the answer's JSON object.
    func askEnquiry(pseudonym: String?, purposeName: String?, question questionValue: JSONValue?, _ context: ParticipantContext,
                    digest: String) async throws -> [String: JSONValue] {
        let asker = context.participant.identity.shortName
        let purpose = try await partner.purpose(purposeName, context, action: "enquiry.ask", digest: digest)
        guard let rules = purpose.enquiries else {
            let rule = "purpose:\(purpose.name):enquiries"
            await state.auditRefusal(actor: asker, action: "enquiry.ask", rule: rule, reason: "purpose \(purpose.name) allows no enquiries",
                                     requestDigest: digest, purpose: purpose.name)
            throw APIError.forbidden("enquiries-not-allowed", "purpose \(purpose.name) allows no enquiries (rule \(rule))")
        }
        let question = try text(questionValue, field: "question", required: true)
        guard let given = pseudonym, !given.isEmpty, given.utf8.count <= 64 else { throw APIError.badRequest("pseudonym is required") }
        let la = try partner.ownLocalAuthority(context)
        let unknown = APIError.notFound("no subject with that pseudonym for \(asker)")
        guard let subject = try await state.store.resolvePseudonym(given, recipient: asker) else { throw unknown }
        let held = try await state.store.heldRecords(ofSubject: subject)
        try await partner.requireInOwnLA(la, held.map(\.record), subject: subject, action: "enquiry.ask", purpose: purpose, digest: digest,
                                         context, notFound: unknown)
        let now = state.now()
        let holders = EnquiryHolders.select(held.map(\.record), uses: purpose.uses, ask: rules.ask, today: CivilDate(now))
            .compactMap { h -> (EnquiryHolders.Holder, String)? in
                guard let sealed = held[h.index].sealedReference, let ref = try? state.sealer.open(sealed) else { return nil }
                return (h, String(decoding: ref, as: UTF8.self))
            }
        guard !holders.isEmpty else {
            await state.auditRefusal(actor: asker, action: "enquiry.ask", rule: "purpose:\(purpose.name):enquiries",
                                     reason: "no agency the purpose may ask holds a record of the child", requestDigest: digest, purpose: purpose.name)
            throw APIError(.conflict, "no-holder", "no agency that purpose \(purpose.name) may ask holds a record of this child with its own reference")
        }
        let id = Self.newID("enq-")
        let rule = "purpose:\(purpose.name):enquiries"
        let deadline = rules.deadline.after(now)
        let approvalDue = rules.approval.map { $0.within.after(now) }
        let questionDigest = state.digester.digest("enquiry-question", text: question)
        let forwards = try holders.enumerated().map { i, h in
            try forward(enquiry: id, index: i + 1, holder: h.0, reference: h.1, record: held[h.0.index].record, purpose: purpose, rule: rule,
                        asker: asker, askedAt: now, question: question, deadline: deadline, subject: subject, sentBy: asker)
        }
        let audit = AuditEntry(time: now, actor: asker, action: "enquiry.asked", purpose: purpose.name, policyVersion: state.policy.version,
                               decision: .allow, rule: rule, counts: ["holders": holders.count, "questionBytes": question.utf8.count],
                               subjects: [subject], requestDigest: digest,
                               detail: ["enquiry": id, "question": questionDigest, "approval": rules.approval == nil ? "none" : "required",
                                        "deadline": Instant.format(deadline)])
        try await state.store.createEnquiry(NewEnquiry(
            publicID: id, asker: asker, purpose: purpose.name, subjectID: subject, sealedQuestion: try state.sealer.seal(Data(question.utf8)),
            questionLength: question.utf8.count, createdAt: now, deadline: deadline, approvalDue: approvalDue, forwards: forwards, audit: audit))
        state.metrics.enquiriesAsked.increment()
        if approvalDue == nil {
            state.metrics.forwardsCreated.increment(by: Int64(forwards.count))
            state.forwardDoorbell.ring()
        }
        var answer: [String: JSONValue] = ["id": .string(id), "state": .string(approvalDue == nil ? "sent" : "awaiting-approval"),
                                           "holders": .number(Double(holders.count)), "deadline": .string(Instant.format(deadline))]
        if let approvalDue {
            answer["approvalDue"] = .string(Instant.format(approvalDue))
            answer["approvers"] = .array((rules.approval?.by ?? []).map { .string($0) })
        }
        return answer
    }

    func forward(enquiry id: String, index: Int, holder: EnquiryHolders.Holder, reference: String, record: SubjectRecord, purpose: Purpose,
                 rule: String, asker: String, askedAt: Date, question: String, deadline: Date, subject: Int64, sentBy: String) throws -> NewForward {
        let forwardID = "\(id)-\(index)"
        let notice = Notice(
            enquiryId: id, forwardId: forwardID, purpose: purpose.name, purposeTitle: purpose.title,
            legalGateways: purpose.legalGateways.map { Notice.Gateway(id: $0, title: state.policy.legalGateways[$0]?.title ?? $0) },
            askedBy: asker, askedAt: askedAt, question: question, deadline: deadline, recipient: holder.source,
            about: .init(kind: record.kind.rawValue, yourReference: reference, observedAt: record.observedAt, current: holder.current),
            answer: .init(endpoint: "POST /v1/enquiries/\(id)/answers", statuses: EnquiryAnswerStatus.allCases.map(\.rawValue)))
        let payload = try SubmissionReceipt.encoder.encode(notice)
        let audit = AuditEntry(time: state.now(), actor: sentBy, action: "enquiry.sent", purpose: purpose.name, policyVersion: state.policy.version,
                               decision: .allow, rule: rule, subjects: [subject], requestDigest: AuditEntry.forwardReference(forwardID),
                               detail: ["enquiry": id, "recipient": holder.source, "current": holder.current.map { $0 ? "yes" : "no" } ?? "event"])
        return NewForward(publicID: forwardID, recipient: holder.source, rule: rule, purpose: purpose.name, subjectID: subject,
                          sealedPayload: try state.sealer.seal(payload), deadline: deadline, audit: audit)
    }

    // MARK: list

    func list(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        try json(try await listPage(context))
    }

    /// The enquiries this participant asked (a partner), was asked (a holder), or all (the
    /// auditor), as `GET /v1/enquiries` answers them; the console shows the same.
    func listPage(_ context: ParticipantContext) async throws -> [String: JSONValue] {
        let me = context.participant.identity
        let digest = state.requestDigest("GET", "/v1/enquiries")
        let stored: [StoredEnquiry]
        switch me.role {
        case .partner: stored = try await state.store.enquiries(asker: me.shortName, holder: nil, publicID: nil, limit: 200)
        case .auditor: stored = try await state.store.enquiries(asker: nil, holder: nil, publicID: nil, limit: 200)
        default: stored = try await state.store.enquiries(asker: nil, holder: me.shortName, publicID: nil, limit: 200)
        }
        // A second approver sees what waits for it, question included: it cannot approve blind.
        var awaiting: [StoredEnquiry] = []
        if me.role == .partner || me.role == .la, let la = context.participant.la {
            awaiting = try await state.store.enquiries(asker: nil, holder: nil, publicID: nil, limit: 500).filter { e in
                guard e.state == .awaitingApproval, e.asker != me.shortName,
                      state.policy.purposes[e.purpose]?.enquiries?.approval?.mayApprove(me) == true,
                      let asker = ParticipantIdentity(uri: "spiffe://\(state.participants.trustDomain)/\(e.asker)"),
                      case .active(let p) = state.participants.lookup(asker), p.la == la else { return false }
                return true
            }
        }
        let now = state.now()
        var pseudonyms: [Int64: String] = [:]
        if me.role == .partner {
            pseudonyms = try await state.pseudonyms(for: Array(Set(stored.map(\.subjectID))), recipient: me)
            // The pseudonyms named here keep resolving for the partner (and are withdrawn on erasure), as a view's do.
            try await state.store.recordIssuedPseudonyms(pseudonyms.map { IssuedPseudonym(pseudonym: $0.value, recipient: me.shortName, subject: $0.key) })
        }
        let items: [JSONValue] = stored.map { e in
            var item: [String: JSONValue] = [
                "id": .string(e.publicID), "purpose": .string(e.purpose), "state": .string(e.state.rawValue),
                "askedAt": .string(Instant.format(e.createdAt)), "deadline": .string(Instant.format(e.deadline)),
                "question": .string(state.sealer.openText(e.sealedQuestion)),
            ]
            if let d = e.approvalDue { item["approvalDue"] = .string(Instant.format(d)) }
            if let by = e.approvedBy { item["decidedBy"] = .string(by) }
            if me.role == .partner || me.role == .auditor {
                if me.role == .partner {
                    item["pseudonym"] = .string(pseudonyms[e.subjectID] ?? "")
                } else {
                    item["askedBy"] = .string(e.asker)
                }
                item["holders"] = .array(e.holders.map { h in
                    var o: [String: JSONValue] = ["holder": .string(h.holder), "delivery": .string(h.delivery ?? (e.state == .sent ? "pending" : "not sent"))]
                    if let s = h.status {
                        o["status"] = .string(s)
                        o["text"] = .string(state.sealer.openText(h.sealedAnswer))
                        o["answeredAt"] = h.answeredAt.map { .string(Instant.format($0)) } ?? .null
                    } else if e.state == .sent && e.deadline <= now {
                        o["overdue"] = .bool(true)
                    }
                    return .object(o)
                })
            } else if let h = e.holders.first(where: { $0.holder == me.shortName }) {
                // The holder sees what it was sent (its own reference) and its own answer; nothing of the other holders.
                if let notice = try? JSONDecoder().decode(JSONValue.self, from: state.sealer.open(h.sealedNotice)) {
                    item["askedBy"] = notice.objectValue?["askedBy"] ?? .null
                    item["about"] = notice.objectValue?["about"] ?? .null
                }
                if let s = h.status { item["answered"] = .string(s) }
            }
            return .object(item)
        }
        let toApprove: [JSONValue] = awaiting.map { e in
            .object(["id": .string(e.publicID), "purpose": .string(e.purpose), "askedBy": .string(e.asker), "askedAt": .string(Instant.format(e.createdAt)),
                     "approvalDue": e.approvalDue.map { .string(Instant.format($0)) } ?? .null, "question": .string(state.sealer.openText(e.sealedQuestion)),
                     "holders": .number(Double(e.holders.count))])
        }
        try await state.store.appendAudit(AuditEntry(
            time: now, actor: me.shortName, action: "enquiry.list", policyVersion: state.policy.version, decision: .allow,
            rule: "endpoint-roles:GET /enquiries", counts: ["enquiries": items.count, "awaitingApproval": toApprove.count],
            subjects: (stored + awaiting).map(\.subjectID), requestDigest: digest))
        var page: [String: JSONValue] = ["enquiries": .array(items)]
        if !toApprove.isEmpty { page["awaitingYourApproval"] = .array(toApprove) }
        return page
    }

    // MARK: answer

    func answer(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let digest = state.requestDigest("POST", "/v1/enquiries/{id}/answers")
        let o = try await boundedJSONObject(request, allowed: ["status", "text"], expected: #"{"status": S, "text": optional text}"#)
        try await answerEnquiry(id: id, status: o["status"]?.stringValue, text: o["text"], context, digest: digest)
        return try json(["enquiry": .string(id), "status": o["status"] ?? .null], status: .created)
    }

    /// A holder's answer, as `POST /v1/enquiries/{id}/answers` and the console's form give it.
    func answerEnquiry(id: String, status statusText: String?, text textValue: JSONValue?, _ context: ParticipantContext, digest: String) async throws {
        let holder = context.participant.identity.shortName
        guard let status = statusText.flatMap(EnquiryAnswerStatus.init(rawValue:)) else {
            throw APIError.badRequest("status is one of \(EnquiryAnswerStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let answerText = try text(textValue, field: "text", required: status == .other || status == .safeguardingConcern)
        let notFound = APIError.notFound("no such enquiry addressed to \(holder)")
        guard id.utf8.count <= 64, let enquiry = try await state.store.enquiries(asker: nil, holder: nil, publicID: id, limit: 1).first,
              enquiry.holders.contains(where: { $0.holder == holder }) else {
            await state.auditRefusal(actor: holder, action: "enquiry.answer", rule: "enquiry-holders-only",
                                     reason: "not an enquiry addressed to this participant", requestDigest: digest)
            throw notFound
        }
        let now = state.now()
        let audit = AuditEntry(time: now, actor: holder, action: "enquiry.answered", purpose: enquiry.purpose, policyVersion: state.policy.version,
                               decision: .allow, rule: "purpose:\(enquiry.purpose):enquiries", counts: ["answerBytes": answerText.utf8.count],
                               subjects: [enquiry.subjectID], requestDigest: digest,
                               detail: ["enquiry": enquiry.publicID, "status": status.rawValue,
                                        "answer": answerText.isEmpty ? "" : state.digester.digest("enquiry-answer", text: answerText)])
        let outcome = try await state.store.answerEnquiry(
            publicID: enquiry.publicID, holder: holder, status: status.rawValue,
            sealedAnswer: answerText.isEmpty ? nil : try state.sealer.seal(Data(answerText.utf8)), answerLength: answerText.utf8.count, at: now, audit: audit)
        switch outcome {
        case .notFound: throw notFound
        case .notSent: throw APIError(.conflict, "not-sent", "enquiry \(enquiry.publicID) has not been sent (\(enquiry.state.rawValue))")
        case .alreadyAnswered: throw APIError(.conflict, "already-answered", "\(holder) has answered enquiry \(enquiry.publicID) already")
        case .answered:
            state.metrics.enquiriesAnswered.increment()
        }
    }

    // MARK: approval

    func approve(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let me = context.participant
        let id = try context.parameters.require("id")
        let digest = state.requestDigest("POST", "/v1/enquiries/{id}/approval")
        let o = try await boundedJSONObject(request, allowed: ["decision"], expected: #"{"decision": "approve" | "refuse"}"#)
        guard let decision = o["decision"]?.stringValue, ["approve", "refuse"].contains(decision) else {
            throw APIError.badRequest(#"expected {"decision": "approve" | "refuse"}"#)
        }
        let notFound = APIError.notFound("no such enquiry for \(me.identity.shortName) to approve")
        guard id.utf8.count <= 64, let enquiry = try await state.store.enquiries(asker: nil, holder: nil, publicID: id, limit: 1).first,
              let purpose = state.policy.purposes[enquiry.purpose] else { throw notFound }
        let rule = "purpose:\(purpose.name):enquiries:approval"
        let askerLA = ParticipantIdentity(uri: "spiffe://\(state.participants.trustDomain)/\(enquiry.asker)")
            .flatMap { identity -> String? in if case .active(let p) = state.participants.lookup(identity) { p.la } else { nil } }
        // Only a named approver of the asker's own LA, never the asker: otherwise the enquiry is not theirs to see.
        guard let approval = purpose.enquiries?.approval, approval.mayApprove(me.identity), me.identity.shortName != enquiry.asker,
              let la = me.la, la == askerLA else {
            await state.auditRefusal(actor: me.identity.shortName, action: "enquiry.approval", rule: rule,
                                     reason: "not a second approver of the asker's LA for \(purpose.name)", requestDigest: digest, purpose: purpose.name)
            if me.identity.shortName == enquiry.asker {
                throw APIError.forbidden("second-approver-required", "an enquiry under \(purpose.name) needs another participant's approval, not the asker's (rule \(rule))")
            }
            throw notFound
        }
        let now = state.now(), version = state.policy.version, approver = me.identity.shortName
        guard let rules = purpose.enquiries else { throw notFound }
        let deadline = rules.deadline.after(now)
        let approvedBy = approver
        let outcome = try await state.store.decideEnquiry(publicID: enquiry.publicID, approve: decision == "approve", by: approver, at: now) { stored in
            // The deadline counts from when the enquiry leaves, so each notice is sealed again with it.
            let forwards: [NewForward] = decision == "approve" ? try stored.holders.map { h in
                var notice = try SubmissionReceipt.decoder.decode(Notice.self, from: state.sealer.open(h.sealedNotice))
                notice.deadline = deadline
                let audit = AuditEntry(time: now, actor: approvedBy, action: "enquiry.sent", purpose: purpose.name, policyVersion: version,
                                       decision: .allow, rule: "purpose:\(purpose.name):enquiries", subjects: [stored.subjectID],
                                       requestDigest: AuditEntry.forwardReference(h.forwardPublicID),
                                       detail: ["enquiry": stored.publicID, "recipient": h.holder])
                return NewForward(publicID: h.forwardPublicID, recipient: h.holder, rule: "purpose:\(purpose.name):enquiries", purpose: purpose.name,
                                  subjectID: stored.subjectID, sealedPayload: try state.sealer.seal(try SubmissionReceipt.encoder.encode(notice)),
                                  deadline: deadline, audit: audit)
            } : []
            let audit = AuditEntry(time: now, actor: approvedBy, action: decision == "approve" ? "enquiry.approved" : "enquiry.refused",
                                   purpose: purpose.name, policyVersion: version, decision: decision == "approve" ? .allow : .deny, rule: rule,
                                   counts: ["holders": stored.holders.count], subjects: [stored.subjectID], requestDigest: digest,
                                   detail: ["enquiry": stored.publicID, "asker": stored.asker])
            return (forwards, deadline, audit)
        }
        switch outcome {
        case .notFound: throw notFound
        case .notAwaiting(let s):
            await state.auditRefusal(actor: approver, action: "enquiry.approval", rule: rule, reason: "the enquiry is not awaiting approval",
                                     requestDigest: digest, purpose: purpose.name)
            throw APIError(.conflict, "not-awaiting-approval", "enquiry \(enquiry.publicID) is \(s.rawValue), not awaiting approval")
        case .decided(let s):
            if s == .sent {
                state.metrics.forwardsCreated.increment(by: Int64(enquiry.holders.count))
                state.forwardDoorbell.ring()
            }
            return try json(["enquiry": .string(enquiry.publicID), "state": .string(s.rawValue), "deadline": .string(Instant.format(deadline))])
        }
    }

    func json(_ value: [String: JSONValue], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try SubmissionReceipt.encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

/// Expires enquiries not approved in time and reports holders past their deadline: run with the
/// outbox's delivery loop.
struct EnquirySweep {
    let state: GatewayState

    func run() async { await run(now: state.now()) }

    func run(now: Date) async {
        let version = state.policy.version
        do {
            let (expired, overdue) = try await state.store.sweepEnquiries(now: now, expired: { e in
                AuditEntry(time: now, actor: "gateway", action: "enquiry.expired", purpose: e.purpose, policyVersion: version, decision: .deny,
                           rule: "purpose:\(e.purpose):enquiries:approval", subjects: [e.subjectID], requestDigest: AuditEntry.forwardReference(e.publicID),
                           detail: ["enquiry": e.publicID, "approvalDue": e.approvalDue.map(Instant.format) ?? ""])
            }, overdue: { e, holder in
                AuditEntry(time: now, actor: "gateway", action: "enquiry.overdue", purpose: e.purpose, policyVersion: version, decision: .deny,
                           rule: "purpose:\(e.purpose):enquiries", subjects: [e.subjectID], requestDigest: AuditEntry.forwardReference(e.publicID),
                           detail: ["enquiry": e.publicID, "holder": holder, "deadline": Instant.format(e.deadline)])
            })
            if expired > 0 { state.metrics.enquiriesExpired.increment(by: Int64(expired)) }
            if overdue > 0 {
                state.metrics.enquiriesOverdue.increment(by: Int64(overdue))
                state.logger.warning("enquiry answers overdue", metadata: ["holders": "\(overdue)"])
            }
        } catch {
            state.logger.error("could not sweep enquiries", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
