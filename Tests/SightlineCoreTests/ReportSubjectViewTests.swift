import Foundation
import Testing
@testable import SightlineCore

private typealias F = ReportFixture

/// What a partner sees of one child, per shipped purpose: the policy's kinds and fields only, and
/// the attributes minimised as the purpose says.
@Suite("Subject view per purpose")
struct ReportSubjectViewTests {
    static let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Policies").path

    let policy: Policy
    init() throws { policy = try PolicyLoader.load(directory: Self.policies) }

    /// A value of the right type for every field of a kind's schema: the record carries everything.
    static func everyField(_ kind: RecordKind) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for spec in kind.schema.fields {
            switch spec.type {
            case .date: out[spec.name] = .string(spec.name.lowercased().contains("to") || spec.name.contains("off") || spec.name.contains("dereg") ? "2026-10-02" : "2021-09-03")
            case .instant: out[spec.name] = .string("2026-11-01T21:15:00Z")
            case .boolean: out[spec.name] = .bool(true)
            case .integer: out[spec.name] = .number(42)
            case .oneOf(let values): out[spec.name] = .string(values[0])
            case .odsPracticeCode: out[spec.name] = .string("Y12345")
            }
        }
        return out
    }

    /// One child known to every kind of agency; the school enrolment is the latest record and the
    /// only one in NW10.
    static let child: [SubjectRecord] = {
        let seen: [RecordKind: String] = [.laRegister: "2026-11-01", .housingTenancy: "2026-11-02", .gpRegistration: "2026-11-03",
                                          .policeNotification: "2026-11-04", .schoolExclusion: "2026-11-05",
                                          .schoolAttendance: "2026-11-06", .schoolEnrolment: "2026-11-19"]
        var records = RecordKind.allCases.map { kind in
            F.record(42, kind, kind.sourceRole.rawValue + "/x", seen: seen[kind]!, district: kind == .schoolEnrolment ? "NW10" : "NW6",
                     linkedBy: kind == .policeNotification ? "name-dob" : "nhs", everyField(kind))
        }
        records.append(F.record(42, .schoolEnrolment, "school/100001", seen: "2025-09-10", district: "NW6", everyField(.schoolEnrolment)))
        return records
    }()

    func view(_ purpose: String, records: [SubjectRecord] = child, uncertain: Bool = false) throws -> SubjectView {
        let p = try #require(policy.purposes[purpose])
        return SubjectView(pseudonym: "p-test", purpose: p, records: records, uncertain: uncertain, today: F.today)
    }

    @Test("every purpose: only the kinds it uses appear, each with exactly the fields it lists",
          arguments: ["cme", "attendance", "s17", "s47", "encompass"])
    func kindsAndFields(purpose: String) throws {
        let p = try #require(policy.purposes[purpose])
        let v = try view(purpose)
        #expect(v.purpose == purpose)
        #expect(Set(v.records.map(\.kind)) == Set(p.uses.keys.map(\.rawValue)))
        #expect(Set(v.knownTo.map(\.kind)) == Set(p.uses.keys.map(\.rawValue)))
        for r in v.records {
            let kind = try #require(RecordKind(rawValue: r.kind))
            #expect(Set(r.fields.keys) == p.uses[kind], "\(purpose) \(r.kind)")
            #expect(r.fields.allSatisfy { Self.everyField(kind)[$0.key] == $0.value })
        }
    }

    @Test("cme: enrolment, GP, housing and LA registers only; no SEN, young-carer or police data")
    func cme() throws {
        let v = try view("cme")
        #expect(v.knownTo.map(\.kind) == ["housing.tenancy", "la.register", "nhs.gp-registration", "school.enrolment"])
        #expect(v.knownTo.map(\.role) == ["housing", "la", "nhs", "school"])
        #expect(v.knownTo.map(\.records) == [1, 1, 1, 2])
        let enrolments = v.knownTo.last!
        #expect(enrolments.firstSeen == F.at("2025-09-10"))
        #expect(enrolments.lastSeen == F.at("2026-11-19"))
        #expect(v.records.map(\.kind) == ["school.enrolment", "la.register", "housing.tenancy", "nhs.gp-registration", "school.enrolment"])
        let gp = try #require(v.records.first { $0.kind == "nhs.gp-registration" })
        #expect(Set(gp.fields.keys) == ["practice", "registeredFrom", "deregisteredOn"])
        #expect(gp.linkedBy == "nhs")
        let enrolment = try #require(v.records.last)
        #expect(Set(enrolment.fields.keys) == ["onRollFrom", "offRollOn", "offRollReason"])
        #expect(v.attributes == ["schoolYearGroup": .number(5), "postcodeDistrict": .string("NW10")])
        #expect(v.uncertain == false)
    }

    @Test("attendance: school kinds and registers; school year group and district")
    func attendance() throws {
        let v = try view("attendance", uncertain: true)
        #expect(v.knownTo.map(\.kind) == ["la.register", "school.attendance", "school.enrolment", "school.exclusion"])
        #expect(v.attributes == ["schoolYearGroup": .number(5), "postcodeDistrict": .string("NW10")])
        #expect(v.uncertain == true)
    }

    @Test("s17 and s47: year and month of birth and district; s47 alone sees police notifications",
          arguments: [("s17", false), ("s47", true)])
    func s17s47(purpose: String, police: Bool) throws {
        let v = try view(purpose)
        #expect(v.attributes == ["birthYearMonth": .string("2017-03"), "postcodeDistrict": .string("NW10")])
        #expect(v.knownTo.contains { $0.kind == "police.notification" } == police)
        let gp = try #require(v.records.first { $0.kind == "nhs.gp-registration" })
        #expect(gp.fields["youngCarer"] == .bool(true))
        let enrolment = try #require(v.records.last)
        #expect(enrolment.fields["youngCarer"] == .bool(true))
        #expect((enrolment.fields["freeSchoolMeals"] != nil) == (purpose == "s17"))
        if police {
            let p = try #require(v.records.first { $0.kind == "police.notification" })
            #expect(p.linkedBy == "name-dob")
            #expect(Set(p.fields.keys) == ["category", "occurredAt", "childPresent"])
        }
    }

    @Test("encompass: the notification and the enrolment dates only; every attribute dropped")
    func encompass() throws {
        let v = try view("encompass")
        #expect(v.knownTo.map(\.kind) == ["police.notification", "school.enrolment"])
        #expect(v.attributes.isEmpty)
        #expect(v.records.map(\.kind) == ["school.enrolment", "police.notification", "school.enrolment"])
        #expect(v.records.allSatisfy { $0.kind != "school.enrolment" || Set($0.fields.keys) == ["onRollFrom", "offRollOn"] })
    }

    @Test("a child known only to agencies the purpose does not use shows nothing but minimised attributes")
    func nothingVisible() throws {
        let onlyPolice = Self.child.filter { $0.kind == .policeNotification }
        let v = try view("cme", records: onlyPolice)
        #expect(v.records.isEmpty)
        #expect(v.knownTo.isEmpty)
    }

    @Test("age-band minimisation, and no dateOfBirth rule means dropped")
    func ageBand() throws {
        let cme = try #require(policy.purposes["cme"])
        func purpose(_ minimise: [String: Minimisation]) -> Purpose {
            Purpose(name: "test", title: "test", legalGateways: cme.legalGateways, recipients: ["partner"], uses: cme.uses,
                    minimise: minimise, retention: "P1Y", file: "test.yaml", reports: [:])
        }
        let banded = purpose(["dateOfBirth": .ageBand, "postcode": .drop])
        let cases: [(String, String)] = [("2022-11", "0-4"), ("2021-11", "5-10"), ("2017-03", "5-10"), ("2015-08", "11-15"),
                                         ("2010-11", "16-17"), ("2008-11", "18+")]
        for (birth, band) in cases {
            let records = [F.gp(1, birth: birth)]
            let v = SubjectView(pseudonym: "p", purpose: banded, records: records, uncertain: false, today: F.today)
            #expect(v.attributes == ["ageBand": .string(band)], "\(birth)")
        }
        let bare = SubjectView(pseudonym: "p", purpose: purpose(["postcode": .district]), records: [F.gp(1)], uncertain: false, today: F.today)
        #expect(bare.attributes == ["postcodeDistrict": .string("NW6")])
    }

    @Test("attributes come only from records of kinds the purpose uses: a newer police address is not shown to CME")
    func attributesFromVisibleKindsOnly() throws {
        let records = [F.gp(1, seen: "2026-11-01", district: "NW6"),
                       F.record(1, .policeNotification, "police/MPS", seen: "2026-11-18", birth: "2017-04", district: "SE1",
                                ["category": .string("domestic-abuse"), "occurredAt": .string("2026-11-17T22:10:00Z"), "childPresent": .bool(true)]),
                       F.record(1, .policeNotification, "police/MPS", seen: "2026-11-19", birth: "2017-04", district: "SE1",
                                ["category": .string("concern"), "occurredAt": .string("2026-11-18T22:10:00Z"), "childPresent": .bool(true)])]
        #expect(try view("cme", records: records).attributes == ["schoolYearGroup": .number(5), "postcodeDistrict": .string("NW6")])
        #expect(try view("s17", records: records).attributes == ["birthYearMonth": .string("2017-03"), "postcodeDistrict": .string("NW6")])
        // s47 uses police notifications: there the newer police address and the majority month stand.
        #expect(try view("s47", records: records).attributes == ["birthYearMonth": .string("2017-04"), "postcodeDistrict": .string("SE1")])
    }

    @Test("agencies that disagree on the month of birth: the most frequent wins, a tie goes to the earlier")
    func birthMonthVote() {
        let majority = SubjectAttributes(records: [F.gp(1, birth: "2017-04"), F.tenancy(1, birth: "2017-03"), F.register(1, "cin", birth: "2017-04")])
        #expect(majority.birthYearMonth == "2017-04")
        let tie = SubjectAttributes(records: [F.gp(1, birth: "2017-04"), F.tenancy(1, birth: "2017-03")])
        #expect(tie.birthYearMonth == "2017-03")
        let none = SubjectAttributes(records: [F.gp(1, birth: nil)])
        #expect(none.birthYearMonth == nil)
        #expect(none.schoolYearGroup(on: F.today) == nil)
        #expect(none.ageBand(on: F.today) == nil)
    }
}
