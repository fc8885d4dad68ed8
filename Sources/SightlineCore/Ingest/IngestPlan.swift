import Foundation

/// What a submission body becomes before anything is stored: each record validated, checked
/// against the ingress policy, minimised and pseudonymised, or rejected with its line, field and
/// reason. Pure: no network, no database, so it is tested on its own and run off the request's
/// thread (it is the CPU-heavy part of a submission).
public struct IngestPlan: Sendable {
    public var total = 0
    public var kept: [PseudonymisedRecord] = []
    public var rejected: [RecordRejection] = []
    /// Policy rule -> number of records it decided.
    public var ruleCounts: [String: Int] = [:]
    /// Kind -> field names dropped at ingress because no purpose uses them.
    public var dropped: [String: [String]] = [:]

    public struct Context: Sendable {
        public var policy: Policy
        public var pseudonymiser: Pseudonymiser
        public var sealer: Sealer
        public var source: ParticipantIdentity
        public var now: Date
        public var limits: SubmissionBody.Limits
        public init(policy: Policy, pseudonymiser: Pseudonymiser, sealer: Sealer, source: ParticipantIdentity, now: Date,
                    limits: SubmissionBody.Limits) {
            self.policy = policy; self.pseudonymiser = pseudonymiser; self.sealer = sealer
            self.source = source; self.now = now; self.limits = limits
        }
    }

    /// Reads, validates and pseudonymises `body`. Throws only when the body as a whole is
    /// unusable (empty, over the record cap, a broken array); a bad record is a rejection.
    public static func make(body: Data, _ context: Context) throws(SubmissionBody.Unreadable) -> IngestPlan {
        var plan = IngestPlan()
        let validator = RecordValidator(now: context.now)
        var dropped: [String: Set<String>] = [:]
        try SubmissionBody.forEachRecord(body, limits: context.limits) { line, value in
            plan.total += 1
            let record: ValidatedRecord
            switch value.flatMap({ validator.validate($0, line: line) }) {
            case .failure(let rejection): plan.rejected.append(rejection); return
            case .success(let r): record = r
            }
            let decision = context.policy.ingressDecision(role: context.source.role, kind: record.kind)
            plan.ruleCounts[decision.rule, default: 0] += 1
            guard decision.isAllowed else {
                plan.rejected.append(RecordRejection(line: line, field: "kind", reason: "refused by policy rule \(decision.rule): \(decision.reason)",
                                                     localRef: record.localRef))
                return
            }
            let minimisation = context.policy.ingressMinimisation(kind: record.kind)
            var p = context.pseudonymiser.pseudonymise(record, source: context.source, keptFields: minimisation.kept)
            // The comparison material is kept sealed: at rest it shows neither tokens nor their frequencies.
            guard let sealedMaterial = try? context.sealer.seal(p.material.encoded()) else {
                plan.rejected.append(RecordRejection(line: line, field: "", reason: "could not be sealed; nothing of this record was kept",
                                                     localRef: record.localRef))
                return
            }
            p.sealedMaterial = sealedMaterial
            p.encodedFields = (try? CanonicalJSON.encode(p.fields)).map { String(decoding: $0, as: UTF8.self) }
            do {
                // Kept sealed so that a forward can name the pupil in the school's own terms, and a
                // steward can ask an agency about its own record; opened only for those.
                guard let sealed = try? context.sealer.seal(Data(record.localRef.utf8)) else {
                    plan.rejected.append(RecordRejection(line: line, field: "localRef", reason: "could not be sealed; nothing of this record was kept",
                                                         localRef: record.localRef))
                    return
                }
                p.sealedReference = sealed
            }
            if !p.droppedFields.isEmpty {
                dropped[record.kind.rawValue, default: []].formUnion(p.droppedFields)
                plan.ruleCounts[minimisation.rule, default: 0] += 1
            }
            plan.kept.append(p)
        }
        plan.dropped = dropped.mapValues { $0.sorted() }
        return plan
    }

    /// The rule an audit entry names for the submission as a whole.
    public var primaryRule: String {
        ruleCounts.keys.filter { !$0.hasPrefix("minimise") }.sorted().first ?? "record-validation"
    }
}
