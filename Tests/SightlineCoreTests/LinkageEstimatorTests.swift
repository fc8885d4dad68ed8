import Foundation
import Testing
@testable import SightlineCore

/// EM must recover m, u and the share of matches from pairs drawn from a known model, and the
/// proposal it writes must load as a linkage policy.
@Suite("Linkage estimation (EM)")
struct LinkageEstimatorTests {
    /// Draws from MalformedRecordFuzzTests' SplitMix64, so the test is the same every run.
    struct Draws {
        var generator: MalformedRecordFuzzTests.SeededGenerator
        init(state: UInt64) { generator = .init(state: state) }
        mutating func next() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
        mutating func level(_ probabilities: [(ComparisonLevel, Double)]) -> ComparisonLevel {
            var r = next()
            for (l, p) in probabilities { if r < p { return l }; r -= p }
            return probabilities.last!.0
        }
    }

    static let trueM: [ComparisonField: [(ComparisonLevel, Double)]] = [
        .givenName: [(.exact, 0.80), (.close, 0.10), (.different, 0.10)],
        .familyName: [(.exact, 0.85), (.close, 0.10), (.different, 0.05)],
        .dateOfBirth: [(.exact, 0.90), (.oneDigit, 0.05), (.different, 0.05)],
        .postcode: [(.exact, 0.70), (.sector, 0.20), (.different, 0.10)],
    ]
    static let trueU: [ComparisonField: [(ComparisonLevel, Double)]] = [
        .givenName: [(.exact, 0.02), (.close, 0.01), (.different, 0.97)],
        .familyName: [(.exact, 0.01), (.close, 0.01), (.different, 0.98)],
        .dateOfBirth: [(.exact, 0.01), (.oneDigit, 0.03), (.different, 0.96)],
        .postcode: [(.exact, 0.01), (.sector, 0.05), (.different, 0.94)],
    ]

    func vector(_ table: [ComparisonField: [(ComparisonLevel, Double)]], _ draws: inout Draws) -> LinkageEstimator.Vector {
        var v: LinkageEstimator.Vector = [:]
        for (field, levels) in table { v[field] = draws.level(levels) }
        return v
    }

    @Test("recovers m, u and lambda from pairs drawn from a known model")
    func recoversAKnownModel() throws {
        let policy = try PolicyLoader.load(directory: Fixture.policiesDirectory.path)
        var draws = Draws(state: 20261201)
        var blocked: [LinkageEstimator.Vector] = []
        for _ in 0..<20_000 { blocked.append(vector(draws.next() < 0.3 ? Self.trueM : Self.trueU, &draws)) }
        let random = (0..<20_000).map { _ in vector(Self.trueU, &draws) }
        let e = LinkageEstimator(start: policy.linkage).estimate(blocked: blocked, random: random)
        #expect(e.converged)
        #expect(abs(e.lambda - 0.3) < 0.02, "lambda \(e.lambda)")
        for (field, levels) in Self.trueM {
            for (level, m) in levels { #expect(abs((e.m[field]?[level] ?? 0) - m) < 0.03, "m \(field) \(level): \(e.m[field]?[level] ?? 0) for \(m)") }
        }
        for (field, levels) in Self.trueU {
            for (level, u) in levels { #expect(abs((e.u[field]?[level] ?? 0) - u) < 0.01, "u \(field) \(level)") }
        }
        // Fields no pair showed keep the policy's figures.
        #expect(e.m[.uprn]?[.exact] == policy.linkage.fields[.uprn]?.levels[.exact]?.m)
        // The proposal is a linkage policy the gateway can load, thresholds kept.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("estimate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("linkage.yaml").path
        try Data(e.yaml(keeping: policy.linkage, source: "in a test").utf8).write(to: URL(fileURLWithPath: path))
        let loaded = try LinkageModel.load(YAMLFile(path: path, code: .policy))
        #expect(loaded.join == policy.linkage.join && loaded.review == policy.linkage.review)
        let w = loaded.weight(.dateOfBirth, .exact)
        #expect(abs(w - log2(0.90 / 0.01)) < 0.2, "dob exact weighs \(w)")
    }
}
