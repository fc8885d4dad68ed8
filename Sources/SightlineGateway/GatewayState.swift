import Foundation
import Logging
import NIOConcurrencyHelpers
import SightlineCore
import SightlineStore

/// Everything a request handler needs, built once at start. The participants file can be
/// swapped at run time (SIGHUP); everything else is fixed for the life of the process.
public final class GatewayState: Sendable {
    public let config: GatewayConfig
    public let policy: Policy
    public let store: any SightlineStore
    public let pseudonymiser: Pseudonymiser
    public let sealer: Sealer
    /// Keyed digests of what agencies send (bodies, idempotency keys) for the audit log and logs.
    public let digester: RequestDigester
    /// The core matcher with the policy's weights, and how the store opens sealed material.
    public let linkage: LinkageContext
    /// Signs audit checkpoints with the key file's audit key (never exposed beyond it).
    public let checkpoints: CheckpointSigner
    public let metrics: GatewayMetrics
    public let logger: Logger
    private let registry: NIOLockedValueBox<ParticipantRegistry>
    /// Injected clock, so tests can fix "now".
    let now: @Sendable () -> Date
    let matchLimiter: RateLimiter
    let enquiryLimiter: RateLimiter
    /// Slots for submissions in flight, overall and per participant.
    let submissionAdmission: SubmissionAdmission
    /// Days until the gateway's and the participants' certificates expire (metrics, log warnings).
    let certificateExpiry: CertificateExpiryWatch
    /// Rung when a submission commits forwards, so they leave at once rather than at the next poll.
    let forwardDoorbell = ForwardDoorbell()
    /// Repeated refusals become one counted entry (see RefusalCoalescer); CheckpointService
    /// writes closed windows and, at shutdown, whatever is still counted.
    let refusals: RefusalLog

    public init(config: GatewayConfig, store: any SightlineStore, keys: KeyMaterial, policy: Policy,
                participants: ParticipantRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.policy = policy
        self.store = store
        self.pseudonymiser = Pseudonymiser(keys: keys)
        self.sealer = Sealer(keys: keys)
        self.digester = RequestDigester(keys: keys)
        let sealer = self.sealer
        self.linkage = LinkageContext(matcher: SubjectMatcher(model: policy.linkage),
                                      openMaterial: { sealed in (try? sealer.open(sealed)).flatMap { ComparisonMaterial(encoded: $0) } })
        self.checkpoints = CheckpointSigner(store: store, signingKey: keys.auditSigningKey,
                                            origin: config.audit.origin(trustDomain: participants.trustDomain), now: now)
        self.metrics = GatewayMetrics()
        self.logger = logger
        self.registry = NIOLockedValueBox(participants)
        self.now = now
        self.matchLimiter = RateLimiter(perMinute: config.limits.matchesPerMinute, burst: config.limits.matchBurst, now: now)
        self.enquiryLimiter = RateLimiter(perMinute: config.limits.enquiriesPerMinute, burst: config.limits.enquiryBurst, now: now)
        self.certificateExpiry = CertificateExpiryWatch(gatewayCertificatePEM: config.tls.certificate, logger: logger, now: now)
        self.submissionAdmission = SubmissionAdmission(overall: config.limits.maxConcurrentSubmissions,
                                                       perParticipant: config.limits.maxConcurrentSubmissionsPerParticipant)
        self.refusals = RefusalLog(RefusalCoalescer(policyVersion: policy.version))
    }

    private let listening = NIOLockedValueBox(false)
    /// True once the API listener accepts connections: /readyz says ready only then.
    public var isListening: Bool { listening.withLockedValue { $0 } }
    func markListening() { listening.withLockedValue { $0 = true } }

    public var participants: ParticipantRegistry { registry.withLockedValue { $0 } }

    /// Re-reads the participants file. On error the current list stays in force.
    public func reloadParticipants() throws(SightlineError) {
        let fresh = try ParticipantRegistry.load(path: config.participantsPath)
        registry.withLockedValue { $0 = fresh }
        logger.notice("participants reloaded", metadata: ["participants": "\(fresh.participants.count)"])
    }

    /// The digest an audit entry keeps of a request without a body (method and path only: a path
    /// can carry a pseudonym, never an identifier).
    func requestDigest(_ method: String, _ path: String) -> String {
        digester.digest("request-line", text: "\(method) \(path)")
    }

    /// Records a refused request in the audit log: at once if it is the actor's first of its
    /// kind, else counted into one entry (RefusalCoalescer). The metric counts every refusal.
    /// `rule`, `reason` and `purpose` are the gateway's own strings, never the client's text.
    /// Failure to audit is logged, never silent.
    func auditRefusal(actor: String, action: String, rule: String, reason: String, requestDigest: String, purpose: String? = nil) async {
        metrics.refusals.increment()
        let kind = RefusalCoalescer.Kind(action: action, rule: rule, purpose: purpose, reason: reason)
        await appendRefusals(refusals.record(.init(actor: actor, kind: kind, requestDigest: requestDigest, at: now())))
    }

    /// Writes the refusals counted in windows that have closed, or all of them (`all`, at shutdown).
    func flushRefusals(all: Bool = false) async {
        await appendRefusals(all ? refusals.flushAll() : refusals.closeWindows(at: now()))
    }

    private func appendRefusals(_ entries: [AuditEntry]) async {
        for entry in entries {
            do { try await store.appendAudit(entry) } catch {
                logger.error("could not append audit entry for a refusal", metadata: ["rule": "\(entry.rule)", "refusals": "\(entry.counts["refusals"] ?? 0)"])
            }
        }
    }
}
