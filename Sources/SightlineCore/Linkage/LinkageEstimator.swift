import Foundation

/// Estimates a linkage model's m and u probabilities from the data, as Splink does: u from pairs
/// of records drawn at random (almost all of them two different children), then m and the share
/// of matches by expectation–maximisation over the pairs blocking brings together, with u held.
/// The result is a proposal for Policies/linkage.yaml, for people to read before it is used:
/// nothing here changes how the gateway links.
public struct LinkageEstimator: Sendable {
    /// One record pair's agreement level per field (fields either record lacks are left out).
    public typealias Vector = [ComparisonField: ComparisonLevel]

    public struct Estimate: Sendable {
        public var m: [ComparisonField: [ComparisonLevel: Double]]
        public var u: [ComparisonField: [ComparisonLevel: Double]]
        /// The share of blocked pairs that are matches.
        public var lambda: Double
        public var iterations: Int
        public var converged: Bool
        public var blockedPairs: Int
        public var randomPairs: Int
        /// How many pairs showed each level (blocked, random): the evidence behind each figure.
        public var seen: [ComparisonField: [ComparisonLevel: (blocked: Int, random: Int)]]
    }

    public let start: LinkageModel
    public var maxIterations = 200
    public var tolerance = 1e-5
    /// Added to every count, so a level no pair showed gets a small probability, never 0.
    public var smoothing = 0.5

    public init(start: LinkageModel) { self.start = start }

    public func estimate(blocked: [Vector], random: [Vector]) -> Estimate {
        var seen: [ComparisonField: [ComparisonLevel: (blocked: Int, random: Int)]] = [:]
        for v in blocked { for (f, l) in v where l != .missing { seen[f, default: [:]][l, default: (0, 0)].blocked += 1 } }
        for v in random { for (f, l) in v where l != .missing { seen[f, default: [:]][l, default: (0, 0)].random += 1 } }
        // u: how often each level turns up between records chosen at random.
        var u: [ComparisonField: [ComparisonLevel: Double]] = [:]
        for field in ComparisonField.allCases {
            let counts = field.levels.map { Double(seen[field]?[$0]?.random ?? 0) + smoothing }
            let total = counts.reduce(0, +)
            u[field] = Dictionary(uniqueKeysWithValues: zip(field.levels, counts.map { $0 / total }))
        }
        // m: from the policy's figures, renormalised over the levels, then EM.
        var m: [ComparisonField: [ComparisonLevel: Double]] = [:]
        for field in ComparisonField.allCases {
            let values = field.levels.map { start.fields[field]?.levels[$0]?.m ?? 0.01 }
            let total = values.reduce(0, +)
            m[field] = Dictionary(uniqueKeysWithValues: zip(field.levels, values.map { $0 / total }))
        }
        var lambda = 0.5
        var iterations = 0
        var converged = false
        var posterior = [Double](repeating: 0, count: blocked.count)
        while iterations < maxIterations {
            iterations += 1
            // E: the probability that each pair is a match, given the current m, u and lambda.
            for (i, v) in blocked.enumerated() {
                var logRatio = log(lambda) - log(1 - lambda)
                for (f, l) in v where l != .missing {
                    guard let mv = m[f]?[l], let uv = u[f]?[l] else { continue }  // a level the field does not have
                    logRatio += log(mv) - log(uv)
                }
                posterior[i] = logRatio > 40 ? 1 : logRatio < -40 ? 0 : 1 / (1 + exp(-logRatio))
            }
            // M: m from the matches' expected counts; lambda their share.
            var change = 0.0
            var next: [ComparisonField: [ComparisonLevel: Double]] = [:]
            for field in ComparisonField.allCases {
                var counts = [ComparisonLevel: Double](uniqueKeysWithValues: field.levels.map { ($0, smoothing * 1e-3) })
                for (i, v) in blocked.enumerated() { if let l = v[field], l != .missing { counts[l, default: 0] += posterior[i] } }
                let total = counts.values.reduce(0, +)
                let updated = counts.mapValues { $0 / total }
                for l in field.levels { change = max(change, abs((updated[l] ?? 0) - (m[field]?[l] ?? 0))) }
                next[field] = updated
            }
            m = next
            let newLambda = min(max(posterior.reduce(0, +) / Double(max(1, blocked.count)), 1e-6), 1 - 1e-6)
            change = max(change, abs(newLambda - lambda))
            lambda = newLambda
            if change < tolerance { converged = true; break }
        }
        // A field no pair showed (no agency sends it yet) keeps the policy's figures: there is nothing to estimate from.
        for field in ComparisonField.allCases where seen[field] == nil {
            if let f = start.fields[field] {
                m[field] = f.levels.mapValues(\.m)
                u[field] = f.levels.mapValues(\.u)
            }
        }
        return Estimate(m: m, u: u, lambda: lambda, iterations: iterations, converged: converged,
                        blockedPairs: blocked.count, randomPairs: random.count, seen: seen)
    }
}

extension LinkageEstimator.Estimate {
    /// The estimate as the `fields:` part of Policies/linkage.yaml: each level's m and u, with a
    /// reason saying where the figures came from. Term-frequency minimums are kept from `model`.
    public func yaml(keeping model: LinkageModel, source: String) -> String {
        var out = """
        # Estimated \(source): u from \(randomPairs) record pairs drawn at random, m by
        # expectation-maximisation over \(blockedPairs) blocked pairs (\(iterations) iterations\(converged ? "" : ", not converged"),
        # matches about \(String(format: "%.1f", lambda * 100))% of them). A proposal: read it against the policy's reasons before use.
        thresholds:
          join: \(Self.number(model.join))
          review: \(Self.number(model.review))
        fields:

        """
        func figure(_ v: Double) -> String { String(format: "%.6g", min(max(v, 1e-6), 0.999999)) }
        for field in ComparisonField.allCases {
            out += "  \(field.rawValue):\n"
            if seen[field] == nil, let f = model.fields[field] {
                out += "    reason: >-\n      No stored pair showed this field: the policy's figures, kept. \(f.reason)\n"
            } else {
                out += "    reason: >-\n      Estimated from the gateway's own records (\(source)); counts per level (blocked/random): "
                out += field.levels.map { "\($0.rawValue) \(seen[field]?[$0]?.blocked ?? 0)/\(seen[field]?[$0]?.random ?? 0)" }.joined(separator: ", ") + ".\n"
            }
            if let f = model.fields[field], f.termFrequency { out += "    term-frequency-min-u: \(Self.number(f.minimumU))\n" }
            for level in field.levels {
                out += "    \(level.rawValue): {m: \(figure(m[field]?[level] ?? 0)), u: \(figure(u[field]?[level] ?? 0))}\n"
            }
            if field == .address {
                let w = model.addressWithinPostcode
                out += "    \(LinkageModel.withinPostcodeKey): {m: \(figure(w.m)), u: \(figure(w.u))}   # the policy's, not estimated\n"
            }
        }
        return out
    }

    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
