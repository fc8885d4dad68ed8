import Foundation
import SightlineClient
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Issue 12: from the report to the child. A partner asks the agencies that hold a child's
/// records, each by its own reference; they answer; the report says so. Real gateway, real mTLS.
@Suite("Enquiries", .serialized)
struct EnquiryTests {
    static let child = #"{"nhsNumber":"9434765919","givenName":"Amara","familyName":"Okafor","dateOfBirth":"2015-03-02","postcode":"NW6 4DP"}"#
    static let other = #"{"nhsNumber":"6541003238","givenName":"Tobi","familyName":"Adeyemi","dateOfBirth":"2014-07-19","postcode":"NW6 4DP"}"#
    static let question = "Q-7f3a: is this child known to attend a school outside Brent?"
    static let answerText = "A-91cd: registered at a school in Harrow since September"

    static func submit(_ gw: RunningGateway, _ who: String, _ lines: [String]) async throws {
        let r = try await gw.request(who, "POST", "/v1/submissions", body: Data(lines.joined(separator: "\n").utf8))
        #expect(r.status == 201, "\(String(decoding: r.body, as: UTF8.self))")
    }

    static func object(_ data: Data) throws -> [String: JSONValue] {
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: data) else { throw TestFailure("not an object") }
        return o
    }

    /// The enquiry notices in one agency's inbox.
    static func enquiries(inInboxOf who: String, _ gw: RunningGateway) async throws -> [[String: JSONValue]] {
        let r = try await gw.request(who, "GET", "/v1/inbox")
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        guard case .array(let items)? = try object(r.body)["forwards"] else { return [] }
        return items.compactMap { $0.objectValue?["forward"]?.objectValue }.filter { $0["type"] == .string("enquiry") }
    }

    /// The partner's pseudonym for the child with this NHS number, by `POST /v1/match`.
    static func pseudonym(_ gw: RunningGateway, _ partner: String, _ purpose: String, nhs: String = "9434765919") async throws -> String {
        let r = try await gw.request(partner, "POST", "/v1/match", body: PartnerTests.matchBody(purpose, "{\"nhsNumber\":\"\(nhs)\"}"))
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        return try JSONDecoder().decode(PartnerTests.MatchAnswer.self, from: r.body).pseudonym
    }

    static func ask(_ gw: RunningGateway, _ partner: String, _ pseudonym: String, _ purpose: String, _ question: String = "On a roll anywhere?")
        async throws -> GatewayClient.Response {
        try await gw.request(partner, "POST", "/v1/enquiries", body: try JSONEncoder().encode(["pseudonym": pseudonym, "purpose": purpose, "question": question]))
    }

    static func reportRow(_ gw: RunningGateway, _ cme: String, _ pseudonym: String) async throws -> [String: JSONValue]? {
        let r = try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme")
        guard case .array(let rows)? = try object(r.body)["rows"] else { throw TestFailure("report answered \(r.status)") }
        return rows.compactMap(\.objectValue).first { $0["pseudonym"] == .string(pseudonym) }
    }

    static func auditActions(_ gw: RunningGateway) async throws -> [AuditEntry] {
        try await gw.state.store.auditEntries(from: 0, limit: 1000).compactMap { try? AuditEntry.decode(canonical: $0.entry) }
    }

    @Test func anEnquiryReachesExactlyTheHoldersByTheirOwnReferencesAndTheAnswerShowsInTheReport() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let housing = try p.identity(TestPartnership.id(.housing, "brent"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#),
                                           PartnerTests.record("nhs.gp-registration", "GP-8", Self.other, #"{"practice":"Y12345","registeredFrom":"2014-08-01"}"#)])
            try await Self.submit(gw, housing, [PartnerTests.record("housing.tenancy", "HT-9", Self.child, #"{"tenancyFrom":"2024-05-01"}"#)])
            try await Self.submit(gw, police, [PartnerTests.record("police.notification", "MPS-3", Self.child, #"{"category":"domestic-abuse","occurredAt":"2026-10-30T22:00:00Z","childPresent":true}"#)])
            // The other child is on a roll; Amara is on none.
            try await Self.submit(gw, school, [PartnerTests.record("school.enrolment", "ADM-1", Self.other, #"{"onRollFrom":"2021-09-01"}"#)])
            let matchPseudonym = try await Self.pseudonym(gw, cme, "cme")
            #expect(try await Self.reportRow(gw, cme, matchPseudonym)?["status"] == .string("never-on-roll"))

            let ask = try await Self.ask(gw, cme, matchPseudonym, "cme", Self.question)
            #expect(ask.status == 201, "\(String(decoding: ask.body, as: UTF8.self))")
            let asked = try Self.object(ask.body)
            let id = try #require(asked["id"]?.stringValue)
            #expect(asked["state"] == .string("sent") && asked["holders"] == .number(2), "cme needs no second approval; GP and housing hold records")

            // The GP is told its own reference and nothing of the other holders; so is housing.
            let toGP = try await Self.enquiries(inInboxOf: gp, gw)
            #expect(toGP.count == 1)
            #expect(toGP.first?["about"]?.objectValue?["yourReference"] == .string("GP-7"))
            #expect(toGP.first?["question"] == .string(Self.question) && toGP.first?["askedBy"] == .string("partner/304-cme"))
            #expect(toGP.first?["legalGateways"].map { "\($0)".contains("education-act-1996-s436a") } == true)
            let gpText = String(decoding: try JSONEncoder().encode(toGP.first), as: UTF8.self)
            #expect(!gpText.contains("HT-9") && !gpText.contains("housing/brent") && !gpText.contains("9434765919"))
            #expect(try await Self.enquiries(inInboxOf: housing, gw).first?["about"]?.objectValue?["yourReference"] == .string("HT-9"))
            // Police hold a record, but cme may not use it: not asked. The school holds only the other child.
            #expect(try await Self.enquiries(inInboxOf: police, gw).isEmpty)
            #expect(try await Self.enquiries(inInboxOf: school, gw).isEmpty)

            // Answers: only a holder, once, from the fixed list.
            #expect(try await gw.request(police, "POST", "/v1/enquiries/\(id)/answers", body: Data(#"{"status":"not-known-here"}"#.utf8)).status == 404)
            #expect(try await gw.request(gp, "POST", "/v1/enquiries/\(id)/answers", body: Data(#"{"status":"fine"}"#.utf8)).status == 400)
            let unknownKey = try await gw.request(gp, "POST", "/v1/enquiries/\(id)/answers", body: Data(#"{"status":"other","zz-secret-key":1}"#.utf8))
            #expect(unknownKey.status == 400 && !String(decoding: unknownKey.body, as: UTF8.self).contains("zz-secret-key"))
            let answer = try await gw.request(gp, "POST", "/v1/enquiries/\(id)/answers", body: try JSONEncoder().encode(
                ["status": "attends-school-elsewhere", "text": Self.answerText]))
            #expect(answer.status == 201, "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(try await gw.request(gp, "POST", "/v1/enquiries/\(id)/answers", body: Data(#"{"status":"not-known-here"}"#.utf8)).status == 409)

            // The asker sees the answers; the report says the child is accounted for.
            let listed = try Self.object(try await gw.request(cme, "GET", "/v1/enquiries").body)
            guard case .array(let mine)? = listed["enquiries"], case .array(let held)? = mine.first?.objectValue?["holders"] else {
                throw TestFailure("no enquiries listed")
            }
            let holders = held.compactMap(\.objectValue)
            #expect(holders.map { $0["holder"] } == [.string("housing/brent"), .string("nhs/Y12345")])
            #expect(holders.last?["status"] == .string("attends-school-elsewhere") && holders.last?["text"] == .string(Self.answerText))
            #expect(holders.first?["status"] == nil)
            let row = try #require(try await Self.reportRow(gw, cme, matchPseudonym))
            #expect(row["status"] == .string("enquiry-answered") && row["enquiryAnswer"] == .string("attends-school-elsewhere"))
            // The auditor sees both ends; the holder sees its own.
            #expect(String(decoding: try await gw.request(auditor, "GET", "/v1/enquiries").body, as: UTF8.self).contains(Self.answerText))
            #expect(try await gw.request(school, "GET", "/v1/enquiries").status == 200)

            // Every step is audited with its rule; the entries keep digests and lengths, never the text.
            let entries = try await Self.auditActions(gw)
            let steps = entries.filter { $0.action.hasPrefix("enquiry.") }
            #expect(Set(steps.map(\.action)).isSuperset(of: ["enquiry.asked", "enquiry.sent", "enquiry.answered"]))
            #expect(steps.filter { $0.action == "enquiry.sent" }.count == 2)
            #expect(steps.filter { $0.decision == .allow }.allSatisfy { $0.rule.hasPrefix("purpose:cme:enquiries") || $0.action == "enquiry.list" })
            #expect(entries.contains { $0.decision == .deny && $0.rule == "enquiry-holders-only" && $0.actor == "police/MPS" }, "the refused answer is audited")
            let log = String(decoding: try JSONEncoder().encode(entries), as: UTF8.self)
            #expect(!log.contains("Q-7f3a") && !log.contains("A-91cd"))

            // Another holder raises a concern: the row is no longer explained away, and says so.
            #expect(try await gw.request(housing, "POST", "/v1/enquiries/\(id)/answers", body: try JSONEncoder().encode(
                ["status": "safeguarding-concern", "text": "A-55aa: family left suddenly"])).status == 201)
            let concerned = try #require(try await Self.reportRow(gw, cme, matchPseudonym))
            #expect(concerned["status"] == .string("never-on-roll") && concerned["enquiryAnswer"] == .string("safeguarding-concern"))
            // A newer record of the child: the answer no longer explains the row.
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)
                .replacingOccurrences(of: "2026-11-01T09:00:00Z", with: Instant.format(Date().addingTimeInterval(60)))])
            #expect(try await Self.reportRow(gw, cme, matchPseudonym)?["status"] == .string("never-on-roll"))
        }
        // Neither question nor answer, nor a reference, in the database, its WAL or the logs in clear.
        var stored = Data()
        for suffix in ["", "-wal"] { stored += (FileManager.default.contents(atPath: p.config.databasePath + suffix) ?? Data()) }
        for secret in ["Q-7f3a", "A-91cd", "A-55aa", "GP-7", "HT-9"] {
            #expect(stored.range(of: Data(secret.utf8)) == nil, "\(secret) in the database")
            #expect(!p.logs.text.contains(secret), "\(secret) in the logs")
        }
    }

    @Test func s47NeedsASecondApproverOfTheSameLABeforeAnythingLeavesAndCmeDoesNot() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let la = try p.identity(TestPartnership.id(.la, "304"))
        try await p.withGateway { gw in
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
            let matchPseudonym = try await Self.pseudonym(gw, mash, "s47")
            func ask() async throws -> String {
                let r = try await Self.ask(gw, mash, matchPseudonym, "s47", "Any concerns known to the practice?")
                #expect(r.status == 201, "\(String(decoding: r.body, as: UTF8.self))")
                let o = try Self.object(r.body)
                #expect(o["state"] == .string("awaiting-approval"))
                guard let id = o["id"]?.stringValue else { throw TestFailure("no enquiry id") }
                return id
            }
            let id = try await ask()
            #expect(try await Self.enquiries(inInboxOf: gp, gw).isEmpty, "nothing leaves before approval")
            // The approver sees what waits for it, with the question; another partner does not.
            let waiting = try Self.object(try await gw.request(la, "GET", "/v1/enquiries").body)["awaitingYourApproval"]
            #expect(waiting.map { "\($0)".contains(id) && "\($0)".contains("Any concerns known to the practice?") } == true)
            #expect(try Self.object(try await gw.request(cme, "GET", "/v1/enquiries").body)["awaitingYourApproval"] == nil)
            let own = try await gw.request(mash, "POST", "/v1/enquiries/\(id)/approval", body: Data(#"{"decision":"approve"}"#.utf8))
            #expect(own.status == 403, "the asker cannot approve its own enquiry")
            #expect(try await gw.request(cme, "POST", "/v1/enquiries/\(id)/approval", body: Data(#"{"decision":"approve"}"#.utf8)).status == 404,
                    "a participant the policy does not name as approver")
            let approved = try await gw.request(la, "POST", "/v1/enquiries/\(id)/approval", body: Data(#"{"decision":"approve"}"#.utf8))
            #expect(approved.status == 200, "\(String(decoding: approved.body, as: UTF8.self))")
            #expect(try await gw.request(la, "POST", "/v1/enquiries/\(id)/approval", body: Data(#"{"decision":"refuse"}"#.utf8)).status == 409)
            let delivered = try await Self.enquiries(inInboxOf: gp, gw)
            #expect(delivered.count == 1 && delivered.first?["purpose"] == .string("s47"))

            // One nobody approves expires after the policy's 4 hours: audited, and it never leaves.
            let lapsed = try await ask()
            await EnquirySweep(state: gw.state).run(now: Date().addingTimeInterval(5 * 3600))
            #expect(try await gw.request(la, "POST", "/v1/enquiries/\(lapsed)/approval", body: Data(#"{"decision":"approve"}"#.utf8)).status == 409)
            #expect(try await Self.enquiries(inInboxOf: gp, gw).count == 1)
            let entries = try await Self.auditActions(gw)
            #expect(entries.contains { $0.action == "enquiry.approved" && $0.actor == "la/304" && $0.rule == "purpose:s47:enquiries:approval" })
            #expect(entries.contains { $0.action == "enquiry.expired" && $0.detail["enquiry"] == lapsed })

            // cme needs no approval; a purpose without enquiries allows none.
            let cmeMatchPseudonym = try await Self.pseudonym(gw, cme, "cme")
            let cmeAsk = try await Self.ask(gw, cme, cmeMatchPseudonym, "cme", "On a roll anywhere?")
            #expect(try Self.object(cmeAsk.body)["state"] == .string("sent"))
            let attendance = try await Self.ask(gw, cme, cmeMatchPseudonym, "attendance", "?")
            #expect(attendance.status == 403)
        }
    }

    @Test func overdueAnswersRaiseTheMetricAndAnAuditEntryOnce() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
            let matchPseudonym = try await Self.pseudonym(gw, cme, "cme")
            let r = try await Self.ask(gw, cme, matchPseudonym, "cme", "On a roll anywhere?")
            let o = try Self.object(r.body)
            let deadline = try #require(o["deadline"]?.stringValue.flatMap(Instant.parse))
            // 10 school days: two calendar weeks from a weekday.
            #expect(deadline.timeIntervalSinceNow > 11 * 86400 && deadline.timeIntervalSinceNow < 17 * 86400)
            let later = deadline.addingTimeInterval(60)
            await EnquirySweep(state: gw.state).run(now: later)
            await EnquirySweep(state: gw.state).run(now: later.addingTimeInterval(60))
            let overdue = try await Self.auditActions(gw).filter { $0.action == "enquiry.overdue" }
            #expect(overdue.count == 1 && overdue.first?.detail["holder"] == "nhs/Y12345")
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_enquiry_answers_overdue_total 1"))
            #expect(metrics.contains("sightline_enquiries_asked_total 1"))
        }
    }

    @Test func aPartnerOfAnotherLACannotEnquireAboutThisLAsChild() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.localAuthorities.append(.init(code: "202", name: "Camden", districts: ["NW1", "NW3", "NW5", "WC1"]))
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "202-cme"), name: "Camden CME team", status: .active, la: "202"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let housing = try p.identity(TestPartnership.id(.housing, "brent"))
        let camden = try p.identity(TestPartnership.id(.partner, "202-cme"))
        let brent = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            // Camden matched the child while the family lived in NW1; then they moved to Brent.
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child.replacingOccurrences(of: "NW6 4DP", with: "NW1 8NP"),
                                                               #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#).replacingOccurrences(of: "2026-11-01", with: "2026-01-10")])
            let camdenPseudonym = try await Self.pseudonym(gw, camden, "cme")
            try await Self.submit(gw, housing, [PartnerTests.record("housing.tenancy", "HT-9", Self.child, #"{"tenancyFrom":"2026-10-20"}"#)])
            let brentPseudonym = try await Self.pseudonym(gw, brent, "cme")
            for pseudonym in [camdenPseudonym, brentPseudonym] {
                let r = try await Self.ask(gw, camden, pseudonym, "cme", "Where is this child?")
                #expect(r.status == 404, "\(String(decoding: r.body, as: UTF8.self))")
            }
            #expect(try await Self.enquiries(inInboxOf: gp, gw).isEmpty)
            #expect(try await Self.enquiries(inInboxOf: housing, gw).isEmpty)
            #expect(try await Self.ask(gw, brent, brentPseudonym, "cme", "Where is this child?").status == 201)
        }
    }

    /// A school whose endpoint is down when the enquiry is asked receives it once when it is back,
    /// by push, naming its own admission number (never the UPN), and told its record is no longer
    /// current: the child left its roll, and that is still the latest school evidence.
    @Test func aHolderThatIsDownGetsTheEnquiryOnceWhenItReturns() async throws {
        let port = ForwardingTests.freePort()
        let p = try ForwardingTests.partnership(schoolPort: port); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let upn = #""upn":"H801200001001","#
            try await Self.submit(gw, school, [PartnerTests.record("school.enrolment", "ADM-0042", Self.child.replacingOccurrences(of: "{", with: "{" + upn),
                                                                   #"{"onRollFrom":"2021-09-01","offRollOn":"2026-06-30","offRollReason":"moved-away"}"#)])
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
            let pseudonym = try await Self.pseudonym(gw, cme, "cme")
            #expect(try await Self.reportRow(gw, cme, pseudonym)?["status"] == .string("off-roll"))
            let asked = try await Self.ask(gw, cme, pseudonym, "cme")
            let answer = try Self.object(asked.body)
            #expect(asked.status == 201 && answer["holders"] == .number(2))
            // Down: attempts fail and are retried.
            try await ForwardingTests.waitUntil {
                try await gw.state.store.auditEntries(from: 0, limit: 500).contains { (try? AuditEntry.decode(canonical: $0.entry))?.action == "forward.attempt-failed" }
            }
            let receiver = try ForwardingTests.Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
            try await ForwardingTests.waitUntil(15) { try receiver.stored().contains { $0["type"] == .string("enquiry") } }
            try await Task.sleep(for: .milliseconds(500))
            let notices = try receiver.stored().filter { $0["type"] == .string("enquiry") }
            #expect(notices.count == 1, "delivered once")
            let about = notices.first?["about"]?.objectValue
            #expect(about?["yourReference"] == .string("ADM-0042") && about?["current"] == .bool(false))
            #expect(!String(decoding: try JSONEncoder().encode(notices), as: UTF8.self).contains("H801200001001"), "a school is named its own reference, never the UPN")
            let delivered = try await Self.auditActions(gw).filter { $0.action == "forward.delivered" && $0.rule == "purpose:cme:enquiries" }
            #expect(delivered.count == 1 && delivered.first?.detail["recipient"] == "school/100001")
        }
    }

    @Test func aPartnerCannotFloodTheAgenciesWithEnquiries() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.limits.enquiryBurst = 3
        p.config.limits.enquiriesPerMinute = 1
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            try await Self.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.child, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
            let pseudonym = try await Self.pseudonym(gw, cme, "cme")
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(Int(try await Self.ask(gw, cme, pseudonym, "cme").status)) }
            #expect(statuses == [201, 201, 201, 429, 429])
            #expect(try await Self.enquiries(inInboxOf: gp, gw).count == 3)
        }
    }
}
