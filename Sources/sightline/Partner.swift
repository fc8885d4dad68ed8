import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// Runs one API call and returns the JSON body, or exits 1 with the gateway's error message.
func callGateway(_ options: GatewayOptions, _ method: String, _ path: String, body: Data? = nil, notFoundMessage: String? = nil) async throws -> Data {
    let client = try options.client()
    let response: GatewayClient.Response
    do {
        response = try await client.request(.init(rawValue: method), path, body: body)
    } catch {
        try? await client.shutdown()
        fail("could not reach the gateway at \(options.gateway): \(error)")
    }
    try? await client.shutdown()
    guard (200..<300).contains(response.status) else {
        struct APIErrorBody: Decodable { var error: String; var message: String }
        let detail = (try? JSONDecoder().decode(APIErrorBody.self, from: response.body)).map { "\($0.message) [\($0.error)]" } ?? "HTTP \(response.status)"
        if response.status == 404, let notFoundMessage { fail(notFoundMessage) }
        fail("the gateway answered \(response.status): \(detail)")
    }
    return response.body
}

func percentEncoded(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? s
}

struct Match: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find a child you already know by identifiers you hold; prints your pseudonym and the purpose's view.",
        discussion: "The identifiers are pseudonymised by the gateway in memory and never stored. Matches are rate limited and audited.")
    @OptionGroup var options: GatewayOptions
    @Option(help: "Purpose, e.g. cme, attendance, s17, s47, encompass.") var purpose: String
    @OptionGroup var child: ChildIdentifiers

    func run() async throws {
        let body = try JSONEncoder().encode(["purpose": JSONValue.string(purpose), "identifiers": child.json])
        let data = try await callGateway(options, "POST", "/v1/match", body: body, notFoundMessage: "no child matches these identifiers (the attempt is audited)")
        if options.json { print(String(decoding: data, as: UTF8.self)); return }
        guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { fail("unreadable answer") }
        print("pseudonym \(o["pseudonym"]?.stringValue ?? "?") (matched by \(o["matchedBy"]?.stringValue ?? "?"))")
        if let view = o["view"] { printView(view) }
    }
}

/// A child named by identifiers the caller holds (match, subject access, erasure).
struct ChildIdentifiers: ParsableArguments {
    @Option(name: .customLong("nhs-number")) var nhsNumber: String?
    @Option var upn: String?
    @Option var given: String?
    @Option var family: String?
    @Option(help: "Date of birth, YYYY-MM-DD.") var dob: String?
    @Option(help: "Postcode (narrows a name + date of birth match).") var postcode: String?

    func validate() throws {
        guard nhsNumber != nil || upn != nil || (given != nil && family != nil && dob != nil) else {
            throw ValidationError("give --nhs-number, --upn, or --given --family --dob (a name alone never matches)")
        }
    }

    var json: JSONValue {
        var ids: [String: JSONValue] = [:]
        if let nhsNumber { ids["nhsNumber"] = .string(nhsNumber) }
        if let upn { ids["upn"] = .string(upn) }
        if let given { ids["givenName"] = .string(given) }
        if let family { ids["familyName"] = .string(family) }
        if let dob { ids["dateOfBirth"] = .string(dob) }
        if let postcode { ids["postcode"] = .string(postcode) }
        return .object(ids)
    }
}

struct SubjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject", abstract: "Show what a purpose allows you to see of one child; or, with --explain, how its records were linked.")
    @OptionGroup var options: GatewayOptions
    @Argument(help: "Your pseudonym for the child (from match or a report); with --explain, any partner's pseudonym or a subject id from review list.")
    var pseudonym: String
    @Option(help: "The purpose you ask under (partners).") var purpose: String?
    @Flag(help: "For a steward or auditor: each record's source, date, the subject it joined, its score and the level of each field.")
    var explain = false

    func validate() throws {
        if !explain && purpose == nil { throw ValidationError("--purpose is required (or --explain, for a steward or auditor)") }
    }

    func run() async throws {
        if explain { return try await ReviewCommand.Explain.show(options, subject: pseudonym) }
        let purpose = purpose ?? ""
        let data = try await callGateway(options, "GET", "/v1/subjects/\(percentEncoded(pseudonym))?purpose=\(percentEncoded(purpose))",
                                         notFoundMessage: "no child \(pseudonym) for this identity (pseudonyms are per partner)")
        if options.json { print(String(decoding: data, as: UTF8.self)); return }
        guard let view = try? JSONDecoder().decode(JSONValue.self, from: data) else { fail("unreadable answer") }
        printView(view)
    }
}

func printView(_ view: JSONValue) {
    guard case .object(let v) = view else { return }
    print("purpose \(v["purpose"]?.stringValue ?? "?")\(v["uncertain"] == .bool(true) ? "  [UNCERTAIN LINK: identifiers disagree; check before acting]" : "")")
    if case .object(let attributes)? = v["attributes"], !attributes.isEmpty {
        print("attributes: " + attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\(plain($0.value))" }.joined(separator: ", "))
    }
    if case .array(let known)? = v["knownTo"] {
        print("known to:")
        for k in known {
            guard case .object(let o) = k else { continue }
            print("  \(plain(o["kind"] ?? .null)): \(plain(o["records"] ?? .null)) record(s), \(plain(o["firstSeen"] ?? .null).prefix(10)) to \(plain(o["lastSeen"] ?? .null).prefix(10))")
        }
    }
    if case .array(let records)? = v["records"] {
        print("records:")
        for r in records {
            guard case .object(let o) = r else { continue }
            let fields = (o["fields"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\(plain($0.value))" }.joined(separator: " ")
            print("  \(plain(o["observedAt"] ?? .null).prefix(10)) \(plain(o["kind"] ?? .null)) from \(plain(o["source"] ?? .null)) (linked by \(plain(o["linkedBy"] ?? .null))): \(fields)")
        }
    }
}

/// A JSON value as one cell of text.
func plain(_ value: JSONValue) -> String {
    switch value {
    case .null: ""
    case .bool(let b): b ? "yes" : "no"
    case .number(let n): n == n.rounded() ? String(Int(n)) : String(n)
    case .string(let s): s
    case .array(let a): a.map(plain).joined(separator: "; ")
    case .object(let o): o.sorted { $0.key < $1.key }.map { "\($0.key): \(plain($0.value))" }.joined(separator: ", ")
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a report for your LA under a purpose: \(ReportKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    @OptionGroup var options: GatewayOptions
    @Argument(help: "Report name.") var name: String
    @Option var purpose: String
    @Option(help: "table, csv or json (default: table; json with --json).") var format: String?

    func validate() throws {
        guard ReportKind(rawValue: name) != nil else { throw ValidationError("unknown report \(name); reports are \(ReportKind.allCases.map(\.rawValue).joined(separator: ", "))") }
        if let format, !["table", "csv", "json"].contains(format) { throw ValidationError("--format is table, csv or json") }
    }

    static let columnOrder = ["pseudonym", "status", "band", "category", "schoolYearGroup", "postcodeDistrict", "school", "absenceRate",
                              "sessionsPossible", "sessionsAttended", "startDate", "days", "provisionDueBy", "registers", "recordedBy",
                              "reasons", "lastSeen", "uncertain"]

    func run() async throws {
        let data = try await callGateway(options, "GET", "/v1/reports/\(name)?purpose=\(percentEncoded(purpose))")
        let format = format ?? (options.json ? "json" : "table")
        if format == "json" { print(String(decoding: data, as: UTF8.self)); return }
        guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let rows)? = o["rows"] else { fail("unreadable answer") }
        let objects = rows.compactMap(\.objectValue)
        let present = Set(objects.flatMap(\.keys))
        let columns = Self.columnOrder.filter(present.contains) + present.subtracting(Self.columnOrder).sorted()
        if format == "csv" {
            print(columns.joined(separator: ","))
            for row in objects { print(columns.map { csvCell(plain(row[$0] ?? .null)) }.joined(separator: ",")) }
            return
        }
        print("\(name) for LA \(o["la"]?.stringValue ?? "?") under purpose \(o["purpose"]?.stringValue ?? "?"): \(objects.count) children")
        if case .object(let summary)? = o["summary"] {
            for (k, v) in summary.sorted(by: { $0.key < $1.key }) { print("  \(k): \(plain(v))") }
        }
        guard !objects.isEmpty else { return }
        let tableColumns = columns.filter { $0 != "lastSeen" || columns.count < 8 }
        let cells = objects.map { row in tableColumns.map { String(plain(row[$0] ?? .null).prefix($0 == "reasons" ? 90 : 40)) } }
        let widths = tableColumns.indices.map { i in max(tableColumns[i].count, cells.map { $0[i].count }.max() ?? 0) }
        func line(_ values: [String]) -> String {
            values.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        print(line(tableColumns))
        print(line(widths.map { String(repeating: "-", count: $0) }))
        for row in cells { print(line(row)) }
    }

    func csvCell(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
