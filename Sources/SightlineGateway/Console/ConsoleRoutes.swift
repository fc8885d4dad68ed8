import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import NIOPosix
import SightlineCore
import SightlineStore

/// The web console under /console/: server-rendered pages on the API listener, over the same
/// mutual TLS and the same identity, roles, purposes and audit as the API (the browser presents
/// the participant's certificate; there is no other login). A page shows what the API would
/// answer the same participant, and is audited the same way: the report page runs the report
/// exactly as `GET /v1/reports/{name}` does.
struct ConsoleRoutes {
    let state: GatewayState
    let partner: PartnerRoutes
    static let library = ConsoleTemplates.library

    func register(on group: RouterGroup<ParticipantContext>) {
        group.add(middleware: ConsoleMiddleware(state: state))
        group.get("") { _, context in try page("home", home(context), context) }
        group.get("assets/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        group.get("assets/console.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        group.get("assets/favicon.svg") { _, _ in Self.asset(ConsoleAssets.favicon, type: "image/svg+xml") }
        group.on("inbox", method: .get, roles: InboxRoutes.recipientRoles, state: state) { request, context in try await inboxPage(request, context) }
        group.on("inbox/ack", method: .post, roles: InboxRoutes.recipientRoles, state: state) { request, context in try await inboxAck(request, context) }
        group.on("enquiries", method: .get, roles: EnquiryRoutes.holderRoles.union(PartnerRoutes.partnerRoles), state: state) { request, context in
            try await enquiriesPage(request, context)
        }
        group.on("enquiries/{id}/answers", method: .post, roles: EnquiryRoutes.holderRoles, state: state) { request, context in
            try await answerFromPage(request, context)
        }
        group.on("reports/{name}", method: .get, roles: PartnerRoutes.partnerRoles, state: state) { request, context in
            try await reportPage(request, context, csv: false)
        }
        group.on("reports/{name}/csv", method: .get, roles: PartnerRoutes.partnerRoles, state: state) { request, context in
            try await reportPage(request, context, csv: true)
        }
        group.on("subjects/{pseudonym}", method: .get, roles: PartnerRoutes.partnerRoles, state: state) { request, context in
            try await subjectPage(request, context)
        }
        group.on("subjects/{pseudonym}/enquiries", method: .post, roles: PartnerRoutes.partnerRoles, state: state) { request, context in
            try await askFromPage(request, context)
        }
        group.on("review", method: .get, roles: ReviewRoutes.roles, state: state) { request, context in try await reviewPage(request, context) }
        group.on("review/{id}", method: .post, roles: ReviewRoutes.roles, state: state) { request, context in try await reviewDecision(request, context) }
        group.on("audit", method: .get, roles: AuditRoutes.readers, state: state) { request, context in try await auditPage(request, context) }
        group.on("audit/verify", method: .post, roles: AuditRoutes.readers, state: state) { request, context in try await verifyLog(request, context) }
    }

    // MARK: - Pages

    /// The links a role has, on every page's navigation and on the home page.
    func links(_ context: ParticipantContext) -> [[String: Any]] {
        let me = context.participant.identity
        var out: [[String: Any]] = []
        if me.role == .steward { out.append(["href": "/console/review", "label": "Linkage review", "note": "pairs of records the gateway could not tell apart"]) }
        if me.role == .auditor { out.append(["href": "/console/audit", "label": "Audit log", "note": "every decision, with inclusion proofs and checkpoints"]) }
        if InboxRoutes.recipientRoles.contains(me.role) { out.append(["href": "/console/inbox", "label": "Inbox", "note": "forwarded records and enquiries for you"]) }
        if me.role == .partner { out.append(["href": "/console/enquiries", "label": "Enquiries", "note": "what you asked the agencies, and their answers"]) }
        if EnquiryRoutes.holderRoles.contains(me.role) { out.append(["href": "/console/enquiries", "label": "Enquiries", "note": "what partners asked you, and your answers"]) }
        if me.role == .partner {
            for purpose in state.policy.purposes.values.sorted(by: { $0.name < $1.name }) where purpose.access(for: me).isAllowed {
                for kind in purpose.reports.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
                    out.append(["href": "/console/reports/\(kind.rawValue)?purpose=\(purpose.name)",
                                "label": "\(Self.title(kind)) (\(purpose.name))", "note": purpose.title])
                }
            }
        }
        return out
    }

    func home(_ context: ParticipantContext) -> [String: Any] { ["links": links(context)] }

    func page(_ template: String, _ values: [String: Any], _ context: ParticipantContext, status: HTTPResponse.Status = .ok) throws -> Response {
        var object = values
        object["who"] = context.participant.identity.shortName
        object["role"] = context.participant.identity.role.rawValue
        if object["links"] == nil { object["links"] = links(context) }
        guard let html = Self.library.render(object, withTemplate: template) else {
            throw APIError(.internalServerError, "internal", "the console could not render this page")
        }
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func title(_ kind: ReportKind) -> String {
        switch kind {
        case .missingEducation: "Children missing education"
        case .absence: "Persistent absence"
        case .exclusions: "Exclusions"
        case .youngCarers: "Young carers"
        }
    }

    /// The filters a report's rows support (those of its columns that group children).
    static let filterColumns: [(key: String, name: String, label: String)] = [
        ("postcodeDistrict", "district", "District"), ("schoolYearGroup", "year", "Year group"), ("status", "status", "Status"),
    ]

    func reportPage(_ request: Request, _ context: ParticipantContext, csv: Bool) async throws -> Response {
        let name = try context.parameters.require("name")
        let query = request.uri.queryParameters
        let (answer, settings) = try await partner.runReport(name: name, purposeName: query["purpose"].map { String($0) }, context,
                                                             digest: state.requestDigest("GET", "/console/reports/\(name)"))
        let kind = ReportKind(rawValue: name)!  // runReport refused any other name
        // Filters: only values the report itself holds are accepted, so nothing the client typed is shown back.
        var chosen: [String: String] = [:]
        var filters: [[String: Any]] = []
        for f in Self.filterColumns {
            let values = Set(answer.rows.compactMap { $0[f.key].map(Self.text) }).sorted { OrderKey($0) < OrderKey($1) }
            guard !values.isEmpty else { continue }
            let asked: String? = query[f.name[...]].map(String.init)
            let selected = values.first { $0 == asked }
            if let selected { chosen[f.key] = selected }
            filters.append(["name": f.name, "label": f.label, "options": values.map { ["value": $0, "selected": $0 == selected] }])
        }
        var rows = answer.rows.filter { row in chosen.allSatisfy { row[$0.key].map(Self.text) == $0.value } }
        let keys = Self.columns(of: answer.rows)
        // Sorting and paging on the server, over every row the filters keep: a page of a large
        // report is a page of the whole sorted list, not a sort of one page. Only a column the
        // report holds is accepted as the sort key, and only numbers as the page.
        let sortKey = query["sort"].map(String.init).flatMap { asked in keys.first { $0 == asked } }
        let descending = sortKey != nil && query["order"] == "desc"
        if let sortKey {
            // Each row's key worked out once; ties keep the report's order; blanks last either way.
            let keyed = rows.enumerated().map { (key: OrderKey($0.element[sortKey].map(Self.text) ?? ""), offset: $0.offset, row: $0.element) }
            rows = keyed.sorted { a, b in
                if a.key == b.key { return a.offset < b.offset }
                if a.key.isBlank != b.key.isBlank { return b.key.isBlank }
                return descending ? b.key < a.key : a.key < b.key
            }.map(\.row)
        }
        if csv { return Self.csv(rows, keys: keys, name: name) }
        let size = query["size"].flatMap { Int(String($0)) }.flatMap { Self.pageSizes.contains($0) ? $0 : nil } ?? Self.pageSizes.last!
        filters.append(["name": "size", "label": "Rows a page", "options": Self.pageSizes.map { ["value": String($0), "selected": $0 == size] }, "noAll": true])
        let pages = max(1, (rows.count + size - 1) / size)
        let pageNumber = min(max(1, query["page"].flatMap { Int(String($0)) } ?? 1), pages)
        let first = (pageNumber - 1) * size
        let onPage = rows[min(first, rows.count)..<min(first + size, rows.count)]
        /// A link to this report with the filters in force and the given sort and page.
        func href(csv: Bool = false, sort: String?, desc: Bool, page: Int, fragment: String? = nil) -> String {
            var parts = ["purpose=\(answer.purpose)"]
            for f in Self.filterColumns { if let v = chosen[f.key] { parts.append("\(f.name)=\(v.addingPercentEncoding(withAllowedCharacters: Self.asciiAlphanumerics) ?? "")") } }
            if let sort { parts.append("sort=\(sort)"); if desc { parts.append("order=desc") } }
            if !csv && size != Self.pageSizes.last! { parts.append("size=\(size)") }
            if !csv && page > 1 { parts.append("page=\(page)") }
            return "/console/reports/\(name)\(csv ? "/csv" : "")?" + parts.joined(separator: "&") + (fragment.map { "#" + $0 } ?? "")
        }
        var values: [String: Any] = [
            "heading": Self.title(kind), "purpose": answer.purpose, "la": answer.la, "generatedAt": Instant.format(answer.generatedAt),
            "shown": rows.count, "total": answer.rows.count, "filters": filters,
            "csvHref": href(csv: true, sort: sortKey, desc: descending, page: 1),
            "sortHidden": sortKey.map { [["name": "sort", "value": $0]] + (descending ? [["name": "order", "value": "desc"]] : []) } ?? [],
            "columns": keys.enumerated().map { column -> [String: Any] in
                let sorted = column.element == sortKey
                return ["index": column.offset, "label": Self.label(column.element), "key": column.element,
                        "ariaSort": sorted ? (descending ? "descending" : "ascending") : "none",
                        // A heading's link sorts ascending, or descending if the table is sorted ascending by it already.
                        "href": href(sort: column.element, desc: sorted && !descending, page: 1, fragment: "sort-\(column.element)")]
            },
            "rows": onPage.map { row in
                ["uncertain": row["uncertain"] == .bool(true),
                 "cells": keys.map { key -> [String: Any] in
                     var cell: [String: Any] = ["value": row[key].map(Self.text) ?? ""]
                     if key == "pseudonym", let ps = row[key]?.stringValue { cell["href"] = "/console/subjects/\(ps)?purpose=\(answer.purpose)" }
                     return cell
                 }] as [String: Any]
            },
        ]
        if pages > 1 {
            let paging: [String: Any] = [
                "page": pageNumber, "pages": pages, "from": first + 1, "to": first + onPage.count,
                // Each pager link lands on the table, which takes the focus, not the top of the page.
                "prev": pageNumber > 1 ? href(sort: sortKey, desc: descending, page: pageNumber - 1, fragment: "report") : false,
                "next": pageNumber < pages ? href(sort: sortKey, desc: descending, page: pageNumber + 1, fragment: "report") : false,
                "numbers": Self.pageNumbers(current: pageNumber, pages: pages).map { n -> [String: Any] in
                    n == 0 ? ["gap": true] : ["number": n, "current": n == pageNumber, "href": href(sort: sortKey, desc: descending, page: n, fragment: "report")]
                },
            ]
            values["paging"] = paging
            values["pagingTop"] = paging.merging(["top": true]) { $1 }
        }
        var charts: [[String: Any]] = []
        for (key, id, caption) in [("postcodeDistrict", "chart-district", "Children by postcode district"), ("schoolYearGroup", "chart-year", "Children by school year group")] {
            let counts = Dictionary(grouping: rows.compactMap { $0[key].map(Self.text) }, by: { $0 }).mapValues(\.count)
            guard !counts.isEmpty else { continue }
            charts.append(BarChart(id: id, caption: caption, counts: counts, suppressBelow: settings.suppressBelow).values)
        }
        values["charts"] = charts
        return try page("report", values, context)
    }

    /// Rows a page may hold; the largest is the default.
    static let pageSizes = [25, 50, 100, 200, 500]

    /// The page numbers a pager shows: the first, the last, and two either side of the current
    /// one, with 0 for a gap ("…").
    static func pageNumbers(current: Int, pages: Int) -> [Int] {
        let wanted = Set([1, pages] + Array(max(1, current - 2)...min(pages, current + 2)))
        var out: [Int] = []
        for n in wanted.sorted() {
            // A gap of one page shows that page; a longer one "…".
            if let last = out.last, n > last + 1 { out.append(n == last + 2 ? last + 1 : 0) }
            out.append(n)
        }
        return out
    }

    /// Columns in a stable order: the pseudonym, the common ones, then the rest alphabetically.
    static func columns(of rows: [[String: JSONValue]]) -> [String] {
        let all = Set(rows.flatMap(\.keys))
        let first = ["pseudonym", "status", "schoolYearGroup", "postcodeDistrict"].filter(all.contains)
        return first + all.subtracting(first).sorted()
    }

    static func label(_ key: String) -> String {
        switch key {
        case "pseudonym": "Pseudonym"
        case "status": "Status"
        case "schoolYearGroup": "Year group"
        case "postcodeDistrict": "District"
        case "lastSeen": "Last seen by"
        case "reasons": "Why listed"
        case "uncertain": "Link uncertain"
        default: key.reduce(into: "") { s, c in s += c.isUppercase ? " " + c.lowercased() : String(c) }.capitalizedFirst
        }
    }

    /// A value as a person reads it: lists joined, objects as "key: value", numbers without ".0".
    static func text(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): s
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): b ? "yes" : "no"
        case .null: ""
        case .array(let a): a.map(text).joined(separator: "; ")
        case .object(let o): o.keys.sorted().map { "\($0): \(text(o[$0]!))" }.joined(separator: "; ")
        }
    }

    static let asciiAlphanumerics = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// What is on screen as CSV (RFC 4180), every field quoted; a field that a spreadsheet would
    /// run as a formula is prefixed with an apostrophe.
    static func csv(_ rows: [[String: JSONValue]], keys: [String], name: String) -> Response {
        func field(_ s: String) -> String {
            let safe = s.unicodeScalars.first.map { "=+-@\t\r".unicodeScalars.contains($0) } == true && Double(s) == nil ? "'" + s : s
            return "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var out = keys.map { field(label($0)) }.joined(separator: ",") + "\r\n"
        for row in rows { out += keys.map { field(row[$0].map(text) ?? "") }.joined(separator: ",") + "\r\n" }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                               HTTPField.Name("Content-Disposition")!: "attachment; filename=\"\(name).csv\""],
                        body: .init(byteBuffer: ByteBuffer(string: out)))
    }
}

// MARK: - A child's page

extension ConsoleRoutes {
    func subjectPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let given = try context.parameters.require("pseudonym")
        let purposeName = request.uri.queryParameters["purpose"].map { String($0) }
        let view = try await partner.subjectView(given, purposeName: purposeName, context, digest: state.requestDigest("GET", "/console/subjects/\(given)"))
        let canAsk = state.policy.purposes[view.purpose]?.enquiries != nil
        var values: [String: Any] = [
            "pseudonym": view.pseudonym, "purpose": view.purpose, "uncertain": view.uncertain, "canAsk": canAsk, "token": formToken(context),
            "attributes": view.attributes.keys.sorted().map { ["name": Self.label($0), "value": Self.text(view.attributes[$0]!)] },
            "knownTo": view.knownTo.map { ["kind": $0.kind, "role": $0.role, "records": $0.records,
                                           "firstSeen": String(Instant.format($0.firstSeen).prefix(10)), "lastSeen": String(Instant.format($0.lastSeen).prefix(10))] as [String: Any] },
            "records": view.records.map { ["kind": $0.kind, "source": $0.source, "observedAt": String(Instant.format($0.observedAt).prefix(10)),
                                           "linkedBy": $0.linkedBy, "fields": Self.text(.object($0.fields))] },
        ]
        if let asked = request.uri.queryParameters["asked"].flatMap({ Int($0) }) { values["asked"] = asked }
        if let waiting = request.uri.queryParameters["awaiting"].flatMap({ Int($0) }) { values["awaiting"] = waiting }
        return try page("subject", values, context)
    }

    func askFromPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let given = try context.parameters.require("pseudonym")
        let form = try await Self.form(request)
        try requireSameSiteForm(request, context, token: form["token"])
        let asker = context.participant.identity.shortName
        let digest = state.requestDigest("POST", "/console/subjects/\(given)/enquiries")
        guard state.enquiryLimiter.allow(asker) else {
            await state.auditRefusal(actor: asker, action: "enquiry.ask", rule: "enquiry-rate-limit", reason: "rate limit exceeded", requestDigest: digest)
            throw APIError(.tooManyRequests, "rate-limited", "too many enquiries; try again in a minute")
        }
        let answer = try await EnquiryRoutes(state: state).askEnquiry(
            pseudonym: given, purposeName: form["purpose"], question: form["question"].map { .string($0) }, context, digest: digest)
        let holders = answer["holders"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 0
        let purpose = state.policy.purposes[form["purpose"] ?? ""]?.name ?? ""
        let waiting = answer["state"]?.stringValue == "awaiting-approval"
        return Response(status: .seeOther, headers: [.location: "/console/subjects/\(given)?purpose=\(purpose)&\(waiting ? "awaiting" : "asked")=\(holders)"])
    }
}

// MARK: - Inbox and enquiries

extension ConsoleRoutes {
    func inboxPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let inbox = try await InboxRoutes(state: state).read(after: nil, limit: 200, context)
        let items: [[String: Any]] = inbox.forwards.map { item in
            let f = item.forward.objectValue ?? [:]
            let type = f["type"]?.stringValue ?? "forward"
            var about = f["pupilReference"]?.stringValue.map { "your reference \($0)" } ?? f["pseudonym"]?.stringValue ?? ""
            if let ref = f["about"]?.objectValue?["yourReference"]?.stringValue { about = "your reference \(ref)" }
            var details = f["fields"].map(Self.text) ?? ""
            if type == "enquiry" { details = "asked by \(f["askedBy"]?.stringValue ?? ""): \(f["question"]?.stringValue ?? "")" }
            if type == "erased" { details = "the child's records were erased; delete what you hold of this forward" }
            if type == "withdrawal" { details = "pseudonym withdrawn: delete what you hold under it" }
            return ["id": item.id, "type": type, "purpose": item.purpose, "rule": item.rule,
                    "about": about, "created": f["createdAt"]?.stringValue ?? f["askedAt"]?.stringValue ?? "",
                    "deadline": f["deadline"]?.stringValue ?? "", "details": details]
        }
        var values: [String: Any] = ["items": items, "count": items.count, "token": formToken(context)]
        if let last = inbox.forwards.last { values["upTo"] = last.id }
        if let acked = request.uri.queryParameters["acked"].flatMap({ Int64($0) }) { values["acked"] = acked }
        return try page("inbox", values, context)
    }

    func inboxAck(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let form = try await Self.form(request)
        try requireSameSiteForm(request, context, token: form["token"])
        guard let upTo = form["upTo"].flatMap({ Int64($0) }), upTo >= 0 else { throw APIError.badRequest("nothing to acknowledge") }
        let result = try await InboxRoutes(state: state).acknowledge(upTo: upTo, context)
        return Response(status: .seeOther, headers: [.location: "/console/inbox?acked=\(result.acknowledged)"])
    }

    func enquiriesPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let answer = try await EnquiryRoutes(state: state).listPage(context)
        let list = answer["enquiries"]?.arrayValue ?? []
        let answeredNow = request.uri.queryParameters["answered"] != nil
        if context.participant.identity.role != .partner {
            let token = formToken(context)
            let asked: [[String: Any]] = list.compactMap(\.objectValue).map { e in
                let about = e["about"]?.objectValue
                return ["id": e["id"]?.stringValue ?? "", "question": e["question"]?.stringValue ?? "", "purpose": e["purpose"]?.stringValue ?? "",
                        "askedBy": e["askedBy"]?.stringValue ?? "", "askedAt": e["askedAt"]?.stringValue ?? "", "deadline": e["deadline"]?.stringValue ?? "",
                        "about": about?["yourReference"]?.stringValue.map { "your reference \($0) (\(about?["kind"]?.stringValue ?? ""))" } ?? "a record you hold",
                        "answered": e["answered"]?.stringValue ?? false, "token": token, "statuses": EnquiryAnswerStatus.allCases.map(\.rawValue)]
            }
            return try page("enquiries", ["asked": asked, "partner": false, "answeredNow": answeredNow], context)
        }
        let enquiries: [[String: Any]] = list.compactMap(\.objectValue).map { e in
            ["id": e["id"]?.stringValue ?? "", "question": e["question"]?.stringValue ?? "", "pseudonym": e["pseudonym"]?.stringValue ?? "",
             "purpose": e["purpose"]?.stringValue ?? "", "askedAt": e["askedAt"]?.stringValue ?? "", "deadline": e["deadline"]?.stringValue ?? "",
             "state": e["state"]?.stringValue ?? "",
             "holders": (e["holders"]?.arrayValue ?? []).compactMap(\.objectValue).map { h in
                 ["holder": h["holder"]?.stringValue ?? "", "delivery": h["delivery"]?.stringValue ?? "", "status": h["status"]?.stringValue ?? "no answer yet",
                  "text": h["text"]?.stringValue ?? "", "answeredAt": h["answeredAt"]?.stringValue ?? "", "overdue": h["overdue"] == .bool(true)] as [String: Any]
             }]
        }
        return try page("enquiries", ["enquiries": enquiries, "partner": true], context)
    }

    func answerFromPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let form = try await Self.form(request)
        try requireSameSiteForm(request, context, token: form["token"])
        try await EnquiryRoutes(state: state).answerEnquiry(id: id, status: form["status"], text: form["text"].map { .string($0) }, context,
                                                            digest: state.requestDigest("POST", "/console/enquiries/{id}/answers"))
        return Response(status: .seeOther, headers: [.location: "/console/enquiries?answered=1"])
    }
}

// MARK: - Steward and auditor

extension ConsoleRoutes {
    var review: ReviewRoutes { ReviewRoutes(state: state) }

    /// A keyed token for this participant's forms today (HMAC under the digest key): a page from
    /// another site cannot know it. Yesterday's is accepted too, so a form left open over
    /// midnight still posts.
    func formToken(_ context: ParticipantContext, daysAgo: Int = 0) -> String {
        let day = CivilDate(state.now().addingTimeInterval(-86400 * Double(daysAgo))).description
        let digest = state.digester.digest("console-form", text: "\(context.participant.identity.shortName)|\(day)")
        return String(digest.split(separator: ":").last ?? "").prefix(32).description
    }

    /// A state-changing form must come from a console page: same origin by the browser's own
    /// headers (Sec-Fetch-Site, Origin) and carrying this participant's form token.
    func requireSameSiteForm(_ request: Request, _ context: ParticipantContext, token: String?) throws {
        let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!]
        let origin = request.headers[.origin]
        let host = request.head.authority ?? ""
        // Under Referrer-Policy: no-referrer a browser sends `Origin: null` on a form post; Sec-Fetch-Site,
        // which no page's script can set, then says where the form came from.
        let sameOrigin = origin == nil || origin == "https://\(host)" || (origin == "null" && site == "same-origin")
        guard site == nil || site == "same-origin", sameOrigin,
              let token, token == formToken(context) || token == formToken(context, daysAgo: 1) else {
            throw APIError.forbidden("cross-site-form", "this form did not come from a page of this console (or it is more than a day old); reload the page and try again")
        }
    }

    /// An application/x-www-form-urlencoded body of at most 4 KiB, as name -> value.
    static func form(_ request: Request) async throws -> [String: String] {
        // An enquiry's question is up to 2,000 bytes of UTF-8, each byte up to three when percent-encoded.
        let body = String(buffer: try await request.body.collect(upTo: 8192))
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    func reviewPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let items = try await review.list(status: "pending", context, path: "/console/review")
        let token = formToken(context)
        let pairs: [[String: Any]] = items.map { item in
            let levels = item.levels.split(separator: ",").map { part -> [String: String] in
                let kv = part.split(separator: "=", maxSplits: 1)
                return ["field": String(kv.first ?? ""), "level": kv.count > 1 ? String(kv[1]) : ""]
            }
            // Each source row: subject, kind, source, observed time, then the reference the route opened.
            let sources: [[String: String]] = item.sources.map { s in
                let side = s.first.map { Int64($0) == item.subjectA ? "A" : "B" } ?? ""
                return ["side": side, "kind": s.count > 1 ? s[1] : "", "source": s.count > 2 ? s[2] : "",
                        "observed": s.count > 3 ? String(s[3].prefix(10)) : "", "reference": s.count > 4 ? s[4] : ""]
            }
            return ["id": item.id, "reason": item.reason, "score": item.score.map { String(format: "%.1f", $0) } ?? "strong identifier",
                    "createdAt": Instant.format(item.createdAt), "levels": levels, "sources": sources, "token": token]
        }
        var values: [String: Any] = ["pairs": pairs, "count": items.count]
        if let decided = request.uri.queryParameters["decided"].flatMap({ Int64($0) }) { values["decided"] = decided }
        return try page("review", values, context)
    }

    func reviewDecision(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        guard let id = Int64(try context.parameters.require("id")) else { throw APIError.notFound("no review pair with that id") }
        let form = try await Self.form(request)
        try requireSameSiteForm(request, context, token: form["token"])
        try await review.decide(id: id, decision: form["decision"] ?? "", note: form["note"] ?? "", context, path: "/console/review/\(id)")
        // Post/redirect/get: a reload of the confirmation does not post again.
        return Response(status: .seeOther, headers: [.location: "/console/review?decided=\(id)"])
    }

    /// Filters an auditor may type, each checked against what it can be before it is used or
    /// shown: anything else is ignored and said so, never echoed.
    static let auditFilters: [(name: String, label: String, pattern: String)] = [
        ("actor", "Actor", #"^[a-z]+/[A-Za-z0-9._-]{1,64}$|^gateway$|^unauthenticated$"#),
        ("action", "Action", #"^[a-z][a-z.-]{0,40}$"#),
        ("purpose", "Purpose", #"^[a-z0-9-]{1,40}$"#),
        ("rule", "Rule", #"^[A-Za-z0-9:._/{} +-]{1,120}$"#),
    ]

    func auditPage(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let q = request.uri.queryParameters
        let pageSize = 50
        let head = try await state.store.auditTreeHead()
        var filter = AuditEntryFilter(from: 0, limit: pageSize)
        var shown: [[String: String]] = [], ignored: [String] = []
        for f in Self.auditFilters {
            guard let raw = q[f.name[...]].map(String.init), !raw.isEmpty else { shown.append(["name": f.name, "label": f.label, "value": ""]); continue }
            if raw.range(of: f.pattern, options: .regularExpression) != nil {
                switch f.name {
                case "actor": filter.actor = raw
                case "action": filter.action = raw
                case "purpose": filter.purpose = raw
                default: filter.rule = raw
                }
                shown.append(["name": f.name, "label": f.label, "value": raw])
            } else {
                ignored.append("\(f.label.lowercased()) is not of the form such values take")
                shown.append(["name": f.name, "label": f.label, "value": ""])
            }
        }
        let decision = q["decision"].map(String.init).flatMap(PolicyDecision.Effect.init(rawValue:))
        filter.decision = decision?.rawValue
        let filtered = filter.actor != nil || filter.action != nil || filter.purpose != nil || filter.rule != nil || decision != nil
        let defaultFrom = filtered ? 0 : max(0, head.size - Int64(pageSize))
        filter.from = q["from"].flatMap { Int64($0) }.map { min(max(0, $0), head.size) } ?? defaultFrom
        let found = try await state.store.auditEntries(matching: filter)
        // As the API does: a filtered answer is held to the entries' own bytes, so a search column
        // edited behind the log's back is refused, not shown.
        if filtered { try await AuditRoutes(state: state).checkColumns(found, request, context) }
        let latest = try await state.store.latestCheckpoint()
        let checkpoints = try await state.store.checkpoints(upTo: head.size).sorted { $0.size > $1.size }.prefix(20)
        try await AuditRoutes(state: state).recordRead(request, context, action: "audit.entries", rule: "endpoint-roles:GET /console/audit",
                                                       counts: ["returned": found.count],
                                                       detail: ["from": "\(filter.from)", "filters": ["actor", "action", "purpose", "rule", "decision"].filter { q[$0[...]] != nil }.joined(separator: ",")])
        let entries: [[String: Any]] = found.map { e in
            let decoded = e.entry.isEmpty ? nil : try? AuditEntry.decode(canonical: e.entry)
            return ["index": e.index, "time": decoded.map { Instant.format($0.time) } ?? "(content pruned)", "actor": decoded?.actor ?? "",
                    "action": decoded?.action ?? "", "purpose": (decoded?.purpose ?? "") as String, "decision": decoded?.decision.rawValue ?? "",
                    "rule": decoded?.rule ?? "", "checkable": latest.map { e.index < $0.size } ?? false,
                    "checkpointSize": latest?.size ?? 0, "checkpointRoot": latest?.rootHash.hexString ?? ""]
        }
        func link(from: Int64) -> String {
            var parts = ["from=\(from)"]
            for f in shown where !(f["value"] ?? "").isEmpty { parts.append("\(f["name"]!)=\(f["value"]!.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")") }
            if let decision { parts.append("decision=\(decision.rawValue)") }
            return "/console/audit?" + parts.joined(separator: "&")
        }
        var values: [String: Any] = [
            "size": head.size, "filters": shown, "entries": entries,
            "decisions": ["allow", "deny"].map { ["value": $0, "selected": $0 == (decision?.rawValue ?? "")] as [String: Any] },
            "firstShown": found.first.map { String($0.index) } ?? "-", "lastShown": found.last.map { String($0.index) } ?? "-",
            "checkpointSize": latest?.size ?? 0, "checkpointTime": latest.map { Instant.format($0.time) } ?? "never",
            "checkpointKey": latest?.verifierKey ?? "",
            "checkpoints": checkpoints.map { ["size": $0.size, "time": Instant.format($0.time), "root": $0.rootHash.hexString, "key": $0.verifierKey] as [String: Any] },
        ]
        if !ignored.isEmpty { values["ignored"] = ignored.joined(separator: "; ") }
        values["token"] = formToken(context)
        if let v = state.lastLogVerification.withLockedValue({ $0 }) {
            values["verification"] = ["at": Instant.format(v.at), "text": v.text,
                                      "status": v.ok.map { $0 ? "Verified" : "FAILED" } ?? "Running…",
                                      "class": v.ok.map { $0 ? "verified" : "failed" } ?? ""]
        }
        if let last = found.last, found.count == pageSize, last.index + 1 < head.size { values["later"] = link(from: last.index + 1) }
        // Earlier pages by index only when unfiltered: 50 indices back is 50 entries back only then.
        if filter.from > 0, !filtered { values["earlier"] = link(from: max(0, filter.from - Int64(pageSize))) }
        return try page("audit", values, context)
    }
}

extension ConsoleRoutes {
    /// Runs the database check of `sightline audit verify` on the gateway's own store, in the
    /// background (a large log takes a while), pinning the gateway's current and earlier audit
    /// keys; the audit page shows the result. Audited as `audit.verify`.
    func verifyLog(_ request: Request, _ context: ParticipantContext) async throws -> Response {
        let form = try await Self.form(request)
        try requireSameSiteForm(request, context, token: form["token"])
        guard let store = state.store as? SQLiteStore else { throw APIError(.notImplemented, "not-supported", "this store cannot be verified from the console") }
        let origin = state.checkpoints.origin
        var pinned = state.keys.history.auditSigning.compactMap { try? NoteVerifierKey(name: origin, publicKey: $0.publicKey) }
        if let current = try? state.checkpoints.verifierKey() { pinned.append(current) }
        let started = state.now()
        // Audited first: if that fails nothing is started, and the panel is not left "running".
        try await AuditRoutes(state: state).recordRead(request, context, action: "audit.verify", rule: "endpoint-roles:POST /console/audit/verify")
        let already = state.lastLogVerification.withLockedValue { v -> Bool in
            if v?.ok == nil, v != nil { return true }
            v = GatewayState.LogVerification(at: started, ok: nil, text: "")
            return false
        }
        if !already {
            let box = state.lastLogVerification, keys = pinned
            // Reading and hashing the whole log is blocking work: on the thread pool, never Swift's cooperative threads.
            Task {
                let report = try? await NIOThreadPool.singleton.runIfActive { store.verifyAuditLog(pinned: keys) }
                box.withLockedValue { $0 = GatewayState.LogVerification(at: started, ok: report?.ok ?? false, text: report?.text ?? "the check could not run") }
            }
        }
        return Response(status: .seeOther, headers: [.location: "/console/audit#verification"])
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// Counts as an SVG bar chart's geometry: one bar a category, in the category's natural order;
/// a count under the policy's threshold is drawn at the threshold's height and labelled "<N".
struct BarChart {
    let id: String
    let caption: String
    let counts: [String: Int]
    let suppressBelow: Int

    var values: [String: Any] {
        let labels = counts.keys.sorted { OrderKey($0) < OrderKey($1) }
        let barWidth = 28, gap = 12, plot = 160, top = 16, bottom = 22
        let width = max(120, labels.count * (barWidth + gap) + gap)
        let shown = labels.map { max(counts[$0]!, suppressBelow > 0 && counts[$0]! < suppressBelow ? suppressBelow : counts[$0]!) }
        let maxCount = max(1, shown.max() ?? 1)
        let bars: [[String: Any]] = labels.enumerated().map { i, label in
            let n = counts[label]!
            let suppressed = suppressBelow > 0 && n < suppressBelow
            let h = max(2, Int((Double(shown[i]) / Double(maxCount) * Double(plot)).rounded()))
            let x = gap + i * (barWidth + gap)
            return ["label": label, "count": suppressed ? "<\(suppressBelow)" : String(n), "suppressed": suppressed,
                    "x": x, "y": top + plot - h, "barWidth": barWidth, "barHeight": h,
                    "labelX": x + barWidth / 2, "countY": top + plot - h - 4, "labelY": top + plot + 15]
        }
        return ["id": id, "caption": caption, "width": width, "height": top + plot + bottom, "bars": bars,
                "suppressBelow": suppressBelow > 0 ? suppressBelow : false]
    }
}

/// The outermost middleware of the API listener. A browser sends the participant's certificate on
/// requests other sites make too (an `<img>` or a script pointing at the gateway), and a GET here
/// runs a report or opens a child's page in the participant's name, audited as theirs: requests a
/// browser marks as coming from another site are refused, except the console's home page. And
/// every console response, errors and unknown paths included, gets the console's headers; every
/// API answer is `no-store` and `nosniff`.
struct BrowserSafetyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let console = path == "/console" || path.hasPrefix("/console/")
        let home = path == "/console" || path == "/console/"
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" || site == "same-site", !home {
            throw APIError.forbidden("cross-site-request", "requests another site makes are refused; open the console from its home page")
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError where console {
            response = try error.response(from: request, context: context)
        }
        if console {
            for (name, value) in ConsoleMiddleware.securityHeaders where response.headers[name] == nil { response.headers[name] = value }
        } else {
            if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
            response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        }
        return response
    }
}

/// Every console response carries the headers a page with personal data needs, and an error
/// becomes a page (not JSON) with the same status and the gateway's own message.
struct ConsoleMiddleware: RouterMiddleware {
    let state: GatewayState

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (HTTPField.Name("Content-Security-Policy")!, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
        (.cacheControl, "no-store"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("Cross-Origin-Opener-Policy")!, "same-origin"),
        (HTTPField.Name("Strict-Transport-Security")!, "max-age=31536000"),
    ]

    func handle(_ request: Request, context: ParticipantContext, next: (Request, ParticipantContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try errorPage(error.status, error.message, context)
        } catch let error as HTTPResponseError {
            response = try errorPage(error.status, error.status == .notFound ? "There is no such page." : error.status.reasonPhrase, context)
        } catch {
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            response = try errorPage(.internalServerError, "The console could not show this page; it has been logged.", context)
        }
        for (name, value) in Self.securityHeaders { response.headers[name] = value }
        return response
    }

    func errorPage(_ status: HTTPResponse.Status, _ message: String, _ context: ParticipantContext) throws -> Response {
        let heading = status == .forbidden ? "Not allowed" : status == .notFound ? "Not found" : "Something went wrong"
        guard let html = ConsoleRoutes.library.render(["heading": heading, "message": message, "links": [] as [Any],
                                                       "who": context.participant.identity.shortName,
                                                       "role": context.participant.identity.role.rawValue], withTemplate: "error") else {
            return Response(status: status)
        }
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// How a cell sorts: numbers as numbers (decimals and signs included) before text, text without
/// regard to case, blanks after everything.
struct OrderKey: Comparable {
    let rank: Int
    let number: Double
    let text: String
    var isBlank: Bool { rank == 2 }

    init(_ s: String) {
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { rank = 2; number = 0; text = "" }
        else if let n = Double(trimmed), n.isFinite { rank = 0; number = n; text = trimmed }
        else { rank = 1; number = 0; text = trimmed.lowercased() + "\u{0}" + trimmed }
    }

    static func < (a: OrderKey, b: OrderKey) -> Bool {
        (a.rank, a.number, a.text) < (b.rank, b.number, b.text)
    }
}
