import ArgumentParser
import Foundation
import SightlineCore
import SightlineStore

/// `sightline-gateway linkage estimate`: m and u estimated from the gateway's own records, set
/// beside the policy's figures, as a proposal for Policies/linkage.yaml. Read-only; runs beside
/// the daemon (SQLite allows a second reader).
struct Linkage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Linkage model tools: estimate m and u from the stored records (EM, as Splink does).",
        subcommands: [Estimate.self])

    struct Estimate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Estimate each field's m and u from the stored records: u from random pairs, m by expectation-maximisation over blocked pairs.",
            discussion: """
                Prints, per field and level, the policy's m, u and weight beside the estimate and how many pairs showed the \
                level. With --out, writes the estimate as a linkage.yaml (the policy's thresholds and term-frequency \
                minimums kept) for review: the gateway keeps using its policy until a person replaces the file.
                """)
        @OptionGroup var location: Forwards.Location
        @Option(name: .customLong("subject-pairs"), help: "At most this many pairs of subjects that share a blocking key.") var subjectPairs = 50_000
        @Option(name: .customLong("random-pairs"), help: "Record pairs drawn at random, for u.") var randomPairs = 20_000
        @Option(help: "Write the estimate as a linkage.yaml here.") var out: String?

        func run() async throws {
            let configPath = try location.configPath()
            let gatewayConfig: GatewayConfig, keys: KeyMaterial, policy: Policy
            do {
                gatewayConfig = try GatewayConfig.load(path: configPath)
                keys = try KeyMaterial.load(from: gatewayConfig.keysPath)
                policy = try PolicyLoader.load(directory: gatewayConfig.policyDirectory)
            } catch { throw ValidationError(error.message) }
            let store = try SQLiteStore(path: gatewayConfig.databasePath, readOnly: true)
            let sealer = Sealer(keys: keys)
            let matcher = SubjectMatcher(model: policy.linkage)
            let pairs = try await store.linkageTrainingPairs(
                matcher: matcher, open: { sealed in (try? sealer.open(sealed)).flatMap { ComparisonMaterial(encoded: $0) } },
                maxSubjectPairs: subjectPairs, randomPairs: randomPairs)
            guard pairs.blocked.count >= 100, pairs.random.count >= 100 else {
                throw ValidationError("too few records to estimate from (\(pairs.blocked.count) blocked and \(pairs.random.count) random pairs; at least 100 of each)")
            }
            let estimate = LinkageEstimator(start: policy.linkage).estimate(blocked: pairs.blocked, random: pairs.random)
            print("\(estimate.blockedPairs) blocked pairs, \(estimate.randomPairs) random pairs; EM \(estimate.iterations) iterations"
                  + "\(estimate.converged ? "" : " (NOT converged)"); matches \(String(format: "%.1f", estimate.lambda * 100))% of blocked pairs")
            print("field        level       policy m    u          weight | estimate m  u          weight | pairs blocked/random")
            for field in ComparisonField.allCases {
                for level in field.levels {
                    let p = policy.linkage.fields[field]?.levels[level]
                    let m = estimate.m[field]?[level] ?? 0, u = estimate.u[field]?[level] ?? 0
                    let seen = estimate.seen[field]?[level] ?? (0, 0)
                    func f(_ v: Double?) -> String { v.map { String(format: "%-10.4g", $0) } ?? "-         " }
                    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
                    print(pad(field.rawValue, 12) + " " + pad(level.rawValue, 11) + " " + "\(f(p?.m)) \(f(p?.u)) \(String(format: "%6.1f", p?.weight ?? .nan)) | "
                          + "\(f(m)) \(f(u)) \(String(format: "%6.1f", log2(m / u))) | \(seen.blocked)/\(seen.random)")
                }
            }
            if let out {
                let text = estimate.yaml(keeping: policy.linkage, source: "by `sightline-gateway linkage estimate` on \(Instant.format(Date()).prefix(10))")
                try Data(text.utf8).write(to: URL(fileURLWithPath: out))
                print("wrote \(out): review it against Policies/linkage.yaml's reasons before it replaces them")
            }
        }
    }
}
