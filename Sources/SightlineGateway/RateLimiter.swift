import Foundation
import NIOConcurrencyHelpers

/// A token bucket per participant: `burst` requests at once, refilled at `perMinute`. Stops a
/// partner enumerating children through /v1/match; time is injected for tests.
final class RateLimiter: Sendable {
    let perMinute: Double
    let burst: Double
    private let buckets = NIOLockedValueBox<[String: (tokens: Double, at: Date)]>([:])
    private let now: @Sendable () -> Date

    init(perMinute: Int, burst: Int, now: @escaping @Sendable () -> Date) {
        self.perMinute = Double(perMinute); self.burst = Double(burst); self.now = now
    }

    /// True if `key` may proceed now (and spends a token).
    func allow(_ key: String) -> Bool {
        let t = now()
        return buckets.withLockedValue { buckets in
            var b = buckets[key] ?? (burst, t)
            b.tokens = min(burst, b.tokens + t.timeIntervalSince(b.at) * perMinute / 60)
            b.at = t
            guard b.tokens >= 1 else { buckets[key] = b; return false }
            b.tokens -= 1
            buckets[key] = b
            return true
        }
    }
}
