import Crypto
import Foundation
import Logging
import ServiceLifecycle
import SightlineCore
import SightlineStore

/// Signs checkpoints of the audit log with the key file's Ed25519 audit key and stores them.
/// The periodic signer and on-demand requests share it; two requests racing at the same size
/// may both sign, which only stores two valid checkpoints of the same tree.
public actor CheckpointSigner {
    let store: any SightlineStore
    private let signingKey: Curve25519.Signing.PrivateKey
    /// The log's name: the first line of every checkpoint, and the key name (C2SP asks for both to match).
    public nonisolated let origin: String
    private nonisolated let verifierKeyResult: Result<NoteVerifierKey, AuditLogError>
    let now: @Sendable () -> Date

    init(store: any SightlineStore, signingKey: Curve25519.Signing.PrivateKey, origin: String, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.signingKey = signingKey
        self.origin = origin
        self.now = now
        do { verifierKeyResult = .success(try NoteVerifierKey(name: origin, publicKey: signingKey.publicKey)) } catch let error as AuditLogError {
            verifierKeyResult = .failure(AuditLogError(.key, "audit origin \"\(origin)\" cannot name a signing key: \(error.message) (config audit.origin)"))
        } catch {
            verifierKeyResult = .failure(AuditLogError(.key, "audit origin \"\(origin)\" cannot name a signing key (config audit.origin)"))
        }
    }

    /// What an auditor pins to check our checkpoints: `<origin>+<key ID>+<public key>`. Throws
    /// when the configured origin cannot be a key name; `Gateway` checks this at start.
    public nonisolated func verifierKey() throws -> NoteVerifierKey { try verifierKeyResult.get() }

    /// The latest checkpoint if it covers the whole log and is ours; otherwise a new one.
    public func current() async throws -> StoredCheckpoint {
        let head = try await store.auditTreeHead()
        if let latest = try await store.latestCheckpoint(), latest.size == head.size, isOurs(latest) { return latest }
        return try await sign(head)
    }

    /// Signs when `everyEntries` entries or `everySeconds` seconds (with at least one new entry)
    /// have passed since the last checkpoint. Returns the new checkpoint, if any.
    @discardableResult
    public func signIfDue(everyEntries: Int, everySeconds: Int) async throws -> StoredCheckpoint? {
        let head = try await store.auditTreeHead()
        guard let latest = try await store.latestCheckpoint(), isOurs(latest) else { return try await sign(head) }
        let added = head.size - latest.size
        guard added > 0, added >= Int64(everyEntries) || now().timeIntervalSince(latest.time) >= Double(everySeconds) else { return nil }
        return try await sign(head)
    }

    private func isOurs(_ c: StoredCheckpoint) -> Bool { (try? verifierKey().description) == c.verifierKey }

    private func sign(_ head: AuditTreeHead) async throws -> StoredCheckpoint {
        let checkpoint = AuditCheckpoint(origin: origin, size: head.size, rootHash: head.rootHash, time: now())
        let note = try checkpoint.signedNote(signer: signingKey, keyName: origin)
        let stored = StoredCheckpoint(size: checkpoint.size, rootHash: checkpoint.rootHash, time: checkpoint.time, note: note,
                                      verifierKey: try verifierKey().description)
        try await store.saveCheckpoint(stored)
        return stored
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
