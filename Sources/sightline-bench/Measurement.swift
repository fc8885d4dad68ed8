import Foundation

// Timing and the results table. Figures are printed, never asserted: this machine is shared
// and noisy, so a clock is evidence, not a verdict.

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Seconds taken by `body`, on the monotonic clock.
func timed(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    return (clock.now - start).seconds
}

func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    return (clock.now - start).seconds
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Nearest-rank percentile of already sorted values (p in 0...100).
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// "12,345" for counts and rates; three significant figures below 100.
func formatNumber(_ x: Double) -> String {
    guard x.isFinite else { return "n/a" }
    if abs(x) >= 100 {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.maximumFractionDigits = 0
        f.locale = Locale(identifier: "en_GB")
        return f.string(from: NSNumber(value: x.rounded())) ?? String(Int(x.rounded()))
    }
    if abs(x) >= 10 { return String(format: "%.1f", x) }
    if abs(x) >= 1 { return String(format: "%.2f", x) }
    return String(format: "%.3g", x)
}

func rate(_ x: Double, _ unit: String) -> String { "\(formatNumber(x)) \(unit)" }

/// Milliseconds from seconds.
func ms(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "n/a" }
    let v = seconds * 1000
    if v >= 100 { return "\(formatNumber(v)) ms" }
    if v >= 1 { return String(format: "%.2f ms", v) }
    return String(format: "%.3f ms", v)
}

func mebibytes(kilobytes: Int?) -> String {
    guard let kilobytes else { return "n/a" }
    return String(format: "%.0f MiB", Double(kilobytes) / 1024)
}

/// The table every run ends with: each figure beside the baseline measured in the same run.
final class ResultsTable: @unchecked Sendable {
    struct Row {
        var figure: String
        var measure: String
        var value: String
        var baseline: String
        var baselineValue: String
        var ratio: String
    }

    private(set) var rows: [Row] = []
    private(set) var notes: [String] = []
    private let lock = NSLock()

    /// `ratio` is Sightline ÷ baseline: below 1 for a rate means slower than the baseline; above 1
    /// for a time means slower too.
    func add(_ figure: String, _ measure: String, _ value: String, baseline: String = "", _ baselineValue: String = "", ratio: Double? = nil) {
        let r = ratio.map { $0.isFinite ? (abs($0) >= 100 ? "\(formatNumber($0))×" : String(format: "%.3g×", $0)) : "n/a" } ?? ""
        lock.lock(); rows.append(Row(figure: figure, measure: measure, value: value, baseline: baseline, baselineValue: baselineValue, ratio: r)); lock.unlock()
        print("  → [\(figure)] \(measure): \(value)" + (baseline.isEmpty ? "" : "   | \(baseline): \(baselineValue)   | ratio \(r)"))
    }

    func note(_ text: String) {
        lock.lock(); notes.append(text); lock.unlock()
        print("  note: \(text)")
    }

    func markdown() -> String {
        var out = "| # | measure | Sightline | baseline (same run) | baseline | ratio |\n|---|---|---:|---|---:|---:|\n"
        for r in rows {
            out += "| \(r.figure) | \(r.measure) | \(r.value) | \(r.baseline) | \(r.baselineValue) | \(r.ratio) |\n"
        }
        if !notes.isEmpty {
            out += "\n" + notes.map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        return out
    }
}

func section(_ title: String) {
    print("\n== \(title)   [load average \(loadAverage())]")
}

/// The 1-, 5- and 15-minute load averages: others share this machine, and a figure taken under
/// load says so.
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Latencies and outcome counts of a closed-loop load phase.
struct LoadResult {
    var latencies: [Double] = []
    var byStatus: [Int: [Double]] = [:]
    var errors: [String] = []
    var wall: Double = 0

    var count: Int { latencies.count }
    var perSecond: Double { Double(count) / wall }

    func p(_ q: Double, status: Int? = nil) -> Double {
        percentile((status.map { byStatus[$0] ?? [] } ?? latencies).sorted(), q)
    }

    mutating func merge(_ other: LoadResult) {
        latencies += other.latencies
        for (k, v) in other.byStatus { byStatus[k, default: []] += v }
        errors += other.errors
    }
}
