import Foundation
import NIOConcurrencyHelpers
import Prometheus
import SightlineStore

/// The gateway's Prometheus metrics, on a registry of its own (no global bootstrap, so tests can
/// run several gateways in one process).
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let recordsAccepted: Counter
    let recordsRejected: Counter
    let submissions: Counter
    let submissionsShed: Counter
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
    let enquiriesAsked: Counter
    let enquiriesAnswered: Counter
    let enquiriesOverdue: Counter
    let enquiriesExpired: Counter

    init() {
        recordsAccepted = registry.makeCounter(descriptor: Self.name("sightline_records_accepted_total", "Records accepted and stored"))
        recordsRejected = registry.makeCounter(descriptor: Self.name("sightline_records_rejected_total", "Records rejected by validation or policy"))
        submissions = registry.makeCounter(descriptor: Self.name("sightline_submissions_total", "Submissions committed"))
        submissionsShed = registry.makeCounter(descriptor: Self.name("sightline_submissions_shed_total", "Submissions refused with 503 because every slot was in use"))
        refusals = registry.makeCounter(descriptor: Self.name("sightline_requests_refused_total", "Requests refused for identity or role"))
        matchHits = registry.makeCounter(descriptor: Self.name("sightline_match_hits_total", "Matches that found a subject"))
        matchMisses = registry.makeCounter(descriptor: Self.name("sightline_match_misses_total", "Matches that found no subject (watch for enumeration)"))
        matchRateLimited = registry.makeCounter(descriptor: Self.name("sightline_match_rate_limited_total", "Match requests refused by the rate limit"))
        forwardsCreated = registry.makeCounter(descriptor: Self.name("sightline_forwards_created_total", "Forwards written to the outbox"))
        forwardsDelivered = registry.makeCounter(descriptor: Self.name("sightline_forwards_delivered_total", "Forwards delivered (push or acknowledged pull)"))
        forwardAttemptFailures = registry.makeCounter(descriptor: Self.name("sightline_forward_attempt_failures_total", "Failed delivery attempts"))
        forwardsDeadLettered = registry.makeCounter(descriptor: Self.name("sightline_forwards_dead_lettered_total", "Forwards dead-lettered after the policy's attempts"))
        forwardsOverdue = registry.makeCounter(descriptor: Self.name("sightline_forwards_overdue_total", "Forwards past their deadline (e.g. Encompass 08:00) before delivery"))
        enquiriesAsked = registry.makeCounter(descriptor: Self.name("sightline_enquiries_asked_total", "Enquiries partners asked of the agencies holding a child's records"))
        enquiriesAnswered = registry.makeCounter(descriptor: Self.name("sightline_enquiry_answers_total", "Answers holding agencies gave to enquiries"))
        enquiriesOverdue = registry.makeCounter(descriptor: Self.name("sightline_enquiry_answers_overdue_total", "Holders that had not answered an enquiry by its deadline"))
        enquiriesExpired = registry.makeCounter(descriptor: Self.name("sightline_enquiries_expired_total", "Enquiries that expired waiting for their second approval"))
        forwardLatency = registry.makeDurationHistogram(
            descriptor: Self.name("sightline_forward_delivery_seconds", "Time from a forward's creation to its delivery"),
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(60), .seconds(600), .seconds(3600)])
        requestDuration = registry.makeDurationHistogram(
            descriptor: Self.name("sightline_request_duration_seconds", "Time to answer an API request"),
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
                      .seconds(1), .seconds(5), .seconds(30)])
    }

    func setOutboxCounts(_ counts: OutboxCounts) {
        registry.makeGauge(descriptor: Self.name("sightline_forwards_pending", "Forwards waiting for delivery")).set(Double(counts.pending))
        registry.makeGauge(descriptor: Self.name("sightline_forwards_dead", "Dead-lettered forwards waiting for an operator's retry")).set(Double(counts.dead))
        registry.makeGauge(descriptor: Self.name("sightline_forwards_held", "Notices held for an LA team to route (GET /v1/routing)")).set(Double(counts.held))
    }

    func setCertificateExpiry(_ days: [(String, Double)]) {
        for (who, d) in days {
            registry.makeGauge(descriptor: Self.name("sightline_certificate_expiry_days", "Days until a certificate expires: the gateway's, and each participant's most recently presented"),
                               labels: [("certificate", who)]).set((d * 10).rounded() / 10)
        }
    }

    func keyRotationMigrated(kind: String, by n: Int) {
        guard n > 0 else { return }
        registry.makeCounter(descriptor: Self.name("sightline_key_rotation_migrated_total", "Stored values brought to the current key after a rotation (link: subjects; sealing: sealed values)"),
                             labels: [("kind", kind)]).increment(by: Int64(n))
    }

    func setKeyRotationPending(link: Bool, sealing: Bool) {
        for (kind, pending) in [("link", link), ("sealing", sealing)] {
            registry.makeGauge(descriptor: Self.name("sightline_key_rotation_pending", "1 while values stored under a rotated key are still being migrated"),
                               labels: [("kind", kind)]).set(Double(pending ? 1 : 0))
        }
    }

    func setStoreCounts(_ counts: StoreCounts) {
        registry.makeGauge(descriptor: Self.name("sightline_audit_entries", "Entries in the audit log")).set(Double(counts.auditEntries))
        registry.makeGauge(descriptor: Self.name("sightline_subjects", "Linked subjects (children)")).set(Double(counts.subjects))
        registry.makeGauge(descriptor: Self.name("sightline_records", "Stored pseudonymised records")).set(Double(counts.records))
    }

    /// The store's linkage work already exported, so that each scrape adds only what is new.
    private let linkageExported = NIOLockedValueBox(LinkageWork())

    /// Records linked and the candidates they were compared with, as counters (candidates per
    /// record, the ratio of their rates, should stay flat as the population grows).
    func setLinkageWork(_ work: LinkageWork) {
        let new = linkageExported.withLockedValue { exported in
            defer { exported = work }
            return work - exported
        }
        registry.makeCounter(descriptor: Self.name("sightline_linkage_records_linked_total", "Records linked")).increment(by: Int64(new.records))
        registry.makeCounter(descriptor: Self.name("sightline_linkage_candidate_subjects_total", "Candidate subjects linkage compared records with")).increment(by: Int64(new.candidateSubjects))
        registry.makeCounter(descriptor: Self.name("sightline_linkage_candidate_records_total", "Candidate records linkage compared records with")).increment(by: Int64(new.candidateRecords))
    }

    private func requests(_ status: Int) -> Counter {
        registry.makeCounter(descriptor: Self.name("sightline_requests_total", "API requests by status"), labels: [("status", String(status))])
    }

    func record(status: Int, duration: Duration) {
        requests(status).increment()
        requestDuration.record(duration)
    }

    /// A metric's full name as written (no namespace or unit parts added) and its help text.
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
