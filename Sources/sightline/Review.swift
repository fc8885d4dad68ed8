import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// The steward's linkage review queue: `review list`, `review decide ID same|different --note T`.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review", abstract: "Pairs of records that may be one child, for the LA's steward.",
        subcommands: [List.self, Decide.self, Explain.self])

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How each record of a subject was linked: source, date, levels of agreement (steward, auditor).")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The subject's id, from review list, or a pseudonym any partner was given.") var subject: String

        func run() async throws { try await Self.show(options, subject: subject) }

        static func show(_ options: GatewayOptions, subject: String) async throws {
            let data = try await callGateway(options, "GET", "/v1/review/subjects/\(percentEncoded(subject))",
                                             notFoundMessage: "no subject \(subject) (an id from review list, or a pseudonym issued to a partner)")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let records)? = o["records"] else {
                fail("unreadable answer")
            }
            print("subject \(plain(o["subject"] ?? .null))\(o["uncertain"] == .bool(true) ? " (uncertain: a review or conflict is open)" : ""): \(records.count) record(s)")
            for case .object(let r) in records {
                let reference = r["reference"].map(plain).flatMap { $0.isEmpty ? nil : " [\($0)]" } ?? ""
                print("  \(plain(r["observedAt"] ?? .null).prefix(10)) \(plain(r["kind"] ?? .null)) from \(plain(r["source"] ?? .null))\(reference): "
                      + Self.describe(plain(r["linkedBy"] ?? .null)))
            }
        }

        /// "score:23.4 given=exact,dob=swapped" as "score 23.4: given exact, dob swapped".
        static func describe(_ linkedBy: String) -> String {
            switch linkedBy {
            case "new": return "a new child (no candidate scored high enough)"
            case "nhs", "upn": return "joined on the same \(linkedBy == "nhs" ? "NHS number" : "UPN")"
            case "reference": return "the same record sent again (same source, same reference)"
            default:
                guard linkedBy.hasPrefix("score:") else { return linkedBy }
                let parts = linkedBy.dropFirst(6).split(separator: " ", maxSplits: 1)
                let levels = parts.count > 1 ? parts[1].split(separator: ",").map { $0.replacingOccurrences(of: "=", with: " ") }.joined(separator: ", ") : ""
                return "joined with score \(parts.first ?? ""): \(levels)"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pairs waiting (or --status same|different): field levels, score, sources.")
        @OptionGroup var options: GatewayOptions
        @Option(help: "pending, same or different.") var status = "pending"

        func run() async throws {
            let data = try await callGateway(options, "GET", "/v1/review?status=\(status)")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let pairs)? = o["pairs"] else {
                fail("unreadable review queue")
            }
            print("\(pairs.count) pair(s) \(status)")
            for case .object(let p) in pairs {
                let score = p["score"].map(plain) ?? "strong identifier"
                print("  #\(plain(p["id"] ?? .null)) score \(score) [\(plain(p["levels"] ?? .null))] \(plain(p["reason"] ?? .null))")
                if case .array(let sources)? = p["sources"] {
                    for case .array(let s) in sources where s.count >= 4 {
                        let reference = s.count > 4 && !plain(s[4]).isEmpty ? " [their reference \(plain(s[4]))]" : ""
                        print("      subject \(plain(s[0])): \(plain(s[1])) from \(plain(s[2]))\(reference) at \(plain(s[3]))")
                    }
                }
            }
        }
    }

    struct Decide: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether a pair is one child (same: merged) or two (different: kept apart for good).")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The pair's id, from review list.") var id: Int64
        @Argument(help: "same or different.") var decision: String
        @Option(help: "Why (kept sealed; at most 500 bytes).") var note: String?

        func validate() throws {
            guard ["same", "different"].contains(decision) else { throw ValidationError("decision is same or different") }
        }

        func run() async throws {
            var body: [String: String] = ["decision": decision]
            if let note { body["note"] = note }
            let data = try await callGateway(options, "POST", "/v1/review/\(id)", body: try JSONEncoder().encode(body))
            print(options.json ? String(decoding: data, as: UTF8.self) : "pair #\(id): \(decision)")
        }
    }
}
