import Foundation
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// Partners see the linked, minimised picture: their own pseudonyms, their purpose's fields.
@Suite("Partner queries", .serialized)
struct PartnerTests {
    struct MatchAnswer: Decodable { var pseudonym: String; var matchedBy: String; var view: View }
    struct View: Decodable {
        struct Known: Decodable { var kind: String; var records: Int }
        struct Rec: Decodable { var kind: String; var linkedBy: String; var fields: [String: JSONValue] }
        var pseudonym: String; var purpose: String; var uncertain: Bool
        var attributes: [String: JSONValue]; var knownTo: [Known]; var records: [Rec]
    }
    struct ReportAnswer: Decodable { var report: String; var purpose: String; var rows: [[String: JSONValue]]; var summary: [String: JSONValue] }

    static func matchBody(_ purpose: String, _ identifiers: String) -> Data {
        Data("{\"purpose\":\"\(purpose)\",\"identifiers\":\(identifiers)}".utf8)
    }

    static func record(_ kind: String, _ ref: String, _ ids: String, _ fields: String) -> String {
        "{\"kind\":\"\(kind)\",\"localRef\":\"\(ref)\",\"observedAt\":\"2026-11-01T09:00:00Z\",\"identifiers\":\(ids),\"fields\":\(fields)}"
    }

    @Test func partnersSeeTheirOwnPseudonymsOnly() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        try await p.withGateway { gw in
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8)).status == 201)
            let a = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"943 476 5919\"}")).body)
            let b = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(mash, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}")).body)
            #expect(a.pseudonym != b.pseudonym)
            #expect(a.matchedBy == "nhs")
            #expect(try await gw.request(mash, "GET", "/v1/subjects/\(a.pseudonym)?purpose=cme").status == 404)
            #expect(try await gw.request(cme, "GET", "/v1/subjects/\(b.pseudonym)?purpose=cme").status == 404)
            let again = try await gw.request(cme, "GET", "/v1/subjects/\(a.pseudonym)?purpose=cme")
            #expect(again.status == 200)
            let view = try JSONDecoder().decode(View.self, from: again.body)
            #expect(view.pseudonym == a.pseudonym && view.knownTo.map(\.kind) == ["nhs.gp-registration"])
            // Identifiers never come back, only the purpose's minimised attributes.
            let text = String(decoding: again.body, as: UTF8.self)
            for raw in ["9434765919", "Okafor", "Amara", "2014-03-02", "NW6 4DP"] { #expect(!text.contains(raw)) }
            #expect(Set(view.attributes.keys) == ["schoolYearGroup", "postcodeDistrict"])
        }
    }

    @Test func aMissIs404AuditedAndCounted() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let r = try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}"))
            #expect(r.status == 404)
            let entry = try await lastAuditEntry(gw)
            #expect(entry.action == "match" && entry.rule == "match-no-subject" && entry.decision == .deny && entry.purpose == "cme")
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_match_misses_total 1"))
            // Bad identifiers are a 400 that names the field, not a miss.
            let bad = try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765918\"}"))
            #expect(bad.status == 400)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: bad.body).message.hasPrefix("identifiers.nhsNumber"))
            // Name alone never matches.
            let nameOnly = try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"givenName\":\"Amara\",\"familyName\":\"Okafor\"}"))
            #expect(nameOnly.status == 400)
        }
    }

    @Test func matchIsRateLimitedPerParticipant() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.limits.matchBurst = 3
        p.config.limits.matchesPerMinute = 1
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        try await p.withGateway { gw in
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"upn\":\"H801200001001\"}")).status) }
            #expect(statuses == [404, 404, 404, 429, 429])
            // Another partner has its own budget.
            #expect(try await gw.request(mash, "POST", "/v1/match", body: Self.matchBody("cme", "{\"upn\":\"H801200001001\"}")).status == 404)
            #expect(try await lastAuditEntry(gw).actor == "partner/304-mash")
        }
    }

    /// The shipped policy: s47 (and s17) name partner/304-mash; the CME team may not use them.
    @Test func aPurposeThePartnerMayNotUseIs403NamingTheRule() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        try await p.withGateway { gw in
            _ = try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8))
            let a = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}")).body)
            let r = try await gw.request(cme, "GET", "/v1/subjects/\(a.pseudonym)?purpose=s47")
            #expect(r.status == 403)
            let error = try JSONDecoder().decode(ErrorBody.self, from: r.body)
            #expect(error.error == "purpose-not-allowed" && error.message.contains("purpose:s47"))
            #expect(try await lastAuditEntry(gw).rule == "purpose:s47")
            for purpose in ["s47", "s17", "encompass"] {
                #expect(try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody(purpose, "{\"nhsNumber\":\"9434765919\"}")).status == 403, "\(purpose)")
                #expect(try await gw.request(mash, "POST", "/v1/match", body: Self.matchBody(purpose, "{\"nhsNumber\":\"9434765919\"}")).status == 200, "\(purpose)")
            }
            #expect(try await gw.request(cme, "GET", "/v1/reports/absence?purpose=cme").status == 403)
            #expect(try await gw.request(cme, "GET", "/v1/reports/nonsense?purpose=cme").status == 404)
        }
    }

    struct Explained: Decodable { let subject: Int64; let records: [[String: String]] }

    @Test func aPseudonymKeepsResolvingAfterTwoSubjectsMerge() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let name = "\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\""
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            // Two records with nothing in common: two subjects, only one of them with a strong identifier.
            _ = try await gw.request(gp, "POST", "/v1/submissions", body: Data(Self.record("nhs.gp-registration", "G1", "{\"nhsNumber\":\"9434765919\"}", "{\"practice\":\"Y12345\",\"registeredFrom\":\"2014-03-20\"}").utf8))
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Data(Self.record("school.enrolment", "S1", "{\(name)}", "{\"onRollFrom\":\"2025-09-03\"}").utf8))
            #expect(try await gw.state.store.counts().subjects == 2)
            let viaName = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\(name)}")).body)
            let viaNHS = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}")).body)
            #expect(viaName.pseudonym != viaNHS.pseudonym)
            // A housing record carrying the NHS number and the name shows they are one child.
            let housing = try p.identity(TestPartnership.id(.housing, "brent"))
            _ = try await gw.request(housing, "POST", "/v1/submissions", body: Data(Self.record("housing.tenancy", "H1", "{\"nhsNumber\":\"9434765919\",\(name)}", "{\"tenancyFrom\":\"2025-01-10\"}").utf8))
            // The record joins the NHS number's child; the other scores above join: a person decides, nothing merges by itself.
            #expect(try await gw.state.store.counts().subjects == 2)
            #expect(try await gw.state.store.uncertainSubjects().count == 2)
            let steward = try p.identity(TestPartnership.id(.steward, "304"))
            #expect(try await gw.request(cme, "GET", "/v1/review").status == 403, "only the steward works the queue")
            let queue = try JSONDecoder().decode([String: [ReviewPairAnswer]].self, from: try await gw.request(steward, "GET", "/v1/review").body)
            let pair = try #require(queue["pairs"]?.first)
            #expect(pair.levels.contains("given=exact") && !pair.levels.contains("Amara"))
            // The steward sees each source's own reference (sealed at rest), to ask the agency about its record.
            #expect(Set(pair.sources.compactMap { $0.count == 5 ? $0[4] : nil }) == ["G1", "S1", "H1"], "\(pair.sources)")
            #expect(try await gw.state.store.reviewItems(status: "pending", limit: 10).first?.sealedReferences.allSatisfy { ref in
                ref.map { !String(decoding: $0, as: UTF8.self).contains("S1") } ?? false } == true, "kept sealed, not as text")
            let decided = try await gw.request(steward, "POST", "/v1/review/\(pair.id)", body: Data(#"{"decision":"same","note":"same GP and housing address"}"#.utf8))
            #expect(decided.status == 200)
            #expect(try await gw.request(steward, "POST", "/v1/review/\(pair.id)", body: Data(#"{"decision":"different"}"#.utf8)).status == 409)
            #expect(try await gw.state.store.counts().subjects == 1)
            let entry = try await lastAuditEntry(gw)
            #expect(entry.actor == "steward/304" && entry.action == "review.decide" && entry.detail["decision"] == "same")
            #expect(entry.detail["note"]?.hasPrefix("hmac:") == true, "the note is kept sealed; the log has its keyed digest")
            #expect(try await gw.state.store.uncertainSubjects().isEmpty)
            // Every link explains itself, to the steward and the auditor only.
            let explained = try await gw.request(steward, "GET", "/v1/review/subjects/\(pair.subjectA)")
            #expect(explained.status == 200)
            let text = String(decoding: explained.body, as: UTF8.self)
            #expect(text.contains("nhs") && text.contains("housing.tenancy") && !text.contains("Amara") && !text.contains("9434765919"))
            #expect(try await gw.request(cme, "GET", "/v1/review/subjects/\(pair.subjectA)").status == 403)
            // A partner's pseudonym names the child too; the auditor sees how records joined but not whom they name.
            let explainedByPseudonym = try await gw.request(steward, "GET", "/v1/review/subjects/\(viaName.pseudonym)")
            #expect(explainedByPseudonym.status == 200, "\(String(decoding: explainedByPseudonym.body, as: UTF8.self))")
            let byPseudonym = try JSONDecoder().decode(Explained.self, from: explainedByPseudonym.body)
            #expect(Set(byPseudonym.records.compactMap { $0["reference"] }) == ["G1", "S1", "H1"])
            #expect(byPseudonym.records.contains { $0["linkedBy"] == "nhs" } && byPseudonym.records.contains { $0["linkedBy"] == "new" })
            let auditedAnswer = try await gw.request(auditor, "GET", "/v1/review/subjects/\(viaNHS.pseudonym)")
            #expect(auditedAnswer.status == 200, "\(String(decoding: auditedAnswer.body, as: UTF8.self))")
            let audited = try JSONDecoder().decode(Explained.self, from: auditedAnswer.body)
            #expect(audited.records.count == 3 && audited.records.allSatisfy { $0["reference"] == nil })
            #expect(try await gw.request(steward, "GET", "/v1/review/subjects/ps_nosuchpseudonym").status == 404)
            #expect(try await gw.request(steward, "GET", "/v1/review/subjects/ps_%3Cscript%3E").status == 404)
            // The command-line view of the same: `sightline subject PSEUDONYM --explain`.
            let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
            let (status, out) = try await runTool(binary, ["subject", viaName.pseudonym, "--explain", "--gateway", gw.baseURL, "--identity", steward])
            #expect(status == 0 && out.contains("joined on the same NHS number") && out.contains("[S1]") && out.contains("a new child"), "\(out)")
            let submissions = try await gw.state.store.auditEntries(matching: { var f = AuditEntryFilter(); f.action = "submission"; return f }())
            let housingEntry = try AuditEntry.decode(canonical: submissions.last!.entry)
            #expect(housingEntry.detail["links"]?.contains(" nhs") == true, "the submission's entry says how each record joined")
            for old in [viaName.pseudonym, viaNHS.pseudonym] {
                let r = try await gw.request(cme, "GET", "/v1/subjects/\(old)?purpose=cme")
                #expect(r.status == 200)
                let view = try JSONDecoder().decode(View.self, from: r.body)
                #expect(Set(view.knownTo.map(\.kind)) == ["nhs.gp-registration", "school.enrolment", "housing.tenancy"])
            }
        }
    }

    /// Child A known by NHS number only, child B by UPN only; then one record carries A's NHS
    /// number and B's UPN. That one claim does not merge two identified children: the record joins
    /// A (its NHS number), and A and B are flagged uncertain.
    @Test func aRecordNamingTwoIdentifiedChildrenDoesNotMergeThem() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let housing = try p.identity(TestPartnership.id(.housing, "brent"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            _ = try await gw.request(gp, "POST", "/v1/submissions", body: Data(Self.record("nhs.gp-registration", "G1", "{\"nhsNumber\":\"9434765919\"}", "{\"practice\":\"Y12345\",\"registeredFrom\":\"2014-03-20\"}").utf8))
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Data(Self.record("school.enrolment", "S1", "{\"upn\":\"H801200001001\"}", "{\"onRollFrom\":\"2025-09-03\"}").utf8))
            #expect(try await gw.state.store.counts().subjects == 2)
            let both = Self.record("housing.tenancy", "H1", "{\"upn\":\"H801200001001\",\"nhsNumber\":\"9434765919\"}", "{\"tenancyFrom\":\"2025-01-10\"}")
            #expect(try await gw.request(housing, "POST", "/v1/submissions", body: Data(both.utf8)).status == 201)
            #expect(try await gw.state.store.counts().subjects == 2)
            let entry = try await lastAuditEntry(gw)
            #expect(entry.counts["merges"] ?? 0 == 0 && entry.counts["conflicts"] == 1)
            let a = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}")).body)
            let b = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"upn\":\"H801200001001\"}")).body)
            #expect(a.pseudonym != b.pseudonym)
            #expect(a.view.uncertain && b.view.uncertain)
            #expect(Set(a.view.knownTo.map(\.kind)) == ["nhs.gp-registration", "housing.tenancy"])
            #expect(b.view.knownTo.map(\.kind) == ["school.enrolment"])
        }
    }

    /// A partner sees only children of its own LA: a child whose latest record places them
    /// elsewhere answers 404 exactly as an unknown child does.
    @Test func aPartnerOfAnotherLAGets404ForABrentChild() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.localAuthorities.append(.init(code: "202", name: "Camden", districts: ["NW1", "NW3", "NW5", "WC1"]))
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "202-cme"), name: "Camden CME team", status: .active, la: "202"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let housing = try p.identity(TestPartnership.id(.housing, "brent"))
        let brent = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let camden = try p.identity(TestPartnership.id(.partner, "202-cme"))
        let ids = "{\"nhsNumber\":\"9434765919\",\"postcode\":\"POSTCODE\"}"
        @Sendable func record(_ kind: String, _ ref: String, _ seen: String, _ postcode: String, _ fields: String) -> Data {
            Data("{\"kind\":\"\(kind)\",\"localRef\":\"\(ref)\",\"observedAt\":\"\(seen)\",\"identifiers\":\(ids.replacingOccurrences(of: "POSTCODE", with: postcode)),\"fields\":\(fields)}".utf8)
        }
        let match = Self.matchBody("cme", "{\"nhsNumber\":\"9434765919\"}")
        try await p.withGateway { gw in
            // The child lived in Camden (NW1) and Camden's team matched them then.
            _ = try await gw.request(gp, "POST", "/v1/submissions", body: record("nhs.gp-registration", "G1", "2026-01-10T09:00:00Z", "NW1 8NP", "{\"practice\":\"Y12345\",\"registeredFrom\":\"2014-03-20\"}"))
            let before = try await gw.request(camden, "POST", "/v1/match", body: match)
            #expect(before.status == 200)
            let camdenPseudonym = try JSONDecoder().decode(MatchAnswer.self, from: before.body).pseudonym
            #expect(try await gw.request(brent, "POST", "/v1/match", body: match).status == 404)
            // Then the family moved to Brent (NW6): the latest record places the child in Brent.
            _ = try await gw.request(housing, "POST", "/v1/submissions", body: record("housing.tenancy", "H1", "2026-11-01T09:00:00Z", "NW6 4DP", "{\"tenancyFrom\":\"2026-10-20\"}"))
            #expect(try await gw.request(brent, "POST", "/v1/match", body: match).status == 200)
            let unknownMatch = try await gw.request(camden, "POST", "/v1/match", body: Self.matchBody("cme", "{\"nhsNumber\":\"6541003238\"}"))
            let outside = try await gw.request(camden, "POST", "/v1/match", body: match)
            #expect(outside.status == 404 && unknownMatch.status == 404)
            let outsideError = try JSONDecoder().decode(ErrorBody.self, from: outside.body), unknownError = try JSONDecoder().decode(ErrorBody.self, from: unknownMatch.body)
            #expect(outsideError.error == unknownError.error && outsideError.message == unknownError.message, "a child elsewhere answers exactly as no child")
            #expect(try await lastAuditEntry(gw).rule == "partner-own-la")
            let view = try await gw.request(camden, "GET", "/v1/subjects/\(camdenPseudonym)?purpose=cme")
            #expect(view.status == 404)
            let unknownView = try await gw.request(camden, "GET", "/v1/subjects/ps_unknown?purpose=cme")
            let viewError = try JSONDecoder().decode(ErrorBody.self, from: view.body), unknownViewError = try JSONDecoder().decode(ErrorBody.self, from: unknownView.body)
            #expect(viewError.error == unknownViewError.error)
            #expect(viewError.message == unknownViewError.message.replacingOccurrences(of: "ps_unknown", with: camdenPseudonym))
            let entry = try await lastAuditEntry(gw)
            #expect(entry.action == "subject.view" && entry.rule == "partner-own-la" && entry.decision == .deny)
        }
    }

    @Test func sameUPNWithADifferentBirthDateIsFlaggedNotMerged() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let other = try p.identity(TestPartnership.id(.school, "100002"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("A1", dob: "2014-03-02").utf8))
            _ = try await gw.request(other, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("B1", dob: "2013-07-19").utf8))
            #expect(try await gw.state.store.counts().subjects == 2)
            #expect(try await lastAuditEntry(gw).counts["conflicts"] == 1)
            let m = try JSONDecoder().decode(MatchAnswer.self, from: try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody("cme", "{\"upn\":\"H801200001001\"}")).body)
            #expect(m.view.uncertain)
        }
    }

    /// No field outside the purpose leaves, over every kind and every purpose.
    @Test func subjectViewsCarryOnlyThePurposesFields() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let ids = "{\"nhsNumber\":\"9434765919\",\"upn\":\"H801200001001\",\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\",\"postcode\":\"NW6 4DP\"}"
        let submissions: [(ParticipantIdentity, String)] = [
            (TestPartnership.id(.school, "100001"), Self.record("school.enrolment", "E", ids, "{\"onRollFrom\":\"2025-09-03\",\"offRollOn\":\"2026-07-01\",\"offRollReason\":\"moved-away\",\"partTimeTimetable\":true,\"senStatus\":\"ehcp\",\"youngCarer\":true,\"freeSchoolMeals\":true}")),
            (TestPartnership.id(.school, "100001"), Self.record("school.attendance", "A", ids, "{\"periodStart\":\"2026-09-03\",\"periodEnd\":\"2026-10-17\",\"sessionsPossible\":62,\"sessionsAttended\":40,\"sessionsUnauthorised\":10}")),
            (TestPartnership.id(.school, "100001"), Self.record("school.exclusion", "X", ids, "{\"category\":\"suspension\",\"startDate\":\"2026-10-01\",\"days\":3}")),
            (TestPartnership.id(.nhs, "Y12345"), Self.record("nhs.gp-registration", "G", ids, "{\"practice\":\"Y12345\",\"registeredFrom\":\"2014-03-20\",\"youngCarer\":true}")),
            (TestPartnership.id(.police, "MPS"), Self.record("police.notification", "P", ids, "{\"category\":\"domestic-abuse\",\"occurredAt\":\"2026-10-31T22:10:00Z\",\"childPresent\":true}")),
            (TestPartnership.id(.housing, "brent"), Self.record("housing.tenancy", "H", ids, "{\"tenancyFrom\":\"2025-01-10\",\"temporaryAccommodation\":true,\"movedOutOfArea\":false}")),
            (TestPartnership.id(.la, "304"), Self.record("la.register", "L", ids, "{\"register\":\"cin\",\"from\":\"2026-01-05\"}")),
        ]
        var dirs: [ParticipantIdentity: String] = [:]
        for (who, _) in submissions where dirs[who] == nil { dirs[who] = try p.identity(who) }
        // The MASH: a named recipient of every purpose it may use (s17, s47, encompass), and of the role-wide ones.
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-mash"))
        let identityDirs = dirs
        var fieldsByKind: [String: Set<String>] = [:]
        for (_, body) in submissions {
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)),
                  let kind = o["kind"]?.stringValue, case .object(let f)? = o["fields"] else { continue }
            fieldsByKind[kind] = Set(f.keys)
        }
        let submittedFields = fieldsByKind
        try await p.withGateway { gw in
            for (who, body) in submissions {
                let r = try JSONDecoder().decode(Receipt.self, from: try await gw.request(identityDirs[who]!, "POST", "/v1/submissions", body: Data(body.utf8)).body)
                #expect(r.accepted == 1, "\(body)")
            }
            #expect(try await gw.state.store.counts().subjects == 1)
            for purpose in gw.state.policy.purposes.values {
                let m = try await gw.request(cme, "POST", "/v1/match", body: Self.matchBody(purpose.name, "{\"upn\":\"H801200001001\"}"))
                #expect(m.status == 200)
                let view = try JSONDecoder().decode(MatchAnswer.self, from: m.body).view
                #expect(Set(view.knownTo.map(\.kind)) == Set(purpose.uses.keys.map(\.rawValue)), "\(purpose.name)")
                for record in view.records {
                    let allowed = purpose.uses[RecordKind(rawValue: record.kind)!] ?? []
                    #expect(Set(record.fields.keys).isSubset(of: allowed), "\(purpose.name) \(record.kind) \(record.fields.keys)")
                    #expect(Set(record.fields.keys) == allowed.intersection(submittedFields[record.kind] ?? []), "\(purpose.name) \(record.kind)")
                }
                var allowedAttributes: Set<String> = switch purpose.minimise["dateOfBirth"] {
                    case .schoolYearGroup: ["schoolYearGroup"]
                    case .ageBand: ["ageBand"]
                    case .yearMonth: ["birthYearMonth"]
                    default: []
                }
                if purpose.minimise["postcode"] == .district { allowedAttributes.insert("postcodeDistrict") }
                #expect(Set(view.attributes.keys) == allowedAttributes, "\(purpose.name)")
            }
        }
    }
}

extension TestPartnership {
    func addParticipant(_ participant: Participant) throws {
        try Data(ParticipantRegistry.render(trustDomain: Self.trustDomain, participants: Self.participants + [participant]).utf8)
            .write(to: URL(fileURLWithPath: config.participantsPath))
    }
}

struct ReviewPairAnswer: Decodable {
    let id: Int64
    let subjectA: Int64
    let levels: String
    let reason: String
    let sources: [[String]]
}
