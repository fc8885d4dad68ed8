import Foundation
import SightlineCore
import SightlineStore

/// Turns newly linked records into forwards, inside the submission's transaction: which rules
/// fire, who receives, and the minimised, sealed notice each recipient gets.
struct ForwardPlanner: Sendable {
    let policy: Policy
    let participants: ParticipantRegistry
    let pseudonymiser: Pseudonymiser
    let sealer: Sealer
    let digester: RequestDigester
    let source: ParticipantIdentity
    let now: Date

    /// The notice a recipient receives. A school is told its own reference for the pupil; a
    /// partner gets its own pseudonym. Nothing else about the child leaves.
    struct Notice: Codable {
        var forwardId: String
        var rule: String
        var purpose: String
        var kind: String
        var observedAt: Date
        var createdAt: Date
        var deadline: Date?
        var recipient: String
        var fields: [String: JSONValue]
        var pupilReference: String?
        var pseudonym: String?
    }

    func plan(records: [PseudonymisedRecord], outcomes: [RecordOutcome], lookup: any ForwardLookup) throws -> [NewForward] {
        var forwards: [NewForward] = []
        for (record, outcome) in zip(records, outcomes) {
            for rule in policy.forwarding.rules(for: record.kind, fields: record.fields) {
                for (recipient, reference) in try recipients(rule, subject: outcome.subjectID, lookup: lookup) {
                    let publicID = "fwd_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
                    var pseudonym: String? = nil
                    if reference == nil, let identity = ParticipantIdentity(uri: "spiffe://\(participants.trustDomain)/\(recipient)") {
                        pseudonym = pseudonymiser.recipientPseudonym(subjectID: outcome.subjectID, recipient: identity)
                    }
                    let deadline = rule.deadline(for: record.fields, observedAt: record.observedAt)
                    let notice = Notice(forwardId: publicID, rule: rule.name, purpose: rule.purpose, kind: record.kind.rawValue,
                                        observedAt: record.observedAt, createdAt: now, deadline: deadline, recipient: recipient,
                                        fields: record.fields.filter { rule.fields.contains($0.key) }, pupilReference: reference, pseudonym: pseudonym)
                    let payload = try sealer.seal(SubmissionReceipt.encoder.encode(notice))
                    let audit = AuditEntry(time: now, actor: source.shortName, action: "forward.create", purpose: rule.purpose,
                                           policyVersion: policy.version, decision: .allow, rule: rule.name, subjects: [outcome.subjectID],
                                           requestDigest: AuditEntry.forwardReference(publicID), detail: ["recipient": recipient])
                    forwards.append(NewForward(publicID: publicID, recipient: recipient, rule: rule.name, purpose: rule.purpose,
                                               subjectID: outcome.subjectID, sealedPayload: payload, deadline: deadline, audit: audit,
                                               issuedPseudonym: pseudonym))
                }
            }
        }
        return forwards
    }

    /// (recipient, the recipient's own reference for the child if it is a school).
    func recipients(_ rule: ForwardRule, subject: Int64, lookup: any ForwardLookup) throws -> [(String, String?)] {
        switch rule.recipient {
        case .participant(let p):
            return [(p, nil)]
        case .currentSchool:
            return try lookup.currentEnrolments(subject: subject, on: CivilDate(now)).compactMap { enrolment in
                guard let sealed = enrolment.sealedReference, let ref = try? sealer.open(sealed) else { return nil }
                return (enrolment.source, String(decoding: ref, as: UTF8.self))
            }
        }
    }
}
