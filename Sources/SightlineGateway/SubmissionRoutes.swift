import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
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
        let participant = context.participant.identity
        let limits = state.config.limits
        // A slot before a byte of the body is read: what concurrent uploads cost stays bounded.
        guard let ticket = state.submissionAdmission.admit(participant.shortName) else {
            state.metrics.submissionsShed.increment()
            throw APIError(.serviceUnavailable, "busy", "too many submissions in progress (at most \(limits.maxConcurrentSubmissionsPerParticipant) per participant, \(limits.maxConcurrentSubmissions) in all); retry shortly", retryAfter: 2)
        }
        defer { ticket.release() }
        // Refuse an oversized body from its declared length before reading any of it.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limits.maxBodyBytes {
            throw APIError(.contentTooLarge, "too-large", "the body is \(length) bytes; this gateway accepts at most \(limits.maxBodyBytes) per submission: send smaller batches")
        }
        // The Idempotency-Key is text the client chose: checked, then kept and logged only as a keyed digest.
        let givenKey = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let givenKey, !Self.isValidIdempotencyKey(givenKey) {
            throw APIError.badRequest("Idempotency-Key must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
        }
        let buffer = try await BoundedBody.collect(request.body, limit: limits.maxBodyBytes, deadline: .seconds(limits.requestDeadlineSeconds),
                                                   minimumBytesPerSecond: limits.minimumUploadBytesPerSecond)
        let body = Data(buffer: buffer)
        let digester = state.digester
        let bodyDigest = digester.digest("submission-body", body)
        let key = givenKey.map { digester.digest("idempotency-key", text: "\(participant.shortName)|\($0)") } ?? "body:" + bodyDigest
        let receivedAt = state.now()
        let planContext = IngestPlan.Context(policy: state.policy, pseudonymiser: state.pseudonymiser, sealer: state.sealer, source: participant,
                                             now: receivedAt, limits: .init(maxRecords: limits.maxRecordsPerSubmission, maxRecordBytes: limits.maxRecordBytes))
        // Decoding and pseudonymising are CPU work: on the blocking pool, never Swift's cooperative threads.
        let planned: Result<IngestPlan, SubmissionBody.Unreadable> = try await NIOThreadPool.singleton.runIfActive {
            Result { () throws(SubmissionBody.Unreadable) in try IngestPlan.make(body: body, planContext) }
        }
        let plan: IngestPlan
        switch planned {
        case .success(let p): plan = p
        case .failure(let unreadable):
            switch unreadable.code {
            case .tooManyRecords: throw APIError(.contentTooLarge, "too-many-records", unreadable.reason)
            case .empty, .notAnArray: throw APIError.badRequest(unreadable.reason)
            }
        }

        let submissionID = "sub_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let policyVersion = state.policy.version
        let rejectedList = plan.rejected
        let sealer = state.sealer
        let gatewayState = state
        let planner = ForwardPlanner(policy: state.policy, participants: state.participants, pseudonymiser: state.pseudonymiser,
                                     sealer: sealer, source: participant, now: receivedAt, localAuthorities: state.config.localAuthorities)
        var commit = SubmissionCommit(
            id: submissionID, participant: participant.shortName, idempotencyKey: key, bodyDigest: bodyDigest,
            receivedAt: receivedAt, records: plan.kept, linkage: state.linkage,
            buildAudit: { outcomes in Self.auditEntry(plan, outcomes: outcomes, submissionID: submissionID, actor: participant.shortName,
                                                      time: receivedAt, policyVersion: policyVersion, bodyDigest: bodyDigest) },
            buildReceipt: { outcomes, auditIndex in
                let receipt = SubmissionReceipt(
                    submissionId: submissionID, receivedAt: receivedAt, participant: participant.shortName, policyVersion: policyVersion,
                    records: plan.total, accepted: outcomes.count,
                    created: outcomes.filter { $0.change == .created }.count,
                    updated: outcomes.filter { $0.change == .updated }.count,
                    rejectedCount: rejectedList.count, rejected: rejectedList, rules: plan.ruleCounts, droppedFields: plan.dropped,
                    auditIndex: auditIndex, replayed: false)
                return try sealer.seal(SubmissionReceipt.encoder.encode(receipt))
            })
        // Checked again inside the transaction: a participant suspended while its upload was arriving commits nothing.
        commit.authorise = {
            guard case .active = gatewayState.participants.lookup(participant) else {
                throw APIError.forbidden("participant-inactive", "participant \(participant.shortName) was suspended while the submission was in progress; nothing was stored")
            }
        }
        if !state.policy.forwarding.rules.isEmpty {
            commit.planForwards = { records, outcomes, lookup in try planner.plan(records: records, outcomes: outcomes, lookup: lookup) }
        }
        let result: SubmissionCommitResult
        do { result = try await state.store.commit(commit) } catch is LinkGenerationChanged {
            throw APIError(.serviceUnavailable, "keys-rotated", "the gateway's link key was rotated while this submission was in progress; nothing was stored; send it again",
                           retryAfter: 1)
        }
        switch result {
        case .committed(let sealed, let index, let forwards):
            if forwards > 0 {
                state.metrics.forwardsCreated.increment(by: Int64(forwards))
                state.forwardDoorbell.ring()
            }
            state.metrics.submissions.increment()
            state.metrics.recordsAccepted.increment(by: Int64(plan.kept.count))
            state.metrics.recordsRejected.increment(by: Int64(plan.rejected.count))
            context.logger.info("submission committed", metadata: [
                "submission": "\(submissionID)", "accepted": "\(plan.kept.count)", "rejected": "\(plan.rejected.count)", "audit.index": "\(index)"])
            return try receiptResponse(sealed, status: .created, replayed: false)
        case .replayed(let sealed):
            context.logger.info("submission replayed", metadata: ["idempotency.key": "\(key)"])
            return try receiptResponse(sealed, status: .ok, replayed: true)
        case .conflict:
            throw APIError(.conflict, "idempotency-conflict", "this Idempotency-Key was used before with a different body; use a new key for new content")
        }
    }

    /// The submission's audit entry: counts, rules and linkage outcomes, never content.
    static func auditEntry(_ plan: IngestPlan, outcomes: [RecordOutcome], submissionID: String, actor: String, time: Date,
                           policyVersion: String, bodyDigest: String) -> AuditEntry {
        let merges = outcomes.flatMap(\.merges), conflicts = outcomes.flatMap(\.conflicts)
        let subjects = Array(Set(outcomes.map(\.subjectID) + merges.map(\.from))).sorted()
        let linkedBy = Dictionary(grouping: outcomes, by: \.linkedBy).map { "\($0.key)=\($0.value.count)" }.sorted().joined(separator: ",")
        return AuditEntry(
            time: time, actor: actor, action: "submission", policyVersion: policyVersion,
            decision: outcomes.isEmpty ? .deny : .allow, rule: plan.primaryRule,
            counts: ["records": plan.total, "accepted": outcomes.count, "rejected": plan.rejected.count,
                     "created": outcomes.filter { $0.change == .created }.count,
                     "updated": outcomes.filter { $0.change == .updated }.count, "subjects": subjects.count,
                     "merges": merges.count, "conflicts": conflicts.count],
            subjects: subjects, requestDigest: bodyDigest,
            detail: ["submission": submissionID,
                     "rules": plan.ruleCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                     "dropped": plan.dropped.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.joined(separator: "+"))" }.joined(separator: ","),
                     "linkedBy": linkedBy,
                     // Every link explains itself: per accepted record, in order, the subject and how it joined
                     // ("score:37.4 given=exact,family=close,dob=exact"): levels only, never a value.
                     "links": outcomes.map { "\($0.subjectID) \($0.linkedBy)" }.joined(separator: ";"),
                     "merges": merges.map { "\($0.from)->\($0.into) via \($0.basis)" }.joined(separator: ","),
                     "conflicts": conflicts.map { "\($0.subjectA)/\($0.subjectB) \($0.reason)" }.joined(separator: ","),
                     "rejections": Dictionary(grouping: plan.rejected, by: \.field).map { "\($0.key.isEmpty ? "record" : $0.key)=\($0.value.count)" }.sorted().joined(separator: ",")])
    }

    func receiptResponse(_ sealed: Data, status: HTTPResponse.Status, replayed: Bool) throws -> Response {
        var receipt = try SubmissionReceipt.decoder.decode(SubmissionReceipt.self, from: state.sealer.open(sealed))
        receipt.replayed = replayed
        let data = try SubmissionReceipt.encoder.encode(receipt)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}
