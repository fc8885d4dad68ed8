import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SightlineCore
import SightlineStore

/// POST /v1/submissions and GET /v1/submissions/{id}.
struct SubmissionRoutes {
    let state: GatewayState

    func register(on group: RouterGroup<ParticipantContext>) {
        group.on("submissions", method: .post, roles: Role.submitters, state: state) { request, context in
            try await submit(request, context)
        }
        group.on("submissions/{id}", method: .get, roles: Role.submitters, state: state) { request, context in
            let id = try context.parameters.require("id")
            guard let sealed = try await state.store.receipt(submissionID: id, participant: context.participant.identity.shortName) else {
                throw APIError.notFound("no submission \(id) from \(context.participant.identity.shortName)")
            }
            return try receiptResponse(sealed, status: .ok, replayed: false)
        }
    }

    static func isValidIdempotencyKey(_ key: String) -> Bool {
        (1...128).contains(key.utf8.count) && key.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x3A || c == 0x2D
        }
    }

    func submit(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let limit = state.config.limits.maxBodyBytes
        // Refuse an oversized body from its declared length before reading any of it.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "too-large", "the body is \(length) bytes; this gateway accepts at most \(limit) per submission: send smaller batches")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too-large", "the body exceeds \(limit) bytes; send smaller batches")
        }
        let body = Data(buffer: buffer)
        let bodyDigest = AuditHash.digest(body)
        let key = request.headers[HTTPField.Name("Idempotency-Key")!] ?? "body:\(bodyDigest)"
        guard Self.isValidIdempotencyKey(key) else {
            throw APIError.badRequest("Idempotency-Key must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
        }
        let lines: [(line: Int, value: Result<JSONValue, RecordRejection>)]
        do { lines = try SubmissionBody.parse(body) } catch { throw APIError.badRequest(error.reason) }
        guard !lines.isEmpty else { throw APIError.badRequest("the body holds no records; send NDJSON (one record a line) or a JSON array") }
        guard lines.count <= state.config.limits.maxRecordsPerSubmission else {
            throw APIError(.contentTooLarge, "too-many-records", "\(lines.count) records in one submission; at most \(state.config.limits.maxRecordsPerSubmission): send smaller batches")
        }

        let participant = context.participant.identity
        let validator = RecordValidator(now: state.now())
        var rejected: [RecordRejection] = []
        var kept: [PseudonymisedRecord] = []
        var ruleCounts: [String: Int] = [:]
        var dropped: [String: Set<String>] = [:]
        kept.reserveCapacity(lines.count)
        for (line, value) in lines {
            let record: ValidatedRecord
            switch value.flatMap({ validator.validate($0, line: line) }) {
            case .failure(let rejection): rejected.append(rejection); continue
            case .success(let r): record = r
            }
            let decision = state.policy.ingressDecision(role: participant.role, kind: record.kind)
            ruleCounts[decision.rule, default: 0] += 1
            guard decision.isAllowed else {
                rejected.append(RecordRejection(line: line, field: "kind", reason: "refused by policy rule \(decision.rule): \(decision.reason)", localRef: record.localRef))
                continue
            }
            let minimisation = state.policy.ingressMinimisation(kind: record.kind)
            var p = state.pseudonymiser.pseudonymise(record, source: participant, keptFields: minimisation.kept)
            if ForwardPlanner.keepsReference(record.kind, policy: state.policy) {
                p.sealedReference = try state.sealer.seal(Data(record.localRef.utf8))
            }
            if !p.droppedFields.isEmpty {
                dropped[record.kind.rawValue, default: []].formUnion(p.droppedFields)
                ruleCounts[minimisation.rule, default: 0] += 1
            }
            kept.append(p)
        }

        let submissionID = "sub_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let receivedAt = state.now()
        let policyVersion = state.policy.version
        let droppedLists = dropped.mapValues { $0.sorted() }
        let rejectedList = rejected
        let total = lines.count
        let rules = ruleCounts
        let sealer = state.sealer
        let planner = ForwardPlanner(policy: state.policy, participants: state.participants, pseudonymiser: state.pseudonymiser,
                                     sealer: sealer, source: participant, now: receivedAt, localAuthorities: state.config.localAuthorities)
        var commit = SubmissionCommit(
            id: submissionID, participant: participant.shortName, idempotencyKey: key, bodyDigest: bodyDigest,
            receivedAt: receivedAt, records: kept,
            buildAudit: { outcomes in
                let merges = outcomes.flatMap(\.merges), conflicts = outcomes.flatMap(\.conflicts)
                let subjects = Array(Set(outcomes.map(\.subjectID) + merges.map(\.from))).sorted()
                let linkedBy = Dictionary(grouping: outcomes, by: \.linkedBy).map { "\($0.key)=\($0.value.count)" }.sorted().joined(separator: ",")
                let primaryRule = rules.keys.filter { !$0.hasPrefix("minimise") }.sorted().first ?? "record-validation"
                return AuditEntry(
                    time: receivedAt, actor: participant.shortName, action: "submission", policyVersion: policyVersion,
                    decision: outcomes.isEmpty ? .deny : .allow, rule: primaryRule,
                    counts: ["records": total, "accepted": outcomes.count, "rejected": rejectedList.count,
                             "created": outcomes.filter { $0.change == .created }.count,
                             "updated": outcomes.filter { $0.change == .updated }.count, "subjects": subjects.count,
                             "merges": merges.count, "conflicts": conflicts.count],
                    subjects: subjects, requestDigest: bodyDigest,
                    detail: ["submission": submissionID,
                             "rules": rules.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                             "dropped": droppedLists.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.joined(separator: "+"))" }.joined(separator: ","),
                             "linkedBy": linkedBy,
                             "merges": merges.map { "\($0.from)->\($0.into) via \($0.basis)" }.joined(separator: ","),
                             "conflicts": conflicts.map { "\($0.subjectA)/\($0.subjectB) \($0.reason)" }.joined(separator: ","),
                             "rejections": Dictionary(grouping: rejectedList, by: \.field).map { "\($0.key.isEmpty ? "record" : $0.key)=\($0.value.count)" }.sorted().joined(separator: ",")])
            },
            buildReceipt: { outcomes, auditIndex in
                let receipt = SubmissionReceipt(
                    submissionId: submissionID, receivedAt: receivedAt, participant: participant.shortName, policyVersion: policyVersion,
                    records: total, accepted: outcomes.count,
                    created: outcomes.filter { $0.change == .created }.count,
                    updated: outcomes.filter { $0.change == .updated }.count,
                    rejectedCount: rejectedList.count, rejected: rejectedList, rules: rules, droppedFields: droppedLists,
                    auditIndex: auditIndex, replayed: false)
                return try sealer.seal(SubmissionReceipt.encoder.encode(receipt))
            })

        if !state.policy.forwarding.rules.isEmpty {
            commit.planForwards = { records, outcomes, lookup in try planner.plan(records: records, outcomes: outcomes, lookup: lookup) }
        }
        switch try await state.store.commit(commit) {
        case .committed(let sealed, let index, let forwards):
            if forwards > 0 {
                state.metrics.forwardsCreated.increment(by: Int64(forwards))
                state.forwardDoorbell.ring()
            }
            state.metrics.submissions.increment()
            state.metrics.recordsAccepted.increment(by: Int64(kept.count))
            state.metrics.recordsRejected.increment(by: Int64(rejected.count))
            context.logger.info("submission committed", metadata: [
                "submission": "\(submissionID)", "accepted": "\(kept.count)", "rejected": "\(rejected.count)", "audit.index": "\(index)"])
            return try receiptResponse(sealed, status: .created, replayed: false)
        case .replayed(let sealed):
            context.logger.info("submission replayed", metadata: ["idempotency.key": "\(key)"])
            return try receiptResponse(sealed, status: .ok, replayed: true)
        case .conflict:
            throw APIError(.conflict, "idempotency-conflict", "Idempotency-Key \(key) was used before with a different body; use a new key for new content")
        }
    }

    func receiptResponse(_ sealed: Data, status: HTTPResponse.Status, replayed: Bool) throws -> Response {
        var receipt = try SubmissionReceipt.decoder.decode(SubmissionReceipt.self, from: state.sealer.open(sealed))
        receipt.replayed = replayed
        let data = try SubmissionReceipt.encoder.encode(receipt)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
