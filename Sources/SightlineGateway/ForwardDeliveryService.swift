import Foundation
import NIOConcurrencyHelpers
import Logging
import ServiceLifecycle
import SightlineCore
import SightlineStore

/// Delivers the outbox: oldest pending forward per recipient first, over mTLS to the endpoint in
/// the participants file, with exponential backoff and jitter; dead-letters after the policy's
/// number of attempts; reports forwards that miss their deadline. A Service of the gateway's
/// ServiceGroup: on SIGTERM it finishes the attempts in flight and stops.
struct ForwardDeliveryService: Service {
    let state: GatewayState
    let transport: ForwardTransport

    var settings: GatewayConfig.Forwarding { state.config.forwarding }

    func run() async throws {
        // Cancellation too ends the loop: a cancelled sleep returns at once, so ignoring it would spin.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let delivered = await deliverDue()
            await reportOverdue()
            // Counted as a request: the sweep seals notices, and a sealing migration waits for it.
            let epoch = state.enterRequest()
            await EnquirySweep(state: state).run()
            state.leaveRequest(epoch)
            // Each pass sends only the oldest forward per recipient (ordering); after a pass that
            // delivered something, go straight on to the next rather than wait for the poll.
            if delivered > 0 { continue }
            await state.forwardDoorbell.wait(upTo: .milliseconds(settings.pollIntervalMilliseconds))
        }
    }

    /// One pass over the recipients; returns how many forwards were delivered.
    func deliverDue() async -> Int {
        let due: [StoredForward]
        do { due = try await state.store.dueForwards(now: state.now(), limit: 64) } catch {
            state.logger.error("could not read the outbox", metadata: ["error.type": "\(type(of: error))"])
            return 0
        }
        return await withTaskGroup(of: Bool.self) { group in
            for forward in due { group.addTask { await deliver(forward) } }
            var delivered = 0
            for await ok in group where ok { delivered += 1 }
            return delivered
        }
    }

    func audit(_ f: StoredForward, action: String, decision: PolicyDecision.Effect, detail: [String: String]) -> AuditEntry {
        var detail = detail
        detail["forward"] = f.publicID
        detail["recipient"] = f.recipient
        return AuditEntry(time: state.now(), actor: "gateway", action: action, purpose: f.purpose, policyVersion: state.policy.version,
                          decision: decision, rule: f.rule, subjects: [f.subjectID], requestDigest: AuditEntry.forwardReference(f.publicID), detail: detail)
    }

    @discardableResult
    func deliver(_ f: StoredForward) async -> Bool {
        let participants = state.participants
        guard let identity = ParticipantIdentity(uri: "spiffe://\(participants.trustDomain)/\(f.recipient)"),
              case .active(let participant) = participants.lookup(identity) else {
            // A recipient removed (or suspended) while forwards were queued receives nothing;
            // the forward is dead-lettered, visible, and can be retried once the recipient is back.
            await record(f, .dead(error: "recipient is not an active participant"), action: "forward.dead", decision: .deny, attempt: f.attempts + 1)
            return false
        }
        guard let endpoint = participant.endpoint else { return false }  // pull-only recipient: stays in its inbox
        let attempt = f.attempts + 1
        do {
            let payload = try state.sealer.open(f.sealedPayload)
            let status = try await transport.post(endpoint: endpoint, body: payload, idempotencyKey: f.publicID, recipient: identity)
            if (200..<300).contains(status) {
                let now = state.now()
                state.metrics.forwardsDelivered.increment()
                state.metrics.forwardLatency.record(.milliseconds(Int64(max(0, now.timeIntervalSince(f.createdAt)) * 1000)))
                await record(f, .delivered(at: now), action: "forward.delivered", decision: .allow, attempt: attempt)
                return true
            }
            await failed(f, "HTTP \(status)", attempt: attempt)
        } catch {
            await failed(f, "\(error)".prefix(200).description, attempt: attempt)
        }
        return false
    }

    func failed(_ f: StoredForward, _ error: String, attempt: Int) async {
        state.metrics.forwardAttemptFailures.increment()
        if attempt >= state.policy.forwarding.maxAttempts {
            state.metrics.forwardsDeadLettered.increment()
            state.logger.warning("forward dead-lettered", metadata: ["forward": "\(f.publicID)", "recipient": "\(f.recipient)", "attempts": "\(attempt)"])
            await record(f, .dead(error: error), action: "forward.dead", decision: .deny, attempt: attempt)
            return
        }
        let retryAt = state.now().addingTimeInterval(backoff(attempt: attempt))
        await record(f, .failed(error: error, retryAt: retryAt), action: "forward.attempt-failed", decision: .deny, attempt: attempt)
    }

    /// base * 2^(attempt-1), capped, with full jitter in [0.5, 1.0] of that so that recipients
    /// coming back up are not hit by every gateway at the same instant.
    func backoff(attempt: Int) -> TimeInterval {
        let base = Double(settings.baseDelayMilliseconds) / 1000
        let capped = min(Double(settings.maxDelaySeconds), base * pow(2, Double(attempt - 1)))
        return capped * Double.random(in: 0.5...1.0)
    }

    func record(_ f: StoredForward, _ outcome: ForwardAttemptOutcome, action: String, decision: PolicyDecision.Effect, attempt: Int) async {
        var detail = ["attempt": String(attempt)]
        switch outcome {
        case .failed(let error, _), .dead(let error): detail["error"] = error
        case .delivered: break
        }
        do { try await state.store.recordAttempt(f.id, outcome: outcome, audit: audit(f, action: action, decision: decision, detail: detail)) } catch {
            state.logger.error("could not record a forward attempt", metadata: ["forward": "\(f.publicID)"])
        }
    }

    func reportOverdue() async {
        guard let overdue = try? await state.store.overdueForwards(now: state.now()) else { return }
        for f in overdue {
            state.metrics.forwardsOverdue.increment()
            state.logger.warning("forward overdue", metadata: ["forward": "\(f.publicID)", "rule": "\(f.rule)", "recipient": "\(f.recipient)"])
            try? await state.store.markOverdue(f.id, audit: audit(f, action: "forward.overdue", decision: .deny,
                                                                  detail: ["deadline": f.deadline.map(Instant.format) ?? ""]))
        }
    }
}

/// Wakes the delivery service as soon as a submission commits forwards, instead of waiting for
/// its next poll; the poll stays as the safety net (retries, restarts, missed rings).
final class ForwardDoorbell: Sendable {
    private struct Bell { var rung = false; var sleeper: Task<Void, Never>? }
    private let bell = NIOLockedValueBox(Bell())

    func ring() {
        bell.withLockedValue { b in
            b.rung = true
            b.sleeper?.cancel()
        }
    }

    /// Returns after `duration`, when rung, or on graceful shutdown, whichever is first.
    func wait(upTo duration: Duration) async {
        let sleeper: Task<Void, Never>? = bell.withLockedValue { b in
            if b.rung { b.rung = false; return nil }
            let t = Task<Void, Never> { _ = try? await Task.sleep(for: duration) }
            b.sleeper = t
            return t
        }
        guard let sleeper else { return }
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler { await sleeper.value } onCancel: { sleeper.cancel() }
        }
        bell.withLockedValue { b in b.sleeper = nil; b.rung = false }
    }
}
