import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// The LA team's routing queue: notices a forwarding rule held because no single school
/// qualified on its own (several current schools, or a link on weak identifiers only).
struct RoutingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing",
        abstract: "Held notices your team routes to one school, or closes (the hold-for team of a forwarding rule).",
        subcommands: [List.self, Route.self, Close.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notices held for you to route.")
        @OptionGroup var options: GatewayOptions

        func run() async throws {
            let data = try await callGateway(options, "GET", "/v1/routing")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let page)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let items)? = page["held"] else {
                fail("unreadable routing queue")
            }
            print("\(items.count) held notice(s)")
            for item in items {
                guard case .object(let o) = item, case .object(let n)? = o["notice"] else { continue }
                let routing = n["routing"]?.objectValue ?? [:]
                print("  \(plain(o["forwardId"] ?? .null)) \(plain(o["rule"] ?? .null)) child \(plain(n["pseudonym"] ?? .null)): "
                      + "\(plain(routing["reason"] ?? .null)), \(plain(routing["candidateSchools"] ?? .null)) school(s) with the child on roll"
                      + (o["deadline"].map { " [deadline \(plain($0))]" } ?? ""))
            }
        }
    }

    struct Route: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a held notice to one school of your LA that has the child on roll.")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The held notice (fwd_...), from routing list.") var forwardId: String
        @Option(help: "The school, e.g. school/100001.") var to: String

        func run() async throws {
            let data = try await callGateway(options, "POST", "/v1/routing/\(forwardId)", body: try JSONEncoder().encode(["route": to]))
            print(String(decoding: data, as: UTF8.self))
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a held notice without sending it to a school.")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The held notice (fwd_...), from routing list.") var forwardId: String
        @Option(help: "no-current-school, handled-outside-sightline or not-this-la.") var reason: String

        func run() async throws {
            let data = try await callGateway(options, "POST", "/v1/routing/\(forwardId)", body: try JSONEncoder().encode(["close": reason]))
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
