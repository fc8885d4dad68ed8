import ArgumentParser
import Foundation
import SightlineCore
import SightlineGateway
import SightlineStore

/// Operator commands on the outbox, run beside the daemon (SQLite allows a second process).
struct Forwards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the forwarding outbox and retry dead letters.",
        subcommands: [List.self, Retry.self])

    struct Location: ParsableArguments {
        @Option(help: "Gateway configuration file.") var config: String?
        @Option(help: "Dev state directory (instead of --config).") var state: String?

        func databasePath() throws -> String {
            if let config {
                do { return try GatewayConfig.load(path: config).databasePath } catch { throw ValidationError(error.message) }
            }
            if let state { return URL(fileURLWithPath: state).standardizedFileURL.path + "/sightline.sqlite" }
            throw ValidationError("give --config FILE or --state DIR")
        }

        /// The configuration file: --config, or the one `serve --dev` wrote into the state directory.
        func configPath() throws -> String {
            if let config { return config }
            if let state { return URL(fileURLWithPath: state).standardizedFileURL.path + "/gateway.yaml" }
            throw ValidationError("give --config FILE or --state DIR")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List forwards: pending, delivered or dead.")
        @OptionGroup var location: Location
        @Option(help: "pending, delivered or dead (default: all).") var status: String?
        @Option var limit = 100
        @Flag var json = false

        func run() async throws {
            let store = try SQLiteStore(path: try location.databasePath(), readOnly: true)
            let filter = try status.map { s -> StoredForward.State in
                guard let v = StoredForward.State(rawValue: s) else { throw ValidationError("--status is pending, delivered, dead, held, routed or closed") }
                return v
            }
            let forwards = try await store.forwards(state: filter, limit: limit)
            let counts = try await store.outboxCounts()
            if json {
                struct Row: Encodable { let id: Int64; let forward: String; let recipient: String; let rule: String; let state: String; let attempts: Int; let lastError: String?; let deadline: Date?; let createdAt: Date }
                let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]; encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(forwards.map { Row(id: $0.id, forward: $0.publicID, recipient: $0.recipient, rule: $0.rule, state: $0.state.rawValue, attempts: $0.attempts, lastError: $0.lastError, deadline: $0.deadline, createdAt: $0.createdAt) }), as: UTF8.self))
                return
            }
            print("outbox: \(counts.pending) pending, \(counts.delivered) delivered, \(counts.dead) dead, \(counts.held) held for the LA to route")
            for f in forwards {
                print("  #\(f.id) \(f.state.rawValue) \(f.recipient) rule \(f.rule) attempts \(f.attempts)"
                      + (f.deadline.map { " deadline \(Instant.format($0))" } ?? "") + (f.lastError.map { " last error: \($0)" } ?? ""))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a dead-lettered forward (or all of them) back in the queue.")
        @OptionGroup var location: Location
        @Argument(help: "Forward id (from list); omit with --all-dead.") var id: Int64?
        @Flag(name: .customLong("all-dead")) var allDead = false

        func validate() throws {
            if (id == nil) == !allDead { throw ValidationError("give a forward id or --all-dead") }
        }

        func run() async throws {
            let store = try SQLiteStore(path: try location.databasePath())
            let operatorName = ProcessInfo.processInfo.environment["USER"] ?? "operator"
            let count = try await store.retryDead(id) { f in
                AuditEntry(time: Date(), actor: "operator:\(operatorName)", action: "forward.retry", purpose: f.purpose, policyVersion: "operator",
                           decision: .allow, rule: f.rule, subjects: [f.subjectID], requestDigest: AuditEntry.forwardReference(f.publicID),
                           detail: ["forward": f.publicID, "recipient": f.recipient])
            }
            print(count == 0 ? "no dead-lettered forward matched" : "requeued \(count) forward(s); the running gateway delivers them on its next poll")
        }
    }
}
