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
        @Argument(help: "The subject's id, from review list.") var subject: Int64

        func run() async throws {
            let data = try await callGateway(options, "GET", "/v1/review/subjects/\(subject)")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let records)? = o["records"] else {
                fail("unreadable answer")
            }
            print("subject \(subject)\(o["uncertain"] == .bool(true) ? " (uncertain: a review or conflict is open)" : ""): \(records.count) record(s)")
            for case .object(let r) in records {
                print("  \(plain(r["observedAt"] ?? .null).prefix(10)) \(plain(r["kind"] ?? .null)) from \(plain(r["source"] ?? .null)): \(plain(r["linkedBy"] ?? .null))")
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
                    for case .array(let s) in sources where s.count == 4 {
                        print("      subject \(plain(s[0])): \(plain(s[1])) from \(plain(s[2])) at \(plain(s[3]))")
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
