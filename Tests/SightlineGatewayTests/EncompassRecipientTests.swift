import Foundation
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// Operation Encompass notices go to a school only when its current enrolment is linked to the
/// child by a strong identifier another participant shares, in the child's LA; otherwise the
/// MASH routes them (GET/POST /v1/routing). Over real mTLS, with pull-only schools.
@Suite("Encompass recipients", .serialized)
struct EncompassRecipientTests {
    struct Page: Decodable { struct Item: Decodable { var id: Int64; var forward: [String: JSONValue] }; var forwards: [Item] }
    struct Held: Decodable {
        struct Item: Decodable { var forwardId: String; var rule: String; var notice: [String: JSONValue] }
        var held: [Item]
    }

    static let mash = TestPartnership.id(.partner, "304-mash")

    /// A partnership with the MASH; schools 100002 and 100003 pull their forwards.
    static func partnership(participants change: (Participant) -> Participant = { $0 }) throws -> TestPartnership {
        let p = try ForwardingTests.partnership(schoolPort: ForwardingTests.freePort())
        var list = TestPartnership.participants.map(change)
        list.append(.init(identity: mash, name: "MASH", status: .active, la: "304"))
        try Data(ParticipantRegistry.render(trustDomain: TestPartnership.trustDomain, participants: list).utf8)
            .write(to: URL(fileURLWithPath: p.config.participantsPath))
        return p
    }

    static func inbox(_ gw: RunningGateway, _ identity: String) async throws -> [[String: JSONValue]] {
        try JSONDecoder().decode(Page.self, from: try await gw.request(identity, "GET", "/v1/inbox").body).forwards.map(\.forward)
    }

    static func heldNotices(_ gw: RunningGateway, _ mash: String) async throws -> [Held.Item] {
        let r = try await gw.request(mash, "GET", "/v1/routing")
        guard r.status == 200 else { throw TestFailure("GET /v1/routing: \(r.status)") }
        return try JSONDecoder().decode(Held.self, from: r.body).held
    }

    static func entries(_ gw: RunningGateway) async throws -> [AuditEntry] {
        try await gw.state.store.auditEntries(from: 0, limit: 500).compactMap { try? AuditEntry.decode(canonical: $0.entry) }
    }

    @Test func aSchoolWhoseEnrolmentHasNameAndBirthDateOnlyGetsNothing() async throws {
        let p = try Self.partnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100002"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let mash = try p.identity(Self.mash)
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-7", identifiers: ForwardingTests.childByName))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            #expect(try await gw.state.store.counts().subjects == 1, "the notice links to the enrolment by name and date of birth")
            #expect(try await Self.inbox(gw, school).isEmpty)
            let forwards = try await gw.state.store.forwards(state: nil, limit: 10)
            #expect(forwards.map(\.recipient) == ["partner/304-mash"] && forwards.map(\.state.rawValue) == ["held"])
            let held = try await Self.heldNotices(gw, mash)
            #expect(held.count == 1)
            let routing = held.first?.notice["routing"]?.objectValue
            #expect(routing?["reason"] == .string("enrolment-not-linked-by-strong-identifier"))
            #expect(routing?["candidateSchools"] == .number(1))
            #expect(held.first?.notice["pupilReference"] == nil)
        }
    }

    @Test func aUPNOnlyTheSchoolHasSentDoesNotQualify() async throws {
        let p = try Self.partnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100002"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            // The school invents the UPN: nobody else holds it.
            let invented = "{\"upn\":\"H801200001001\",\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\"}"
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-7", identifiers: invented))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1", identifiers: ForwardingTests.childByName).utf8))
            #expect(try await Self.inbox(gw, school).isEmpty)
            #expect(try await gw.state.store.forwards(state: nil, limit: 10).map(\.state.rawValue) == ["held"])
        }
    }

    @Test func aSchoolWhoseEnrolmentSharesTheNHSNumberGetsTheNotice() async throws {
        let p = try Self.partnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100002"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-7"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            let notices = try await Self.inbox(gw, school)
            #expect(notices.count == 1 && notices.first?["pupilReference"] == .string("ADM-7"))
            #expect(notices.first?["rule"] == .string("encompass-to-current-school"))
        }
    }

    @Test func twoCurrentSchoolsHoldTheNoticeForTheLAToRouteOrClose() async throws {
        let p = try Self.partnership(); defer { p.remove() }
        let second = try p.identity(TestPartnership.id(.school, "100002"))
        let third = try p.identity(TestPartnership.id(.school, "100003"))
        let first = try p.identity(TestPartnership.id(.school, "100001"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let mash = try p.identity(Self.mash)
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            _ = try await gw.request(second, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-2"))
            _ = try await gw.request(third, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-3"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            #expect(try await Self.inbox(gw, second).isEmpty)
            #expect(try await Self.inbox(gw, third).isEmpty)
            let listing = try await gw.request(mash, "GET", "/v1/routing")
            for ref in ["ADM-2", "ADM-3", "school/10000"] { #expect(!String(decoding: listing.body, as: UTF8.self).contains(ref)) }
            let held = try await Self.heldNotices(gw, mash)
            #expect(held.count == 1)
            #expect(held.first?.notice["routing"]?.objectValue?["reason"] == .string("several-current-schools"))
            #expect(held.first?.notice["routing"]?.objectValue?["candidateSchools"] == .number(2))
            let id = try #require(held.first?.forwardId)
            // Only the routing team sees or decides it; a school without the child cannot receive it.
            #expect(try await Self.heldNotices(gw, cme).isEmpty)
            #expect(try await gw.request(cme, "POST", "/v1/routing/\(id)", body: Data("{\"route\":\"school/100003\"}".utf8)).status == 404)
            #expect(try await gw.request(mash, "POST", "/v1/routing/\(id)", body: Data("{\"route\":\"school/100001\"}".utf8)).status == 409)
            #expect(try await Self.inbox(gw, first).isEmpty)
            let routed = try await gw.request(mash, "POST", "/v1/routing/\(id)", body: Data("{\"route\":\"school/100003\"}".utf8))
            #expect(routed.status == 200, "\(String(decoding: routed.body, as: UTF8.self))")
            let notices = try await Self.inbox(gw, third)
            #expect(notices.count == 1 && notices.first?["pupilReference"] == .string("ADM-3") && notices.first?["routing"] == nil)
            #expect(try await Self.inbox(gw, second).isEmpty)
            #expect(try await Self.heldNotices(gw, mash).isEmpty)
            #expect(try await gw.request(mash, "POST", "/v1/routing/\(id)", body: Data("{\"route\":\"school/100003\"}".utf8)).status == 404)

            // A second notice, closed by the MASH with a reason from the closed list.
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-2").utf8))
            let next = try #require(try await Self.heldNotices(gw, mash).first?.forwardId)
            #expect(try await gw.request(mash, "POST", "/v1/routing/\(next)", body: Data("{\"close\":\"anything I like\"}".utf8)).status == 400)
            #expect(try await gw.request(mash, "POST", "/v1/routing/\(next)", body: Data("{\"close\":\"handled-outside-sightline\"}".utf8)).status == 200)
            #expect(try await Self.heldNotices(gw, mash).isEmpty)
            let entries = try await Self.entries(gw)
            #expect(entries.contains { $0.action == "forward.held" && $0.rule == "encompass-to-current-school" && $0.detail["recipient"] == "partner/304-mash" })
            #expect(entries.contains { $0.action == "forward.routed" && $0.actor == "partner/304-mash" && $0.detail["to"] == "school/100003" })
            #expect(entries.contains { $0.action == "forward.closed" && $0.actor == "partner/304-mash" && $0.detail["reason"] == "handled-outside-sightline" })
        }
    }

    @Test func aSchoolOfAnotherLAIsNotSentTheNotice() async throws {
        let p = try Self.partnership { participant in
            participant.identity == TestPartnership.id(.school, "100002")
                ? Participant(identity: participant.identity, name: "Camden school", status: .active, la: "202") : participant
        }
        defer { p.remove() }
        p.config.localAuthorities.append(.init(code: "202", name: "Camden", districts: ["NW1", "NW3", "NW5", "WC1"]))
        let school = try p.identity(TestPartnership.id(.school, "100002"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            // Linked by NHS number, but the child lives in Brent (NW6) and the school is Camden's.
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-7"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            #expect(try await Self.inbox(gw, school).isEmpty)
            let forwards = try await gw.state.store.forwards(state: nil, limit: 10)
            #expect(forwards.map(\.recipient) == ["partner/304-mash"] && forwards.map(\.state.rawValue) == ["held"])
        }
    }

    @Test func aHeldNoticePastItsDeadlineIsCountedOverdue() async throws {
        let p = try Self.partnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100002"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-7", identifiers: ForwardingTests.childByName))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1", at: "2026-11-18T22:00:00Z").utf8))
            try await ForwardingTests.waitUntil { try await Self.entries(gw).contains { $0.action == "forward.overdue" } }
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_forwards_overdue_total 1"))
            #expect(metrics.contains("sightline_forwards_held 1"))
        }
    }
}
