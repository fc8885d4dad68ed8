import Foundation
import Logging
import NIOConcurrencyHelpers
import SightlineCore
import SightlineStore

/// What the key file's keys make, built together so that they always agree.
struct KeyedServices: Sendable {
    let keys: KeyMaterial
    let pseudonymiser: Pseudonymiser
    let sealer: Sealer
    let digester: RequestDigester

    init(keys: KeyMaterial, migratingLink: Bool) {
        self.keys = keys
        pseudonymiser = Pseudonymiser(keys: keys, lookUpLegacyForms: migratingLink)
        sealer = Sealer(keys: keys)
        digester = RequestDigester(keys: keys)
    }
}

/// Everything a request handler needs, built once at start. The participants file can be
/// swapped at run time (SIGHUP); everything else is fixed for the life of the process.
public final class GatewayState: Sendable {
    public let config: GatewayConfig
    public let policy: Policy
    public let store: any SightlineStore
    /// Everything made from the key file, swapped together when a rotated key file is loaded
    /// (SIGHUP). A request reads each when it needs it; a submission keyed under a link key
    /// that changed before it committed is refused by the store and retried by the client.
    private let keyed: NIOLockedValueBox<KeyedServices>
    public var keys: KeyMaterial { keyed.withLockedValue { $0.keys } }
    public var pseudonymiser: Pseudonymiser { keyed.withLockedValue { $0.pseudonymiser } }
    public var sealer: Sealer { keyed.withLockedValue { $0.sealer } }
    /// Keyed digests of what agencies send (bodies, idempotency keys) for the audit log and logs.
    public var digester: RequestDigester { keyed.withLockedValue { $0.digester } }
    /// The core matcher with the policy's weights, and how the store opens sealed material
    /// (always with the sealer in force, which opens under retired sealing keys too).
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
    /// Rung when a rotated key file is put in force, so its migration starts at once.
    let keyRotationDoorbell = ForwardDoorbell()
    private let linkMigratingBox = NIOLockedValueBox(false)
    /// Subjects a link migration batch wraps (0 holds the migration: tests look at the state in between).
    let keyMigrationBatch = NIOLockedValueBox(200)
    /// True while subjects remain in the form before the last link rotation.
    var linkMigrating: Bool {
        get { linkMigratingBox.withLockedValue { $0 } }
        set { linkMigratingBox.withLockedValue { $0 = newValue } }
    }
    /// Repeated refusals become one counted entry (see RefusalCoalescer); CheckpointService
    /// writes closed windows and, at shutdown, whatever is still counted.
    let refusals: RefusalLog

    public init(config: GatewayConfig, store: any SightlineStore, keys: KeyMaterial, policy: Policy,
                participants: ParticipantRegistry, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.policy = policy
        self.store = store
        let keyed = NIOLockedValueBox(KeyedServices(keys: keys, migratingLink: false))
        self.keyed = keyed
        self.linkage = LinkageContext(matcher: SubjectMatcher(model: policy.linkage), openMaterial: { sealed in
            (try? keyed.withLockedValue { $0.sealer }.open(sealed)).flatMap { ComparisonMaterial(encoded: $0) }
        })
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

    /// The last verification of the audit log the console ran: when, whether it held, its report.
    struct LogVerification: Sendable { var at: Date; var ok: Bool?; var text: String }
    let lastLogVerification = NIOLockedValueBox<LogVerification?>(nil)

    private let keysResumedBox = NIOLockedValueBox(false)
    /// True once KeyRotationService has made the database's key record agree with the key file
    /// (`resumeKeyRotations`): until then the API answers 503 and /readyz says not ready.
    public var keysResumed: Bool { keysResumedBox.withLockedValue { $0 } }
    func markKeysResumed() { keysResumedBox.withLockedValue { $0 = true } }

    private let listening = NIOLockedValueBox(false)
    /// True once the API listener accepts connections: /readyz says ready only then.
    public var isListening: Bool { listening.withLockedValue { $0 } }
    func markListening() { listening.withLockedValue { $0 = true } }

    public var participants: ParticipantRegistry { registry.withLockedValue { $0 } }

    /// Requests in flight by the key epoch they began in; the epoch goes up each time keys change.
    private struct Epochs { var current = 0; var inFlight: [Int: Int] = [:] }
    private let epochs = NIOLockedValueBox(Epochs())

    func enterRequest() -> Int {
        epochs.withLockedValue { e in e.inFlight[e.current, default: 0] += 1; return e.current }
    }

    func leaveRequest(_ epoch: Int) {
        epochs.withLockedValue { e in
            e.inFlight[epoch, default: 1] -= 1
            if e.inFlight[epoch] == 0 { e.inFlight[epoch] = nil }
        }
    }

    /// True while a request that began under earlier keys is still running: it may yet write a
    /// value sealed under the old sealing key.
    var requestsUnderEarlierKeys: Bool {
        epochs.withLockedValue { e in e.inFlight.keys.contains { $0 < e.current } }
    }

    /// Once the link migration is complete: the keys in force, without legacy lookups. Rebuilt
    /// under the lock from whatever keys are in force now, so that a reload meanwhile is kept.
    func stopLookingUpLegacyLinkForms() {
        keyed.withLockedValue { $0 = KeyedServices(keys: $0.keys, migratingLink: false) }
    }

    /// Puts rotated keys in force (after `KeyMaterial.rotations(to:)` accepted them).
    /// `migratingLink`: subjects remain in the form before the last link rotation, so lookups ask for both forms.
    func useKeys(_ keys: KeyMaterial, migratingLink: Bool) {
        keyed.withLockedValue { $0 = KeyedServices(keys: keys, migratingLink: migratingLink) }
        epochs.withLockedValue { $0.current += 1 }
    }

    /// Re-reads the participants file. On error the current list stays in force.
    public func reloadParticipants() throws(SightlineError) {
        let fresh = try ParticipantRegistry.load(path: config.participantsPath)
        registry.withLockedValue { $0 = fresh }
        logger.notice("participants reloaded", metadata: ["participants": "\(fresh.participants.count)"])
    }

    /// The pseudonyms `recipient` sees for `subjects`: computed from the recipient key, except
    /// that after a recipient key rotation a child it already knows keeps its earlier pseudonym.
    func pseudonyms(for subjects: [Int64], recipient: ParticipantIdentity) async throws -> [Int64: String] {
        let p = pseudonymiser
        let issued = p.recipientKeyRotated ? try await store.issuedPseudonyms(recipient: recipient.shortName, subjects: subjects) : [:]
        var out: [Int64: String] = [:]
        for s in subjects { out[s] = p.stablePseudonym(subjectID: s, recipient: recipient, issued: issued[s] ?? []) }
        return out
    }

    func pseudonym(for subject: Int64, recipient: ParticipantIdentity) async throws -> String {
        try await pseudonyms(for: [subject], recipient: recipient)[subject]!
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
