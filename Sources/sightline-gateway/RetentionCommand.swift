import ArgumentParser
import Foundation
import SightlineCore
import SightlineStore
import SightlineGateway

/// `sightline-gateway retention --dry-run`: what the next retention sweep would delete, kind by
/// kind, with the rule that decides each. Read-only; runs beside the daemon, whose
/// RetentionService does the deleting (a minute after start, then every six hours).
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say what the next retention sweep would delete (records by kind, children left with none), and why.")
    @OptionGroup var location: Forwards.Location
    @Flag(name: .customLong("dry-run"), help: "Required: the sweep itself is the daemon's.") var dryRun = false
    @Option(help: "Sweep as of this instant (ISO 8601), e.g. to see what goes next year; default now.") var at: String?

    func validate() throws {
        guard dryRun else { throw ValidationError("retention runs inside the gateway; use --dry-run to see what its next sweep deletes") }
        if let at, Instant.parse(at) == nil { throw ValidationError("--at is an ISO 8601 instant, e.g. 2027-12-01T00:00:00Z") }
    }

    func run() async throws {
        let configPath = try location.configPath()
        let config: GatewayConfig, policy: Policy
        do {
            config = try GatewayConfig.load(path: configPath)
            policy = try PolicyLoader.load(directory: config.policyDirectory)
        } catch { throw ValidationError(error.message) }
        let now = at.flatMap(Instant.parse) ?? Date()
        let store = try SQLiteStore(path: config.databasePath, readOnly: true)
        let counts = try await RetentionService.sweep(store: store, policy: policy, now: now, dryRun: true)
        print("retention as of \(Instant.format(now)) (policy \(policy.version)):")
        for rule in RetentionRules(policy: policy).rules {
            let n = counts.records[rule.kind] ?? 0
            guard rule.period != nil else {
                print("  \(rule.kind.rawValue): no purpose uses it; kept, never swept (delete its records deliberately if that is meant)")
                continue
            }
            let from = rule.endField.map { "observed, or \($0) when later," } ?? "observed"
            print("  \(rule.kind.rawValue): keep \(rule.period ?? "") (the longest of \(rule.purposes.joined(separator: ", "))); \(from) before \(Instant.format(rule.cutoff(now: now)).prefix(10)): \(n) record(s) would go")
        }
        print("\(counts.total) record(s) would be deleted; \(counts.subjects) child(ren) would be left with none and deleted with their keys and pseudonyms")
        if let audit = try await RetentionService.pruneAudit(store: store, policy: policy, now: now, dryRun: true), let period = policy.auditRetention {
            print("audit log: keep entries' content \(period); \(audit.entries) entr(ies) would lose it (their hashes stay, so every checkpoint still verifies)")
        } else {
            print("audit log: no audit-retention in the policy; kept whole")
        }
    }
}
