import Foundation
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// The steward's linkage review queue: pairs of subjects that scored between the policy's
/// thresholds, or that a strong identifier bridged. `same` merges them; `different` keeps them
/// apart for good. Both are audited with the steward's identity; the note is sealed at rest.
struct ReviewRoutes {
    let state: GatewayState
    static let roles: Set<Role> = [.steward]
    static let maxNoteBytes = 500

    struct Decision: Decodable { let decision: String; let note: String? }


    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("review", method: .get, roles: Self.roles, state: state) { request, context in
            let status = request.uri.queryParameters["status"].map(String.init) ?? "pending"
            let items = try await list(status: status, context, path: "/v1/review")
            let data = try SubmissionReceipt.encoder.encode(["pairs": items])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        // How each record of a subject was linked, for the steward and the auditor: kinds, sources,
        // dates and the levels of agreement that joined it; no field values, no identifiers.
        // A subject is named by its id (from the review queue) or by a pseudonym issued to any partner.
        group.on("review/subjects/{id}", method: .get, roles: [.steward, .auditor], state: state) { request, context in
            let name = try context.parameters.require("id")
            let resolved: Int64?
            if name.hasPrefix("ps_") {
                guard name.utf8.count <= 64, name.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: "_")) }) else {
                    throw APIError.notFound("no subject with that pseudonym")
                }
                resolved = try await state.store.resolvePseudonym(name)
            } else {
                resolved = Int64(name)
            }
            guard let subject = resolved else { throw APIError.notFound("no subject with that id or pseudonym") }
            let records = try await state.store.linkExplanation(ofSubject: subject)
            guard !records.isEmpty else { throw APIError.notFound("no subject with that id or pseudonym") }
            try await state.store.appendAudit(AuditEntry(
                time: state.now(), actor: context.participant.identity.shortName, action: "subject.explain", policyVersion: state.policy.version,
                decision: .allow, rule: "endpoint-roles:GET /review/subjects/{id}", counts: ["records": records.count], subjects: [subject],
                requestDigest: state.requestDigest("GET", "/v1/review/subjects/\(subject)")))
            // The steward asks agencies about their own records, so sees their references; the
            // auditor sees how each record was linked, not whom it names.
            let steward = context.participant.identity.role == .steward
            let rows: [[String: String]] = records.map {
                var row = ["kind": $0.kind, "source": $0.source, "observedAt": Instant.format($0.observedAt), "linkedBy": $0.linkedBy]
                if steward { row["reference"] = state.sealer.openText($0.sealedReference) }
                return row
            }
            let uncertain = try await state.store.isUncertain(subject)
            let data = try SubmissionReceipt.encoder.encode(["subject": JSONValue.number(Double(subject)), "uncertain": .bool(uncertain),
                                                             "records": .array(rows.map { .object($0.mapValues { .string($0) }) })])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        group.on("review/{id}", method: .post, roles: Self.roles, state: state) { request, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw APIError.notFound("no review pair with that id") }
            let body = Data(buffer: try await request.body.collect(upTo: 4096))
            guard case .success(let value) = BoundedJSON().parse(body), let decided = try? JSONDecoder().decode(Decision.self, from: body),
                  value.objectValue?.keys.allSatisfy({ ["decision", "note"].contains($0) }) == true,
                  ["same", "different"].contains(decided.decision) else {
                throw APIError.badRequest("expected {\"decision\": \"same\" | \"different\", \"note\": text}")
            }
            try await decide(id: id, decision: decided.decision, note: decided.note ?? "", context, path: "/v1/review/\(id)")
            let data = try JSONEncoder().encode(["pair": "\(id)", "decision": decided.decision])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
    }

    /// The pairs with `status`, each source with its own reference opened (so that the steward
    /// can ask the agency about its record); audited as `review.list`. The API and the console.
    func list(status: String, _ context: ParticipantContext, path: String) async throws -> [ReviewItem] {
        guard ["pending", "same", "different"].contains(status) else { throw APIError.badRequest("status is pending, same or different") }
        var items = try await state.store.reviewItems(status: status, limit: 200)
        for i in items.indices {
            items[i].sources = zip(items[i].sources, items[i].sealedReferences).map { source, sealed in source + [state.sealer.openText(sealed)] }
        }
        try await state.store.appendAudit(AuditEntry(
            time: state.now(), actor: context.participant.identity.shortName, action: "review.list", policyVersion: state.policy.version,
            decision: .allow, rule: "endpoint-roles:GET /review", counts: ["pairs": items.count], subjects: items.flatMap { [$0.subjectA, $0.subjectB] },
            requestDigest: state.requestDigest("GET", path)))
        return items
    }

    /// Records the steward's decision on pair `id` (merging on `same`), audited with the steward's
    /// identity and the note's keyed digest; the note is sealed at rest.
    func decide(id: Int64, decision: String, note: String, _ context: ParticipantContext, path: String) async throws {
        guard ["same", "different"].contains(decision) else { throw APIError.badRequest("the decision is same or different") }
        guard note.utf8.count <= Self.maxNoteBytes else { throw APIError.badRequest("the note is longer than \(Self.maxNoteBytes) bytes") }
        let steward = context.participant.identity.shortName
        let now = state.now(), version = state.policy.version
        let noteDigest = note.isEmpty ? "" : state.digester.digest("review-note", text: note)
        let outcome = try await state.store.decideReview(
            id: id, same: decision == "same", steward: steward, sealedNote: note.isEmpty ? nil : try state.sealer.seal(Data(note.utf8)), at: now
        ) { a, b in
            AuditEntry(time: now, actor: steward, action: "review.decide", policyVersion: version, decision: .allow,
                       rule: "steward-review:\(decision)", counts: ["noteBytes": note.utf8.count], subjects: [a, b],
                       requestDigest: state.requestDigest("POST", path),
                       detail: ["pair": "\(id)", "decision": decision, "note": noteDigest])
        }
        switch outcome {
        case .notFound: throw APIError.notFound("no review pair \(id)")
        case .alreadyDecided: throw APIError(.conflict, "already-decided", "review pair \(id) was decided before")
        case .decided: return
        }
    }
}
