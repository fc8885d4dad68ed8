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
    let source: ParticipantIdentity
    let now: Date
    /// The LAs of the partnership: a current-school notice stays inside the child's LA.
    var localAuthorities: [GatewayConfig.LocalAuthority] = []

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
        /// Set on a notice held for an LA team to route to one school or close.
        var routing: Routing?
    }

    /// Why a notice is held, and how many schools have the child on roll now (never which ones,
    /// nor their references: the LA learns who teaches the child from the schools themselves).
    struct Routing: Codable {
        var reason: String
        var candidateSchools: Int
    }

    /// Where one rule sends one record.
    enum Destination {
        /// A partner participant; it is given its own pseudonym.
        case participant(String)
        /// A school, named with its own reference for the pupil.
        case school(String, reference: String)
        /// Held for `routedBy` to route, with the reason.
        case held(routedBy: String, Routing)
    }

    func plan(records: [PseudonymisedRecord], outcomes: [RecordOutcome], lookup: any ForwardLookup) throws -> [NewForward] {
        var forwards: [NewForward] = []
        for (record, outcome) in zip(records, outcomes) {
            for rule in policy.forwarding.rules(for: record.kind, fields: record.fields) {
                for destination in try destinations(rule, subject: outcome.subjectID, lookup: lookup) {
                    forwards.append(try forward(rule, record: record, subject: outcome.subjectID, to: destination, lookup: lookup))
                }
            }
        }
        return forwards
    }

    func forward(_ rule: ForwardRule, record: PseudonymisedRecord, subject: Int64, to destination: Destination, lookup: any ForwardLookup) throws -> NewForward {
        let publicID = "fwd_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let recipient: String
        var reference: String? = nil
        var routing: Routing? = nil
        switch destination {
        case .participant(let p): recipient = p
        case .school(let s, let ref): recipient = s; reference = ref
        case .held(let p, let r): recipient = p; routing = r
        }
        var pseudonym: String? = nil
        if reference == nil, let identity = ParticipantIdentity(uri: "spiffe://\(participants.trustDomain)/\(recipient)") {
            pseudonym = pseudonymiser.stablePseudonym(subjectID: subject, recipient: identity,
                                                      issued: pseudonymiser.recipientKeyRotated ? try lookup.issuedPseudonyms(subject: subject, recipient: recipient) : [])
        }
        let deadline = rule.deadline(for: record.fields, observedAt: record.observedAt)
        let notice = Notice(forwardId: publicID, rule: rule.name, purpose: rule.purpose, kind: record.kind.rawValue,
                            observedAt: record.observedAt, createdAt: now, deadline: deadline, recipient: recipient,
                            fields: record.fields.filter { rule.fields.contains($0.key) }, pupilReference: reference, pseudonym: pseudonym,
                            routing: routing)
        let payload = try sealer.seal(SubmissionReceipt.encoder.encode(notice))
        var detail = ["recipient": recipient]
        if let routing { detail["held"] = routing.reason; detail["candidateSchools"] = String(routing.candidateSchools) }
        let audit = AuditEntry(time: now, actor: source.shortName, action: routing == nil ? "forward.create" : "forward.held", purpose: rule.purpose,
                               policyVersion: policy.version, decision: .allow, rule: rule.name, subjects: [subject],
                               requestDigest: AuditEntry.forwardReference(publicID), detail: detail)
        return NewForward(publicID: publicID, recipient: recipient, rule: rule.name, purpose: rule.purpose, subjectID: subject,
                          sealedPayload: payload, deadline: deadline, audit: audit, issuedPseudonym: pseudonym, held: routing != nil)
    }

    func destinations(_ rule: ForwardRule, subject: Int64, lookup: any ForwardLookup) throws -> [Destination] {
        switch rule.recipient {
        case .participant(let p):
            return [.participant(p)]
        case .currentSchool:
            return try schoolDestination(rule, subject: subject, lookup: lookup).map { [$0] } ?? []
        }
    }

    /// The school a current-school notice goes to, or a hold for the rule's LA team; nil when no
    /// school has the child on roll (nothing to send).
    ///
    /// The rule (also written in Policies/forwarding.yaml): a notice goes to a school only if
    /// - the child has exactly one current enrolment (several schools: the LA decides);
    /// - that enrolment is linked by a strong identifier the school did not make up: it carries
    ///   an NHS number or UPN that a record from another participant of the same child also
    ///   carries (EnrolmentReference.corroborated). Name and date of birth never qualify: any
    ///   school can enrol any child by name and birthday; and nor does a UPN only that school sent;
    /// - the school is listed in an LA of this partnership, and the child's residence, where
    ///   known (Residence: district of the latest record that gives one), is in that LA.
    func schoolDestination(_ rule: ForwardRule, subject: Int64, lookup: any ForwardLookup) throws -> Destination? {
        let enrolments = try lookup.currentEnrolments(subject: subject, on: CivilDate(now))
        let schools = Set(enrolments.map(\.source))
        guard !schools.isEmpty else { return nil }
        func hold(_ reason: String) -> Destination? {
            // The loader requires hold-for with current-school; without one nothing is sent.
            rule.holdFor.map { .held(routedBy: $0, Routing(reason: reason, candidateSchools: schools.count)) }
        }
        guard schools.count == 1, let school = schools.first else { return hold("several-current-schools") }
        guard enrolments.contains(where: \.corroborated) else { return hold("enrolment-not-linked-by-strong-identifier") }
        guard let la = localAuthority(ofSchool: school) else { return hold("school-outside-the-partnership-las") }
        if la.placesOutside(try lookup.records(ofSubject: subject)) { return hold("child-resident-outside-the-schools-la") }
        guard let sealed = enrolments.first(where: \.corroborated)?.sealedReference, let ref = try? sealer.open(sealed) else {
            return hold("school-reference-unavailable")
        }
        return .school(school, reference: String(decoding: ref, as: UTF8.self))
    }

    /// The LA of a school from the participants file, if the partnership configures that LA.
    func localAuthority(ofSchool school: String) -> GatewayConfig.LocalAuthority? {
        guard let identity = ParticipantIdentity(uri: "spiffe://\(participants.trustDomain)/\(school)"),
              let code = participants.participants[identity]?.la else { return nil }
        return localAuthorities.first { $0.code == code }
    }

}
