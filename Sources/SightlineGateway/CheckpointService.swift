import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SightlineCore
import SightlineStore

/// Signs checkpoints of the audit log with the key file's Ed25519 audit key and stores them.
/// The periodic signer and on-demand requests share it; two requests racing at the same size
/// may both sign, which only stores two valid checkpoints of the same tree.
///
/// The key changes only through `rotate`, which keeps one rule an auditor's check relies on:
/// every checkpoint by the old key covers at most the tree the new key first signs, and every
/// checkpoint by the new key at least that tree. Signing waits while a rotation runs.
public actor CheckpointSigner {
    let store: any SightlineStore
    private var signingKey: Curve25519.Signing.PrivateKey
    /// The log's name: the first line of every checkpoint, and the key name (C2SP asks for both to match).
    public nonisolated let origin: String
    /// The verifier key of `signingKey`, or why the origin cannot name one. Behind a lock rather
    /// than the actor so that `verifierKey()` stays synchronous for the start-up check.
    private nonisolated let verifier: NIOLockedValueBox<Result<NoteVerifierKey, AuditLogError>>
    let now: @Sendable () -> Date
    /// The smallest tree the current key may sign: the tree it took over at.
    private var smallestTreeForKey: Int64 = 0
    /// The largest tree signed since start: a handover must cover it.
    private var largestSigned: Int64 = 0
    private var rotating = false
    /// The last rotation's checkpoints, so that a reload retried after a later step failed gets
    /// them again instead of a second rotation.
    private var lastRotation: (handover: StoredCheckpoint, first: StoredCheckpoint)?
    private var waitingForRotation: [CheckedContinuation<Void, Never>] = []

    init(store: any SightlineStore, signingKey: Curve25519.Signing.PrivateKey, origin: String, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.signingKey = signingKey
        self.origin = origin
        self.now = now
        verifier = NIOLockedValueBox(Self.verifierKey(origin: origin, signingKey: signingKey))
    }

    private static func verifierKey(origin: String, signingKey: Curve25519.Signing.PrivateKey) -> Result<NoteVerifierKey, AuditLogError> {
        do { return .success(try NoteVerifierKey(name: origin, publicKey: signingKey.publicKey)) } catch let error as AuditLogError {
            return .failure(AuditLogError(.key, "audit origin \"\(origin)\" cannot name a signing key: \(error.message) (config audit.origin)"))
        } catch {
            return .failure(AuditLogError(.key, "audit origin \"\(origin)\" cannot name a signing key (config audit.origin)"))
        }
    }

    /// What an auditor pins to check our checkpoints: `<origin>+<key ID>+<public key>`, of the
    /// current key (the new one once `rotate` returns). Throws when the configured origin cannot
    /// be a key name; `Gateway` checks this at start.
    public nonisolated func verifierKey() throws -> NoteVerifierKey { try verifier.withLockedValue { $0 }.get() }

    /// The latest checkpoint if it covers the whole log and is ours; otherwise a new one.
    public func current() async throws -> StoredCheckpoint {
        await waitForRotation()
        let head = try await store.auditTreeHead()
        if let latest = try await store.latestCheckpoint(), latest.size == head.size, isOurs(latest) { return latest }
        return try await sign(head)
    }

    /// Signs when `everyEntries` entries or `everySeconds` seconds (with at least one new entry)
    /// have passed since the last checkpoint. Returns the new checkpoint, if any.
    @discardableResult
    public func signIfDue(everyEntries: Int, everySeconds: Int) async throws -> StoredCheckpoint? {
        await waitForRotation()
        let head = try await store.auditTreeHead()
        guard let latest = try await store.latestCheckpoint(), isOurs(latest) else { return try await sign(head) }
        let added = head.size - latest.size
        guard added > 0, added >= Int64(everyEntries) || now().timeIntervalSince(latest.time) >= Double(everySeconds) else { return nil }
        return try await sign(head)
    }

    /// Makes `newKey` the signing key, online, so that an auditor who pinned the old key keeps
    /// verifying the whole log. In order:
    /// 1. appends `audit-key-rotated` naming the new verifier key and key id, and the old ones;
    /// 2. signs with the OLD key a checkpoint covering that entry (and every tree the old key
    ///    signed): the handover, the old key vouching for the new one;
    /// 3. appends `audit-key-handover` carrying the handover, for auditors who read over the
    ///    API, which serves only the latest checkpoint;
    /// 4. signs the same tree as the handover with the NEW key, and switches to it.
    /// Other signing waits meanwhile, so the old key signs nothing after the handover and the new
    /// key nothing smaller. If a step throws, the old key stays in use (entries already written
    /// stay: a handover to a key that never signs misleads no verifier) and `rotate` may be
    /// called again. Called again with the key it already rotated to, it returns the same two
    /// checkpoints and writes nothing. The entries hold public keys and key ids only.
    ///
    /// - Returns: the handover (old key) and the first checkpoint by the new key, both stored.
    public func rotate(to newKey: Curve25519.Signing.PrivateKey, newKeyID: String, oldKeyID: String,
                       policyVersion: String) async throws -> (handover: StoredCheckpoint, first: StoredCheckpoint) {
        await waitForRotation()
        let oldVerifier = try verifierKey()
        let newVerifier = try NoteVerifierKey(name: origin, publicKey: newKey.publicKey)
        guard newVerifier.publicKey.rawRepresentation != oldVerifier.publicKey.rawRepresentation else {
            if let lastRotation, lastRotation.first.verifierKey == newVerifier.description { return lastRotation }
            throw AuditLogError(.key, "audit key \(newKeyID) is the key already signing checkpoints (\(oldKeyID)); nothing to rotate")
        }
        rotating = true
        defer {
            rotating = false
            let waiting = waitingForRotation
            waitingForRotation = []
            for w in waiting { w.resume() }
        }
        let index = try await store.appendAudit(AuditKeyRotation.rotatedEntry(
            time: now(), policyVersion: policyVersion, newVerifierKey: newVerifier, newKeyID: newKeyID,
            oldVerifierKey: oldVerifier, oldKeyID: oldKeyID))
        // The tree only grows, so this covers the entry and every tree signed before `rotating` was set.
        let head = try await store.auditTreeHead()
        guard head.size > index, head.size >= largestSigned else {
            throw AuditLogError(.treeState, "the audit tree has \(head.size) entries after appending entry \(index); not rotating the audit key")
        }
        let time = now()
        let handover = try checkpoint(of: head, key: signingKey, verifier: oldVerifier, time: time)
        let first = try checkpoint(of: head, key: newKey, verifier: newVerifier, time: time)
        try await store.saveCheckpoint(handover)
        try await store.appendAudit(AuditKeyRotation.handoverEntry(time: now(), policyVersion: policyVersion, handover: handover.note,
                                                                   size: handover.size, newKeyID: newKeyID))
        try await store.saveCheckpoint(first)
        signingKey = newKey
        verifier.withLockedValue { $0 = .success(newVerifier) }
        smallestTreeForKey = head.size
        largestSigned = head.size
        lastRotation = (handover, first)
        return (handover, first)
    }

    private func isOurs(_ c: StoredCheckpoint) -> Bool { (try? verifierKey().description) == c.verifierKey }

    private func waitForRotation() async {
        while rotating { await withCheckedContinuation { waitingForRotation.append($0) } }
    }

    private func sign(_ head: AuditTreeHead) async throws -> StoredCheckpoint {
        var head = head
        while true {
            await waitForRotation()
            // A tree read before a rotation may be smaller than the one the new key took over at.
            if head.size >= smallestTreeForKey { break }
            head = try await store.auditTreeHead()
        }
        let stored = try checkpoint(of: head, key: signingKey, verifier: try verifierKey(), time: now())
        largestSigned = max(largestSigned, head.size)
        try await store.saveCheckpoint(stored)
        return stored
    }

    private func checkpoint(of head: AuditTreeHead, key: Curve25519.Signing.PrivateKey, verifier: NoteVerifierKey,
                            time: Date) throws -> StoredCheckpoint {
        let checkpoint = AuditCheckpoint(origin: origin, size: head.size, rootHash: head.rootHash, time: time)
        let note = try checkpoint.signedNote(signer: key, keyName: origin)
        return StoredCheckpoint(size: checkpoint.size, rootHash: checkpoint.rootHash, time: checkpoint.time, note: note,
                                verifierKey: verifier.description)
    }
}

/// Signs a checkpoint every N entries or T seconds (config `audit:`), and once more when the
/// gateway stops so the last entries are covered. It is listed first in the ServiceGroup, so it
/// stops last, after the API has drained. On the same beat it writes the refusals counted in
/// windows that have closed, and at shutdown every refusal still counted, before the final
/// checkpoint: none is lost, and the last checkpoint covers them.
struct CheckpointService: Service {
    let state: GatewayState

    func run() async throws {
        let audit = state.config.audit
        // Look often enough to honour the time bound; a look is one read of a one-row table.
        let interval = Duration.milliseconds(min(1000, audit.checkpointEverySeconds * 1000))
        await signIfDue(audit)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
            await state.flushRefusals()
            await signIfDue(audit)
        }
        await state.flushRefusals(all: true)
        do { _ = try await state.checkpoints.current() } catch {
            state.logger.error("could not sign the final audit checkpoint", metadata: ["error.type": "\(type(of: error))"])
        }
    }

    func signIfDue(_ audit: GatewayConfig.Audit) async {
        do {
            if let c = try await state.checkpoints.signIfDue(everyEntries: audit.checkpointEveryEntries, everySeconds: audit.checkpointEverySeconds) {
                state.logger.debug("audit checkpoint signed", metadata: ["audit.size": "\(c.size)"])
            }
        } catch {
            // Only the type: the error text is the store's and never needed to act.
            state.logger.error("could not sign an audit checkpoint", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
