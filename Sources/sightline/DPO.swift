import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// The DPO's commands (auditor identity): `dpo subject-access` and `dpo erase`.
struct DPOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo", abstract: "Subject access and erasure, for the DPO (auditor identity).",
        subcommands: [SubjectAccess.self, Erase.self])

    struct SubjectAccess: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "subject-access",
            abstract: "What the gateway holds about a child, and who has seen it: a document a DPO can send (UK GDPR Art 15).",
            discussion: "The identifiers are pseudonymised by the gateway in memory and never stored. The request is audited.")
        @OptionGroup var options: GatewayOptions
        @OptionGroup var child: ChildIdentifiers
        @Option(help: "markdown, html (PDF-ready: print it from a browser) or json.") var format = "markdown"
        @Option(help: "Why (the request's reference; kept as a keyed digest).") var reason: String?
        @Option(help: "Write here instead of standard output.") var out: String?

        func validate() throws {
            guard ["markdown", "html", "json"].contains(format) else { throw ValidationError("--format is markdown, html or json") }
        }

        func run() async throws {
            var body: [String: JSONValue] = ["identifiers": child.json]
            if let reason { body["reason"] = .string(reason) }
            let data = try await callGateway(options, "POST", "/v1/subject-access", body: try JSONEncoder().encode(body),
                                             notFoundMessage: "the gateway holds no child matching these identifiers (say so in the answer; the search is audited)")
            let text: String
            if format == "json" || options.json {
                text = String(decoding: data, as: UTF8.self)
            } else {
                guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { fail("unreadable answer") }
                let markdown = SubjectAccessDocument(o).markdown()
                text = format == "html" ? SubjectAccessDocument.html(markdown) : markdown
            }
            if let out {
                try Data(text.utf8).write(to: URL(fileURLWithPath: out))
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: out)
                print("wrote \(out)")
            } else {
                print(text)
            }
        }
    }

    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase every record of a child (UK GDPR Art 17); partners holding a pseudonym for the child are told it is withdrawn.",
            discussion: "The audit log keeps the erasure (subject id, counts, the reason's keyed digest) and still verifies.")
        @OptionGroup var options: GatewayOptions
        @OptionGroup var child: ChildIdentifiers
        @Option(help: "Why (required; at most 500 bytes; kept as a keyed digest).") var reason: String

        func run() async throws {
            let body = try JSONEncoder().encode(["identifiers": child.json, "reason": .string(reason)])
            let data = try await callGateway(options, "POST", "/v1/erasures", body: body, notFoundMessage: "the gateway holds no child matching these identifiers")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let c)? = o["erased"] else { fail("unreadable answer") }
            print("erased: " + c.sorted { $0.key < $1.key }.map { "\(plain($1)) \($0)" }.joined(separator: ", "))
        }
    }
}

/// The subject access answer as a document: what is held, as partners saw it, and who saw it.
struct SubjectAccessDocument {
    let o: [String: JSONValue]
    init(_ o: [String: JSONValue]) { self.o = o }

    func cell(_ v: JSONValue?) -> String {
        let s: String
        switch v {
        case .object(let d)?: s = d.sorted { $0.key < $1.key }.map { "\($0.key): \(plain($0.value))" }.joined(separator: "; ")
        case let v?: s = plain(v)
        case nil: s = ""
        }
        return s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    func markdown() -> String {
        var out = "# Subject access: what Sightline holds about this child\n\n"
        out += "Generated \(cell(o["generatedAt"])) under policy \(cell(o["policyVersion"])). The child is named here by the DPO's own pseudonym "
        out += "\(cell(o["subject"])); Sightline stores no names, dates of birth, NHS numbers, UPNs or addresses, only keyed digests of them. "
        out += "The identifiers given found the child by: \(cell(o["matchedBy"])) (nhs or upn: a strong identifier; score: by name, date of birth and address, check it is the right child).\n\n"
        if o["uncertain"] == .bool(true) { out += "**Uncertain:** a linkage review or identifier conflict is open for this child.\n\n" }
        out += "## Records held\n\n| kind | from | observed | received | fields as stored | birth month | postcode district | linked by |\n|---|---|---|---|---|---|---|---|\n"
        if case .array(let rows)? = o["records"] {
            for case .object(let r) in rows {
                out += "| \(cell(r["kind"])) | \(cell(r["source"])) | \(cell(r["observedAt"])) | \(cell(r["receivedAt"])) | \(cell(r["fields"])) | "
                out += "\(cell(r["birthYearMonth"])) | \(cell(r["postcodeDistrict"])) | \(cell(r["linkedBy"])) |\n"
            }
        }
        out += "\n## As partners saw it, under each purpose (minimised)\n\n"
        if case .array(let views)? = o["asSeenUnderPurposes"] {
            for case .object(let v) in views {
                out += "- **\(cell(v["purpose"]))** (recipients: \(cell(v["recipients"]))): "
                if case .object(let view)? = v["view"] { out += "attributes \(cell(view["attributes"])); known to \(cell(view["knownTo"]))" }
                out += "\n"
            }
        }
        out += "\n## Who has seen it: every disclosure and use in the audit log\n\n| time | action | by / to | purpose | rule | decision |\n|---|---|---|---|---|---|\n"
        if case .array(let rows)? = o["disclosures"] {
            for case .object(let d) in rows {
                let who = cell(d["actor"]) == cell(d["recipient"]) ? cell(d["actor"]) : "\(cell(d["actor"])) to \(cell(d["recipient"]))"
                out += "| \(cell(d["time"])) | \(cell(d["action"]))\(d["report"].map { " (\(cell($0)))" } ?? "") | \(who) | \(cell(d["purpose"])) | \(cell(d["rule"])) | \(cell(d["decision"])) |\n"
            }
        }
        return out
    }

    /// A self-contained page (no scripts, no external resources) of the Markdown's tables, ready to print to PDF.
    static func html(_ markdown: String) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;")
        }
        var body = ""
        var inTable = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("|") {
                if line.hasPrefix("|---") { continue }
                let cells = line.dropFirst().dropLast().components(separatedBy: " | ").map { escape($0.trimmingCharacters(in: .whitespaces)) }
                if !inTable { body += "<table>\n<tr>" + cells.map { "<th>\($0)</th>" }.joined() + "</tr>\n"; inTable = true; continue }
                body += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if line.hasPrefix("## ") { body += "<h2>\(escape(String(line.dropFirst(3))))</h2>\n" }
            else if line.hasPrefix("# ") { body += "<h1>\(escape(String(line.dropFirst(2))))</h1>\n" }
            else if line.hasPrefix("- ") { body += "<p>\(escape(String(line.dropFirst(2))).replacingOccurrences(of: "**", with: ""))</p>\n" }
            else if !line.isEmpty { body += "<p>\(escape(line).replacingOccurrences(of: "**", with: ""))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Subject access</title>
        <style>body{font:11pt sans-serif;margin:2em}table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}th{background:#eee}@media print{a{color:black}}</style>
        </head><body>
        \(body)</body></html>
        """
    }
}
