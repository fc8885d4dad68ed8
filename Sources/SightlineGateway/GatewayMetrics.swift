import Foundation
import Prometheus
import SightlineStore

/// The gateway's Prometheus metrics, on a registry of its own (no global bootstrap, so tests can
/// run several gateways in one process).
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let recordsAccepted: Counter
    let recordsRejected: Counter
    let submissions: Counter
    let refusals: Counter
    let requestDuration: DurationHistogram
    let matchHits: Counter
    let matchMisses: Counter
    let matchRateLimited: Counter
    let forwardsCreated: Counter
    let forwardsDelivered: Counter
    let forwardAttemptFailures: Counter
    let forwardsDeadLettered: Counter
    let forwardsOverdue: Counter
    let forwardLatency: DurationHistogram

    init() {
        recordsAccepted = registry.makeCounter(name: "sightline_records_accepted_total", help: "Records accepted and stored")
        recordsRejected = registry.makeCounter(name: "sightline_records_rejected_total", help: "Records rejected by validation or policy")
        submissions = registry.makeCounter(name: "sightline_submissions_total", help: "Submissions committed")
        refusals = registry.makeCounter(name: "sightline_requests_refused_total", help: "Requests refused for identity or role")
        matchHits = registry.makeCounter(name: "sightline_match_hits_total", help: "Matches that found a subject")
        matchMisses = registry.makeCounter(name: "sightline_match_misses_total", help: "Matches that found no subject (watch for enumeration)")
        matchRateLimited = registry.makeCounter(name: "sightline_match_rate_limited_total", help: "Match requests refused by the rate limit")
        forwardsCreated = registry.makeCounter(name: "sightline_forwards_created_total", help: "Forwards written to the outbox")
        forwardsDelivered = registry.makeCounter(name: "sightline_forwards_delivered_total", help: "Forwards delivered (push or acknowledged pull)")
        forwardAttemptFailures = registry.makeCounter(name: "sightline_forward_attempt_failures_total", help: "Failed delivery attempts")
        forwardsDeadLettered = registry.makeCounter(name: "sightline_forwards_dead_lettered_total", help: "Forwards dead-lettered after the policy's attempts")
        forwardsOverdue = registry.makeCounter(name: "sightline_forwards_overdue_total", help: "Forwards past their deadline (e.g. Encompass 08:00) before delivery")
        forwardLatency = registry.makeDurationHistogram(
            name: "sightline_forward_delivery_seconds",
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(60), .seconds(600), .seconds(3600)],
            help: "Time from a forward's creation to its delivery")
        requestDuration = registry.makeDurationHistogram(
            name: "sightline_request_duration_seconds",
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
                      .seconds(1), .seconds(5), .seconds(30)],
            help: "Time to answer an API request")
    }

    func setOutboxCounts(_ counts: OutboxCounts) {
        registry.makeGauge(name: "sightline_forwards_pending", help: "Forwards waiting for delivery").set(Double(counts.pending))
        registry.makeGauge(name: "sightline_forwards_dead", help: "Dead-lettered forwards waiting for an operator's retry").set(Double(counts.dead))
        registry.makeGauge(name: "sightline_forwards_held", help: "Notices held for an LA team to route (GET /v1/routing)").set(Double(counts.held))
    }

    func setStoreCounts(_ counts: StoreCounts) {
        registry.makeGauge(name: "sightline_audit_entries", help: "Entries in the audit log").set(Double(counts.auditEntries))
        registry.makeGauge(name: "sightline_subjects", help: "Linked subjects (children)").set(Double(counts.subjects))
        registry.makeGauge(name: "sightline_records", help: "Stored pseudonymised records").set(Double(counts.records))
    }

    private func requests(_ status: Int) -> Counter {
        registry.makeCounter(name: "sightline_requests_total", labels: [("status", String(status))], help: "API requests by status")
    }

    func record(status: Int, duration: Duration) {
        requests(status).increment()
        requestDuration.record(duration)
    }

    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
