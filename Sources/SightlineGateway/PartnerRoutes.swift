import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// What LA safeguarding partners ask: match a child they already know, view a subject under a
/// purpose, run reports. Every answer is limited to the purpose's fields and the partner's own
/// pseudonyms, and every question is an audit entry.
struct PartnerRoutes {
    let state: GatewayState
    static let partnerRoles: Set<Role> = [.partner]

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("match", method: .post, roles: Self.partnerRoles, state: state) { request, context in try await match(request, context) }
        group.on("subjects/{pseudonym}", method: .get, roles: Self.partnerRoles, state: state) { request, context in try await subject(request, context) }
        group.on("reports/{name}", method: .get, roles: Self.partnerRoles, state: state) { request, context in try await report(request, context) }
    }

    /// The purpose named in the request, if this participant may use it; 403 naming the rule otherwise.
    func purpose(_ name: String?, _ context: ParticipantContext, action: String, digest: String) async throws -> Purpose {
        guard let name, !name.isEmpty else {
            throw APIError.badRequest("name a purpose (?purpose=P or \"purpose\"); this policy has \(state.policy.purposes.keys.sorted().joined(separator: ", "))")
        }
        guard let purpose = state.policy.purposes[name] else {
            throw APIError.badRequest("unknown purpose (not named: the request's text is not echoed); this policy has \(state.policy.purposes.keys.sorted().joined(separator: ", "))")
        }
        let decision = purpose.access(for: context.participant.identity)
        guard decision.isAllowed else {
            await state.auditRefusal(actor: context.participant.identity.shortName, action: action, rule: decision.rule,
                                     reason: decision.reason, requestDigest: digest, purpose: name)
            throw APIError.forbidden("purpose-not-allowed", "\(decision.reason) (rule \(decision.rule))")
        }
        return purpose
    }

    /// The partner's own LA (its `la` in the participants file, configured under
    /// local-authorities): matches, subject views and reports are limited to it.
    func ownLocalAuthority(_ context: ParticipantContext) throws -> GatewayConfig.LocalAuthority {
        guard let laCode = context.participant.la, let la = state.config.localAuthorities.first(where: { $0.code == laCode }) else {
            throw APIError.forbidden("no-local-authority", "participant \(context.participant.identity.shortName) has no local authority configured; partners see only children of their own LA (set la in the participants file and the LA under local-authorities)")
        }
        return la
    }

    /// A child whose records place them outside the partner's LA (Residence: the district of the
    /// latest record that gives one) is answered exactly like an unknown child, so a partner
    /// learns nothing of children elsewhere; an unknown residence is not outside. The refusal is
    /// audited with its rule.
    func requireInOwnLA(_ la: GatewayConfig.LocalAuthority, _ records: [SubjectRecord], subject: Int64, action: String, purpose: Purpose,
                        digest: String, _ context: ParticipantContext, notFound: APIError) async throws {
        guard la.placesOutside(records) else { return }
        try await state.store.appendAudit(AuditEntry(time: state.now(), actor: context.participant.identity.shortName, action: action,
                                                     purpose: purpose.name, policyVersion: state.policy.version, decision: .deny,
                                                     rule: "partner-own-la", subjects: [subject], requestDigest: digest,
                                                     detail: ["la": la.code]))
        throw notFound
    }

    func pseudonym(for subject: Int64, _ context: ParticipantContext) async throws -> String {
        try await state.pseudonym(for: subject, recipient: context.participant.identity)
    }

    struct MatchRequest: Decodable {
        var purpose: String?
        var identifiers: [String: JSONValue]?
    }

    func match(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let actor = context.participant.identity.shortName
        // Refuse before reading anything: the limit is what stops enumeration.
        guard state.matchLimiter.allow(actor) else {
            state.metrics.matchRateLimited.increment()
            await state.auditRefusal(actor: actor, action: "match", rule: "match-rate-limit", reason: "rate limit exceeded",
                                     requestDigest: state.requestDigest("POST", "/v1/match"))
            throw APIError(.tooManyRequests, "rate-limited", "too many match requests; at most \(Int(state.matchLimiter.perMinute)) a minute per participant")
        }
        let body = Data(buffer: try await request.body.collect(upTo: 16 * 1024))
        // Never a digest of the body: it holds identifiers. The entry records the linkage basis instead.
        let digest = state.requestDigest("POST", "/v1/match")
        guard let parsed = try? JSONDecoder().decode(MatchRequest.self, from: body) else {
            throw APIError.badRequest("expected {\"purpose\": P, \"identifiers\": {...}} with identifiers as in records")
        }
        let purpose = try await purpose(parsed.purpose, context, action: "match", digest: digest)
        let la = try ownLocalAuthority(context)
        let ids: SubjectIdentifiers
        switch RecordValidator(now: state.now()).validateIdentifiers(parsed.identifiers ?? [:]) {
        case .success(let v): ids = v
        case .failure(let problem):
            throw APIError.badRequest("identifiers\(problem.field.isEmpty ? "" : "." + problem.field): \(problem.reason)")
        }
        let decision = try await decide(ids, asker: actor)
        let miss = APIError.notFound("no child matches these identifiers")
        guard case .join(let subject, let basisName, let score, _) = decision else {
            state.metrics.matchMisses.increment()
            try await state.store.appendAudit(AuditEntry(time: state.now(), actor: actor, action: "match", purpose: purpose.name,
                                                         policyVersion: state.policy.version, decision: .deny, rule: "match-no-subject",
                                                         requestDigest: digest))
            throw miss
        }
        let matchedBy = basisName == "score" ? "score:\(String(format: "%.1f", score.total)) \(score.explanation)" : basisName
        let records = try await state.store.records(ofSubject: subject)
        do {
            try await requireInOwnLA(la, records, subject: subject, action: "match", purpose: purpose, digest: digest, context, notFound: miss)
        } catch {
            state.metrics.matchMisses.increment()
            throw error
        }
        let view = try await view(subject: subject, records: records, purpose: purpose, context)
        state.metrics.matchHits.increment()
        try await state.store.appendAudit(AuditEntry(time: state.now(), actor: actor, action: "match", purpose: purpose.name,
                                                     policyVersion: state.policy.version, decision: .allow, rule: "purpose:\(purpose.name)",
                                                     subjects: [subject], requestDigest: digest, detail: ["linkedBy": matchedBy]))
        return try json(MatchResponse(pseudonym: view.pseudonym, matchedBy: matchedBy, view: view))
    }

    /// Which child these identifiers name, by the same matcher as ingestion on the same
    /// candidates: a child a record would join is the child a match finds.
    func decide(_ ids: SubjectIdentifiers, asker: String) async throws -> LinkDecision {
        // Both forms while a link key migration runs: a child not yet migrated is found by the old.
        let lookup = state.pseudonymiser.lookupKeys(for: ids)
        let material = lookup.material
        let found = try await state.store.linkageCandidates(
            strongKeys: lookup.allStrongDigests, blockingKeys: lookup.allCandidateKeys,
            nameTokens: [material.given?.exact, material.family?.exact].compactMap { $0 }, open: state.linkage.openMaterial)
        return state.linkage.matcher.decide(
            SubjectMatcher.Record(material: material, source: "match:\(asker)", kind: .schoolEnrolment, referenceKey: Data()),
            candidates: found.records, strongHits: found.strongHits, frequency: { found.frequencies[$0] })
    }

    struct MatchResponse: Encodable {
        let pseudonym: String
        let matchedBy: String
        let view: SubjectView
    }

    func view(subject: Int64, records: [SubjectRecord], purpose: Purpose, _ context: ParticipantContext) async throws -> SubjectView {
        let pseudonym = try await pseudonym(for: subject, context)
        try await state.store.recordIssuedPseudonyms([IssuedPseudonym(pseudonym: pseudonym, recipient: context.participant.identity.shortName, subject: subject)])
        let uncertain = try await state.store.isUncertain(subject)
        return SubjectView(pseudonym: pseudonym, purpose: purpose, records: records, uncertain: uncertain, today: CivilDate(state.now()))
    }

    func subject(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let given = try context.parameters.require("pseudonym")
        return try json(try await subjectView(given, purposeName: request.uri.queryParameters["purpose"].map(String.init), context,
                                              digest: state.requestDigest("GET", "/v1/subjects/\(given)")))
    }

    /// A child as the partner may see it under a purpose (its own pseudonym, its LA), audited as
    /// `subject.view`: the API and the console's child page.
    func subjectView(_ given: String, purposeName: String?, _ context: ParticipantContext, digest: String) async throws -> SubjectView {
        let purpose = try await purpose(purposeName, context, action: "subject.view", digest: digest)
        let la = try ownLocalAuthority(context)
        let unknown = APIError.notFound("no subject with that pseudonym for \(context.participant.identity.shortName)")
        guard let subject = try await state.store.resolvePseudonym(given, recipient: context.participant.identity.shortName) else {
            throw unknown
        }
        let records = try await state.store.records(ofSubject: subject)
        try await requireInOwnLA(la, records, subject: subject, action: "subject.view", purpose: purpose, digest: digest, context, notFound: unknown)
        // The pseudonym the partner holds keeps resolving after a merge; the view names the current one.
        let view = try await view(subject: subject, records: records, purpose: purpose, context)
        try await state.store.appendAudit(AuditEntry(time: state.now(), actor: context.participant.identity.shortName, action: "subject.view",
                                                     purpose: purpose.name, policyVersion: state.policy.version, decision: .allow,
                                                     rule: "purpose:\(purpose.name)", subjects: [subject], requestDigest: digest))
        return view
    }

    struct ReportResponse: Encodable {
        let report: String
        let purpose: String
        let la: String
        let generatedAt: Date
        let rows: [[String: JSONValue]]
        let summary: [String: JSONValue]
    }

    func report(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let answer = try await runReport(name: name, purposeName: request.uri.queryParameters["purpose"].map(String.init), context,
                                         digest: state.requestDigest("GET", "/v1/reports/\(name)"))
        return try json(answer.response)
    }

    /// Subject ids a report reads at a time (about three records each): the daemon's memory for a
    /// report is its rows plus one page, whatever the population.
    static let reportPageSubjects = 2_000

    /// A report as the partner may see it (its LA, its purpose's fields, its own pseudonyms),
    /// with the pseudonyms recorded as issued and the audit entry written: the API and the
    /// console show the same thing.
    func runReport(name: String, purposeName: String?, _ context: ParticipantContext, digest: String) async throws
        -> (response: ReportResponse, settings: ReportSettings) {
        guard let kind = ReportKind(rawValue: name) else {
            throw APIError.notFound("no such report; reports are \(ReportKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let purpose = try await purpose(purposeName, context, action: "report", digest: digest)
        guard let settings = purpose.reports[kind] else {
            let rule = "purpose:\(purpose.name):reports"
            await state.auditRefusal(actor: context.participant.identity.shortName, action: "report", rule: rule,
                                     reason: "purpose \(purpose.name) does not offer report \(name)", requestDigest: digest, purpose: purpose.name)
            throw APIError.forbidden("report-not-allowed", "purpose \(purpose.name) does not offer report \(name) (rule \(rule)); offered: \(purpose.reports.keys.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        let la = try ownLocalAuthority(context)
        let now = state.now()
        // The uncertain flags and enquiry answers are read just before the pages, in reads of their
        // own: a merge in between can leave a flag on the merged-away id until the next report.
        let uncertain = try await state.store.uncertainSubjects()
        let schools = Set(state.participants.participants.values.filter { $0.identity.role == .school && $0.la == la.code }.map(\.identity.shortName))
        let answers = kind == .missingEducation && purpose.enquiries != nil ? try await state.store.enquiryAnswers(purpose: purpose.name) : [:]
        // A page of subjects at a time: the report holds its rows, never every child's records at once.
        let page = try await state.store.reduceSubjectPages(ofKinds: kind.kindsRead, subjectsPerPage: Self.reportPageSubjects, into: ReportPage()) {
            merged, subjects in
            var input = ReportInput(subjects: subjects, uncertain: uncertain, today: CivilDate(now), la: la, settings: settings, schools: schools)
            input.enquiryAnswers = answers
            merged.merge(input.page(kind))
        }
        let result = ReportInput.finish(kind, page, settings: settings)
        let recipient = context.participant.identity.shortName
        var issued: [IssuedPseudonym] = []
        let pseudonyms = try await state.pseudonyms(for: result.rows.map(\.subjectID), recipient: context.participant.identity)
        let rows: [[String: JSONValue]] = result.rows.map { row in
            let p = pseudonyms[row.subjectID]!
            issued.append(IssuedPseudonym(pseudonym: p, recipient: recipient, subject: row.subjectID))
            var values = row.values
            values["pseudonym"] = .string(p)
            return values
        }
        try await state.store.recordIssuedPseudonyms(issued)
        try await state.store.appendAudit(AuditEntry(time: now, actor: recipient, action: "report", purpose: purpose.name,
                                                     policyVersion: state.policy.version, decision: .allow, rule: "purpose:\(purpose.name):reports",
                                                     counts: ["rows": rows.count], subjects: result.rows.map(\.subjectID).sorted(),
                                                     requestDigest: digest, detail: ["report": name, "la": la.code]))
        return (ReportResponse(report: name, purpose: purpose.name, la: la.code, generatedAt: now, rows: rows, summary: result.summary), settings)
    }

    func json<T: Encodable>(_ value: T) throws -> Response {
        let data = try SubmissionReceipt.encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
