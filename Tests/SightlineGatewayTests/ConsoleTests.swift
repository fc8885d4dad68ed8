import Foundation
import SightlineClient
import SightlineCore
import Testing
@testable import SightlineGateway

/// Issue 14: the console's pages over the same mutual TLS, roles and audit as the API; the
/// browser-level checks (rendering, sorting, keyboard, axe) are ops/console/console_test.py.
@Suite("Console pages", .serialized)
struct ConsoleTests {
    static func text(_ r: GatewayClient.Response) -> String { String(decoding: r.body, as: UTF8.self) }
    /// The value of the hidden form field `name` on a page (the first, when a page has several forms).
    static func field(_ name: String, in page: String) throws -> String {
        let pattern = "name=\"\(name)\" value=\"[0-9a-zA-Z]+\""
        return try #require(page.range(of: pattern, options: .regularExpression).map {
            String(page[$0].dropFirst("name=\"\(name)\" value=\"".count).dropLast())
        })
    }

    static func header(_ r: GatewayClient.Response, _ name: String) -> String? {
        r.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    @Test func eachRoleSeesItsPagesWithTheSecurityHeadersAndNoOtherRolesPages() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let steward = try p.identity(TestPartnership.id(.steward, "304"))
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            let children = KeyRotationTests.children(0..<12)
            try await EnquiryTests.submit(gw, gp, children.enumerated().map { KeyRotationTests.gp($0.element, "GP-\($0.offset)") })
            let api = try EnquiryTests.object(try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme").body)
            guard case .array(let rows)? = api["rows"] else { throw TestFailure("no rows") }
            let page = try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme")
            #expect(page.status == 200)
            let html = Self.text(page)
            #expect(html.components(separatedBy: "<tr class=\"row").count - 1 == rows.count, "one table row a child the API lists")
            for row in rows { #expect(html.contains(row.objectValue?["pseudonym"]?.stringValue ?? "missing")) }
            #expect(!html.contains("9434765919") && !html.contains(children[0].family), "no identifier on the page")
            let csp = try #require(Self.header(page, "Content-Security-Policy"))
            #expect(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"))
            #expect(Self.header(page, "X-Content-Type-Options") == "nosniff" && Self.header(page, "Referrer-Policy") == "no-referrer"
                    && Self.header(page, "Cache-Control") == "no-store")
            #expect(!html.contains("<script>") && !html.contains(" style="), "no inline script or style")
            // A filter value the report does not hold is neither used nor shown back.
            let injected = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme&district=%3Cb%3Exss"))
            #expect(!injected.contains("<b>xss") && !injected.contains("&lt;b&gt;xss"))
            // Other roles' pages are refused as pages, with the refusal audited.
            let refused = try await gw.request(school, "GET", "/console/reports/missing-education?purpose=cme")
            #expect(refused.status == 403 && Self.text(refused).contains("<h1>Not allowed</h1>") && Self.header(refused, "Cache-Control") == "no-store")
            #expect(try await gw.request(cme, "GET", "/console/audit").status == 403)
            #expect(try await gw.request(cme, "GET", "/console/review").status == 403)
            #expect(try await gw.request(steward, "GET", "/console/review").status == 200)
            #expect(try await gw.request(auditor, "GET", "/console/audit").status == 200)
            for who in [gp, school, cme, steward, auditor] { #expect(try await gw.request(who, "GET", "/console/").status == 200) }
            // The page is audited as the report it shows.
            #expect(try await EnquiryTests.auditActions(gw).contains { $0.action == "report" && $0.actor == "partner/304-cme" })
            // Another site cannot make the browser run a report in the partner's name; the home page may be linked to.
            #expect(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme", headers: [("Sec-Fetch-Site", "cross-site")]).status == 403)
            #expect(try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme", headers: [("Sec-Fetch-Site", "same-site")]).status == 403)
            #expect(try await gw.request(cme, "GET", "/console/", headers: [("Sec-Fetch-Site", "cross-site")]).status == 200)
            // Unknown console paths and API answers carry their headers too; nothing the client typed is echoed.
            let unknown = try await gw.request(cme, "GET", "/console/no-such-page-%3Cb%3E")
            #expect(unknown.status == 404 && Self.header(unknown, "Content-Security-Policy") != nil && !Self.text(unknown).contains("no-such-page"))
            #expect(Self.header(try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme"), "Cache-Control") == "no-store")
            let csv = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education/csv?purpose=cme"))
            #expect(csv.split(separator: "\r\n").count == rows.count + 1, "a header and a line a child")
        }
    }

    /// The pseudonyms a report page lists, in the order shown.
    static func listed(_ html: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "<td><a href=\"/console/subjects/(ps_[0-9a-f]+)\\?")
        return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { String(html[Range($0.range(at: 1), in: html)!]) }
    }

    @Test func aLargeReportIsSortedOnTheServerAndPagedWithEveryChildOnExactlyOnePage() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let children = KeyRotationTests.children(0..<60)
            try await EnquiryTests.submit(gw, gp, children.enumerated().map { KeyRotationTests.gp($0.element, "GP-\($0.offset)") })
            let api = try EnquiryTests.object(try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme").body)
            guard case .array(let rows)? = api["rows"] else { throw TestFailure("no rows") }
            let all = rows.compactMap { $0.objectValue?["pseudonym"]?.stringValue }
            #expect(all.count == 60)
            // Sorted by pseudonym, descending, 25 a page: three pages that hold every child once, in order.
            var seen: [String] = []
            for page in 1...3 {
                let html = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme&sort=pseudonym&order=desc&size=25&page=\(page)"))
                let listed = Self.listed(html)
                #expect(listed.count == (page < 3 ? 25 : 10), "page \(page) lists \(listed.count)")
                #expect(html.contains("Page \(page) of 3") && html.contains("<span id=\"count\">60</span>"))
                #expect(html.contains("rel=\"next\"") == (page < 3) && html.contains("rel=\"prev\"") == (page > 1))
                #expect(html.contains("aria-sort=\"descending\" data-key=\"pseudonym\""))
                seen += listed
            }
            #expect(seen == all.sorted(by: >), "the pages together are the whole report, sorted across pages")
            // A page past the end shows the last; a sort key the report does not hold is ignored, not echoed.
            let past = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme&sort=pseudonym&size=25&page=99"))
            #expect(Self.listed(past) == Array(all.sorted().suffix(10)) && past.contains("Page 3 of 3"))
            let odd = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme&sort=%3Cb%3E&size=7"))
            #expect(Self.listed(odd).count == 60 && !odd.contains("&lt;b&gt;") && !odd.contains("<b>") && !odd.contains("Page 1 of"),
                    "an unknown sort and size fall back to the report's order on one page of 500")
            // The pager's own links keep the filter, the column and the order: following Next from the
            // first page walks the year groups (numbers) from the highest down, ties in the report's order.
            let year = { (row: JSONValue) in Double(row.objectValue?["schoolYearGroup"].map(ConsoleRoutes.text) ?? "") ?? -1 }
            let wanted = rows.enumerated().sorted { year($0.element) != year($1.element) ? year($0.element) > year($1.element) : $0.offset < $1.offset }
                .compactMap { $0.element.objectValue?["pseudonym"]?.stringValue }
            var path: String? = "/console/reports/missing-education?purpose=cme&district=NW6&sort=schoolYearGroup&order=desc&size=25"
            var walked: [String] = [], pages = 0
            while let next = path, pages < 10 {
                let html = Self.text(try await gw.request(cme, "GET", next))
                walked += Self.listed(html)
                pages += 1
                path = html.range(of: #"<a rel="next" href="[^"]+""#, options: .regularExpression).map {
                    String(html[$0].dropFirst(#"<a rel="next" href=""#.count).dropLast()).replacingOccurrences(of: "&amp;", with: "&")
                        .components(separatedBy: "#")[0]
                }
                if let p = path { #expect(p.contains("district=NW6") && p.contains("sort=schoolYearGroup") && p.contains("order=desc") && p.contains("size=25")) }
            }
            #expect(pages == 3 && walked == wanted, "following Next: \(pages) pages, in order: \(walked == wanted)")
            // The CSV is every row the filters keep, in the sort shown, whatever the page.
            let csv = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education/csv?purpose=cme&sort=pseudonym&order=desc&page=2"))
            let lines = csv.split(separator: "\r\n").dropFirst().map { String($0.split(separator: ",")[0].dropFirst().dropLast()) }
            #expect(lines == all.sorted(by: >))
        }
    }

    @Test func aStewardsDecisionNeedsAFormFromTheConsoleAndIsAudited() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let steward = try p.identity(TestPartnership.id(.steward, "304"))
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            let enrolment = PartnerTests.record("school.enrolment", "ADM-8", "{\"upn\":\"H801200001001\",\"givenName\":\"Amara\",\(TwinsTests.household)}",
                                                "{\"onRollFrom\":\"2021-09-01\"}")
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Data(enrolment.utf8))
            _ = try await gw.request(gp, "POST", "/v1/submissions", body: Data(TwinsTests.gp("GP-T2", "Chidi", nhs: "6541003238").utf8))
            let page = Self.text(try await gw.request(steward, "GET", "/console/review"))
            #expect(page.contains("possible-twin-given-names-differ") && page.contains("ADM-8"), "the pair, with the school's own reference")
            #expect(!page.contains("H801200001001") && !page.contains("Okonkwo"), "no identifier")
            let id = try #require(page.range(of: #"action="/console/review/(\d+)""#, options: .regularExpression).map {
                String(page[$0].dropFirst("action=\"/console/review/".count).dropLast())
            })
            let token = try Self.field("token", in: page)
            func post(_ body: String, _ headers: [(String, String)]) async throws -> GatewayClient.Response {
                try await gw.request(steward, "POST", "/console/review/\(id)", body: Data(body.utf8),
                                     headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers)
            }
            let origin = ("Origin", "https://127.0.0.1:\(gw.apiPort)")
            #expect(try await post("decision=different&note=asked+the+school", [origin]).status == 403, "no token")
            #expect(try await post("decision=different&token=\(token)", [("Origin", "https://evil.example")]).status == 403, "another site")
            #expect(try await post("decision=different&token=\(token)", [origin, ("Sec-Fetch-Site", "cross-site")]).status == 403)
            #expect(try await post("decision=different&token=\(token)", [("Origin", "null")]).status == 403, "an opaque origin alone")
            // What Chromium sends for the console's own form under Referrer-Policy: no-referrer.
            let ok = try await post("decision=different&note=asked+the+school&token=\(token)", [("Origin", "null"), ("Sec-Fetch-Site", "same-origin")])
            #expect(ok.status == 303 && Self.header(ok, "Location") == "/console/review?decided=\(id)")
            #expect(try await post("decision=same&token=\(token)", [origin]).status == 409, "decided once")
            let decided = try #require(try await EnquiryTests.auditActions(gw).last { $0.action == "review.decide" })
            #expect(decided.actor == "steward/304" && decided.rule == "steward-review:different")
            // The auditor's page shows the decision, and offers an inclusion check against the checkpoint.
            _ = try await gw.state.checkpoints.current()
            let audit = Self.text(try await gw.request(auditor, "GET", "/console/audit?action=review.decide"))
            #expect(audit.contains("steward-review:different") && audit.contains("class=\"prove\""))
            // The verification panel runs the log's check on the server and shows its result.
            let auditToken = try Self.field("token", in: audit)
            let run = try await gw.request(auditor, "POST", "/console/audit/verify", body: Data("token=\(auditToken)".utf8),
                                           headers: [("Content-Type", "application/x-www-form-urlencoded"), origin])
            #expect(run.status == 303)
            try await ForwardingTests.waitUntil(20) { gw.state.lastLogVerification.withLockedValue { $0?.ok } != nil }
            let after = Self.text(try await gw.request(auditor, "GET", "/console/audit"))
            #expect(after.contains("id=\"verification-status\" class=\"verified\">Verified"), "\(after.prefix(0))\(gw.state.lastLogVerification.withLockedValue { $0?.text } ?? "")")
        }
    }

    @Test func aPartnerOpensAChildFromTheReportAndAsksTheAgenciesThatHoldIt() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let child = KeyRotationTests.children(0..<1)[0]
            try await EnquiryTests.submit(gw, gp, [KeyRotationTests.gp(child, "GP-1")])
            let report = Self.text(try await gw.request(cme, "GET", "/console/reports/missing-education?purpose=cme"))
            let href = try #require(report.range(of: #"/console/subjects/ps_[0-9a-f]{32}\?purpose=cme"#, options: .regularExpression).map { String(report[$0]) })
            let pseudonym = String(href.dropFirst("/console/subjects/".count).prefix(35))
            let page = Self.text(try await gw.request(cme, "GET", href))
            #expect(page.contains("nhs.gp-registration") && page.contains("id=\"ask\""), "the child's records and the enquiry form")
            #expect(!page.contains(child.nhs) && !page.contains(child.family) && !page.contains(child.dob))
            // A pseudonym not issued to this partner is answered like an unknown child.
            let unknown = try await gw.request(cme, "GET", "/console/subjects/ps_\(String(repeating: "0", count: 32))?purpose=cme")
            #expect(unknown.status == 404 && Self.text(unknown).contains("<h1>Not found</h1>"))
            let token = try Self.field("token", in: page)
            let asked = try await gw.request(cme, "POST", "/console/subjects/\(pseudonym)/enquiries",
                                             body: Data("token=\(token)&purpose=cme&question=Is+this+child+on+a+roll+elsewhere%3F".utf8),
                                             headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "https://127.0.0.1:\(gw.apiPort)")])
            #expect(asked.status == 303 && Self.header(asked, "Location") == "/console/subjects/\(pseudonym)?purpose=cme&asked=1", "\(Self.text(asked))")
            // The GP answers from its own enquiries page.
            let gpPage = Self.text(try await gw.request(gp, "GET", "/console/enquiries"))
            #expect(gpPage.contains("Is this child on a roll elsewhere?") && gpPage.contains("your reference GP-1"), "\(gpPage.suffix(800))")
            let action = try #require(gpPage.range(of: #"/console/enquiries/enq-[0-9a-f]+/answers"#, options: .regularExpression).map { String(gpPage[$0]) })
            let gpToken = try Self.field("token", in: gpPage)
            let answered = try await gw.request(gp, "POST", action, body: Data("token=\(gpToken)&status=not-known-here&text=".utf8),
                                                headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "null"), ("Sec-Fetch-Site", "same-origin")])
            #expect(answered.status == 303, "\(Self.text(answered))")
            // The GP's inbox row names the purpose and the rule the enquiry was sent under.
            let inbox = Self.text(try await gw.request(gp, "GET", "/console/inbox"))
            #expect(inbox.contains("<td>enquiry</td><td>cme</td><td>purpose:cme:enquiries</td>"), "\(inbox.suffix(900))")
            #expect(Self.text(try await gw.request(gp, "GET", "/console/enquiries")).contains("You answered: not-known-here"))
            #expect(Self.text(try await gw.request(cme, "GET", "/console/enquiries")).contains("not-known-here"), "the asker sees the answer")
            let notices = try await EnquiryTests.enquiries(inInboxOf: gp, gw)
            #expect(notices.count == 1 && notices.first?["question"] == .string("Is this child on a roll elsewhere?") && notices.first?["about"]?.objectValue?["yourReference"] == .string("GP-1"),
                    "\(notices)")
        }
    }

    @Test func aSchoolReadsItsInboxAndAcknowledgesFromThePage() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-0042"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            let page = Self.text(try await gw.request(school, "GET", "/console/inbox"))
            #expect(page.contains("your reference ADM-0042") && page.contains("encompass") && page.contains("id=\"ack\""), "\(page.suffix(1500))")
            #expect(!page.contains("9434765919") && !page.contains("Okafor"))
            let token = try Self.field("token", in: page)
            let upTo = try Self.field("upTo", in: page)
            let ack = try await gw.request(school, "POST", "/console/inbox/ack", body: Data("token=\(token)&upTo=\(upTo)".utf8),
                                           headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "https://127.0.0.1:\(gw.apiPort)")])
            #expect(ack.status == 303 && Self.header(ack, "Location") == "/console/inbox?acked=\(upTo)")
            #expect(Self.text(try await gw.request(school, "GET", "/console/inbox")).contains("id=\"empty\""), "acknowledged forwards leave the inbox")
            #expect(try await EnquiryTests.auditActions(gw).contains { $0.action == "forward.delivered" && $0.actor == "school/100001" })
            #expect(try await gw.request(cme, "GET", "/console/enquiries").status == 200)
            #expect(try await gw.request(school, "GET", "/console/enquiries").status == 200, "a holder sees what it was asked")
        }
    }
}
