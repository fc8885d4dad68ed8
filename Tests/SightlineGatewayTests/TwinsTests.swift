import Foundation
import SightlineCore
import Testing
@testable import SightlineGateway

/// Issue 10 item 5: twins are two children. Same family name, date of birth and address, different
/// given names: the GP registers both, the school has one on roll; the other is still listed as
/// missing education, and neither twin's record joins the other.
@Suite("Twins", .serialized)
struct TwinsTests {
    static let household = #""familyName":"Okonkwo-Marsh","dateOfBirth":"2016-05-14","postcode":"NW6 4DP","address":"14 Kilburn High Road""#

    static func gp(_ ref: String, _ given: String, nhs: String?) -> String {
        let strong = nhs.map { "\"nhsNumber\":\"\($0)\"," } ?? ""
        return PartnerTests.record("nhs.gp-registration", ref, "{\(strong)\"givenName\":\"\(given)\",\(household)}",
                            "{\"practice\":\"Y12345\",\"registeredFrom\":\"2016-06-01\"}")
    }

    /// With NHS numbers the twins differ on a strong identifier; without (a registration that lost
    /// it), only the rule that a practice does not register one child twice keeps them apart.
    @Test(arguments: [true, false])
    func oneTwinOnRollTheOtherStillListedAsMissing(withNHSNumbers: Bool) async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let registrations = [Self.gp("GP-T1", "Amara", nhs: withNHSNumbers ? "9434765919" : nil),
                                 Self.gp("GP-T2", "Chidi", nhs: withNHSNumbers ? "6541003238" : nil)].joined(separator: "\n")
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(registrations.utf8)).status == 201)
            // The school knows Amara by UPN and name only (no NHS number), written as schools write it.
            let enrolment = PartnerTests.record("school.enrolment", "ADM-7", "{\"upn\":\"H801200001001\",\"givenName\":\"AMARA\",\(Self.household.replacingOccurrences(of: "Road", with: "Rd"))}",
                                                "{\"onRollFrom\":\"2021-09-01\"}")
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(enrolment.utf8)).status == 201)
            #expect(try await gw.state.store.counts().subjects == 2, "two children, however alike")
            func match(_ given: String) async throws -> PartnerTests.MatchAnswer {
                try JSONDecoder().decode(PartnerTests.MatchAnswer.self, from: try await gw.request(
                    cme, "POST", "/v1/match", body: PartnerTests.matchBody("cme", "{\"givenName\":\"\(given)\",\(Self.household)}")).body)
            }
            let amara = try await match("Amara"), chidi = try await match("Chidi")
            #expect(amara.pseudonym != chidi.pseudonym)
            #expect(Set(amara.view.knownTo.map(\.kind)) == ["nhs.gp-registration", "school.enrolment"], "the enrolment joined the twin it names")
            #expect(chidi.view.knownTo.map(\.kind) == ["nhs.gp-registration"])
            let r = try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme")
            guard case .object(let report) = try JSONDecoder().decode(JSONValue.self, from: r.body), case .array(let rows)? = report["rows"] else {
                Issue.record("report answered \(r.status)"); return
            }
            let listed = Set(rows.compactMap { $0.objectValue?["pseudonym"]?.stringValue })
            #expect(listed.contains(chidi.pseudonym), "the twin on no roll is listed")
            #expect(!listed.contains(amara.pseudonym), "the twin on roll is not")
        }
    }

    /// The other order: the school's record of one twin (no NHS number) arrives first, then the
    /// GP's registration of the other twin. Family name, date of birth, postcode and address agree
    /// and score far above join; the given names differ outright, so the registration is not
    /// joined to the enrolled twin: it waits for the steward, and the twin on no roll is listed.
    @Test func theOtherTwinsRegistrationDoesNotJoinTheEnrolledTwin() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let steward = try p.identity(TestPartnership.id(.steward, "304"))
        try await p.withGateway { gw in
            let enrolment = PartnerTests.record("school.enrolment", "ADM-8", "{\"upn\":\"H801200001001\",\"givenName\":\"Amara\",\(Self.household)}",
                                                "{\"onRollFrom\":\"2021-09-01\"}")
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(enrolment.utf8)).status == 201)
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(Self.gp("GP-T2", "Chidi", nhs: "6541003238").utf8)).status == 201)
            #expect(try await gw.state.store.counts().subjects == 2, "two children, however alike")
            let queue = try await gw.request(steward, "GET", "/v1/review")
            #expect(String(decoding: queue.body, as: UTF8.self).contains("possible-twin-given-names-differ"), "\(String(decoding: queue.body, as: UTF8.self))")
            let chidi = try JSONDecoder().decode(PartnerTests.MatchAnswer.self, from: try await gw.request(
                cme, "POST", "/v1/match", body: PartnerTests.matchBody("cme", "{\"givenName\":\"Chidi\",\(Self.household)}")).body)
            #expect(chidi.view.knownTo.map(\.kind) == ["nhs.gp-registration"])
            let r = try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme")
            guard case .object(let report) = try JSONDecoder().decode(JSONValue.self, from: r.body), case .array(let rows)? = report["rows"] else {
                Issue.record("report answered \(r.status)"); return
            }
            let listed = rows.compactMap { $0.objectValue?["pseudonym"]?.stringValue }
            #expect(listed == [chidi.pseudonym], "the twin on no roll is listed, once")
        }
    }
}
