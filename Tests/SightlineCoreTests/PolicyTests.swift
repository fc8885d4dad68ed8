import Foundation
import Testing
@testable import SightlineCore

@Suite("Shipped policy")
struct PolicyTests {
    let policy: Policy

    init() throws {
        policy = try PolicyLoader.load(directory: Fixture.policiesDirectory.path)
    }

    @Test("the five shipped purposes exist, each citing at least one defined legal gateway")
    func purposes() {
        #expect(Set(policy.purposes.keys) == ["cme", "attendance", "s17", "s47", "encompass"])
        for purpose in policy.purposes.values {
            #expect(!purpose.legalGateways.isEmpty)
            for id in purpose.legalGateways { #expect(policy.legalGateways[id] != nil, "\(purpose.name) cites \(id)") }
        }
        #expect(policy.purposes["cme"]?.legalGateways.contains("education-act-1996-s436a") == true)
        #expect(policy.purposes["cme"]?.retention == "P2Y")
        #expect(policy.purposes["cme"]?.minimise["postcode"] == .district)
    }

    @Test("the version names the policy label and pins its text")
    func version() {
        #expect(policy.version.hasPrefix("2026-11-29.1+"))
        #expect(policy.version.count > "2026-11-29.1+".count)
    }

    @Test("a school may submit enrolments under a named rule")
    func schoolEnrolmentAllowed() {
        let decision = policy.ingressDecision(role: .school, kind: .schoolEnrolment)
        #expect(decision.isAllowed)
        #expect(decision.rule == "schools-submit-enrolments")
    }

    @Test("a school may not submit police notifications: default deny")
    func schoolPoliceDenied() {
        let decision = policy.ingressDecision(role: .school, kind: .policeNotification)
        #expect(!decision.isAllowed)
        #expect(decision.effect == .deny)
        #expect(decision.rule == "default-deny")
    }

    @Test("each kind is submitted by its source role only", arguments: RecordKind.allCases)
    func onlySourceRoleSubmits(_ kind: RecordKind) {
        for role in Role.allCases {
            #expect(policy.ingressDecision(role: role, kind: kind).isAllowed == (role == kind.sourceRole),
                    "\(role.rawValue) -> \(kind.rawValue)")
        }
    }

    @Test("fields in use for each kind are exactly the union of the purposes' uses", arguments: RecordKind.allCases)
    func fieldsInUse(_ kind: RecordKind) {
        var union = Set<String>()
        for purpose in policy.purposes.values { union.formUnion(purpose.uses[kind] ?? []) }
        #expect(policy.fieldsInUse[kind] ?? [] == union)
        #expect(policy.ingressMinimisation(kind: kind).kept == union)
    }

    @Test("the uses of the shipped purposes, as a DPO reads them in the YAML")
    func shippedUses() {
        #expect(policy.purposes["encompass"]?.uses[.policeNotification] == ["category", "occurredAt", "childPresent"])
        #expect(policy.purposes["encompass"]?.uses[.schoolEnrolment] == ["onRollFrom", "offRollOn"])
        #expect(policy.purposes["cme"]?.uses[.schoolEnrolment] == ["onRollFrom", "offRollOn", "offRollReason"])
        #expect(policy.purposes["cme"]?.uses[.policeNotification] == nil)
        #expect(policy.fieldsInUse[.schoolEnrolment]?.contains("freeSchoolMeals") == true, "s17 uses it")
    }

    @Test("purpose access: every partner for cme and attendance; s17, s47, encompass only the named MASH; no school")
    func purposeAccess() throws {
        let partner = ParticipantIdentity(trustDomain: "brent.sightline", role: .partner, id: "304-cme")
        let mash = ParticipantIdentity(trustDomain: "brent.sightline", role: .partner, id: "304-mash")
        let school = ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001")
        let cme = try #require(policy.purposes["cme"])
        #expect(cme.access(for: partner).isAllowed)
        #expect(cme.access(for: partner).rule == "purpose:cme")
        #expect(!cme.access(for: school).isAllowed)
        for name in ["s17", "s47", "encompass"] {
            let purpose = try #require(policy.purposes[name])
            #expect(!purpose.access(for: partner).isAllowed, "\(name)")
            #expect(purpose.access(for: mash).isAllowed, "\(name)")
            // current-school is the forwarding rule's choice of one school per notice, not a grant.
            #expect(!purpose.access(for: school).isAllowed, "\(name)")
        }
    }
}
