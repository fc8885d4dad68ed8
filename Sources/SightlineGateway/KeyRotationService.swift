import Foundation
import Logging
import ServiceLifecycle
import SightlineCore
import SightlineStore

/// Key rotation, online. `sightline keys rotate --kind K --file KEYS` writes the rotated key
/// file; SIGHUP (`systemctl reload sightline`) makes the gateway read it (`reloadKeys`), check
/// that it only continues the keys in force, record the new generation with an audit entry,
/// and put the new keys in force at once. What is stored under the old keys is then brought
/// up to date by `KeyRotationService`, in short batches between requests:
///
/// - link: every stored digest and token wrapped by the new key (`LinkKeyChain`), subject by
///   subject; a submission that touches a subject not yet wrapped wraps it first, and lookups
///   ask for both forms until the last subject is done.
/// - sealing: every sealed value not under the new key re-sealed, in passes until one finds none.
/// - recipient: nothing stored changes; pseudonyms already issued stay what partners hold.
/// - audit: a handover entry and checkpoint signed by the old key vouch for the new one.
extension GatewayState {
    /// Reads the key file again and puts a rotation in it in force. Throws (keeping the keys in
    /// force) for a file that does not continue them, or that rotates link or sealing keys again
    /// while the previous rotation of that kind is still migrating.
    public func reloadKeys() async throws {
        let fresh = try KeyMaterial.load(from: config.keysPath)
        try await applyKeys(fresh)
    }

    func applyKeys(_ fresh: KeyMaterial) async throws {
        let current = keys
        let changes = try current.rotations(to: fresh)
        let generations = try await store.keyGenerations()
        for kind in [RotatableKey.link, .sealing] where changes.contains(kind) {
            if let g = generations[kind.rawValue], g.completedAt == nil {
                throw SightlineError(.keyFile, "the previous \(kind.rawValue) key rotation (to \(g.keyID)) is still migrating (\(g.migrated) done); rotate again once the audit log shows key-rotation-completed for it")
            }
        }
        if fresh.history.sealing.count < current.history.sealing.count, generations["sealing"].map({ $0.completedAt == nil }) == true {
            throw SightlineError(.keyFile, "retired sealing keys cannot be forgotten while values sealed under them are being re-sealed")
        }
        if changes.contains(.audit) {
            _ = try await checkpoints.rotate(to: fresh.auditSigningKey, newKeyID: fresh.auditSigningKeyID,
                                             oldKeyID: current.auditSigningKeyID, policyVersion: policy.version)
        }
        // In force first, then recorded: a commit keyed in between is refused and resent, and a
        // reload that fails half way is finished by the next one (the record follows the keys).
        useKeys(fresh, migratingLink: changes.contains(.link) || linkMigrating)
        try await reconcileKeyGenerations()
        keyRotationDoorbell.ring()
        logger.notice("keys rotated", metadata: ["kinds": "\(changes.isEmpty ? "none (retired keys forgotten)" : changes.map(\.rawValue).joined(separator: ","))"])
    }

    private func begin(_ kind: RotatableKey, generation: Int, oldKeyID: String, newKeyID: String, keys fresh: KeyMaterial, at now: Date) async throws {
        let entry = AuditEntry(time: now, actor: "gateway", action: "key-rotated", policyVersion: policy.version, decision: .allow,
                               rule: "key-rotation", requestDigest: "key:\(newKeyID)",
                               detail: ["kind": kind.rawValue, "oldKeyID": oldKeyID, "newKeyID": newKeyID, "generation": String(generation)])
        var rewrap: LinkRewrap? = nil
        if kind == .link {
            rewrap = liveLinkRewrap(fresh)
            // Set before the generation is recorded: the store applies it only once the database says so.
            store.setLinkRewrap(rewrap)
            linkMigrating = true
        }
        _ = try await store.beginKeyGeneration(kind: kind, generation: generation, keyID: newKeyID, at: now, link: rewrap, audit: entry)
    }

    /// The last link rotation's wrap, sealing material with the sealer in force when it runs.
    func liveLinkRewrap(_ keys: KeyMaterial) -> LinkRewrap? {
        LinkRewrap(keys: keys, sealer: { [weak self] in self?.sealer ?? Sealer(keys: keys) })
    }

    /// Makes the database's record of each key kind agree with the keys in force: records a
    /// rotation the keys show and the database does not (a reload, or a key file rotated while
    /// the gateway was stopped), resumes a migration left running, and refuses a key file that
    /// is older than the database (it would mislink and could not open what is sealed).
    func reconcileKeyGenerations() async throws {
        let keys = self.keys
        let generations = try await store.keyGenerations()
        let now = self.now()
        let chain = LinkKeyChain(keys.linkChain)
        let stored = generations["link"]?.generation ?? 0
        if stored > chain.generation {
            throw SightlineError(.keyFile, "the database is at link key generation \(stored) (\(generations["link"]?.keyID ?? "?")) but the key file only has \(chain.generation + 1) link keys: this is an older key file; restore the current one from the backup")
        }
        if stored < chain.generation - 1 {
            throw SightlineError(.keyFile, "the key file's link key was rotated \(chain.generation - stored) times since the database last saw it; rotations must be loaded one at a time (restore the key file with one rotation, start, wait for key-rotation-completed, then rotate again)")
        }
        if stored == chain.generation - 1 {
            try await begin(.link, generation: chain.generation, oldKeyID: keys.history.link.last?.id ?? "?", newKeyID: keys.linkKeyID, keys: keys, at: now)
        } else if let g = generations["link"], g.completedAt == nil {
            store.setLinkRewrap(liveLinkRewrap(keys))
            linkMigrating = true
        }
        for (kind, currentID, retired) in [(RotatableKey.sealing, keys.sealingKeyID, keys.history.sealing.map(\.id)),
                                           (.recipient, keys.recipientKeyID, keys.history.recipient.map(\.id))] {
            let g = generations[kind.rawValue]
            guard let recorded = g?.keyID ?? retired.last, recorded != currentID else { continue }
            guard retired.contains(recorded) else {
                throw SightlineError(.keyFile, "the database's \(kind.rawValue) key is \(recorded), which this key file (current \(currentID)) has never held: this is an older or a different key file; restore the current one")
            }
            try await begin(kind, generation: (g?.generation ?? 0) + 1, oldKeyID: recorded, newKeyID: currentID, keys: keys, at: now)
        }
        useKeys(keys, migratingLink: linkMigrating)
    }

    /// At start: `reconcileKeyGenerations`, then the API may serve.
    func resumeKeyRotations() async throws {
        try await reconcileKeyGenerations()
        // An audit key changed while the gateway was stopped: no handover could be signed (the old
        // private key is gone), so auditors who pinned only the old key cannot follow.
        if let latest = try await store.latestCheckpoint(), let current = try? checkpoints.verifierKey().description, latest.verifierKey != current,
           keys.history.auditSigning.contains(where: { (try? NoteVerifierKey(name: checkpoints.origin, publicKey: $0.publicKey).description) == latest.verifierKey }) {
            logger.warning("the audit key was rotated while the gateway was stopped: no handover checkpoint vouches for the new key; give auditors the new verifier key out of band",
                           metadata: ["verifierKey": "\(current)"])
        }
        markKeysResumed()
    }

    /// One batch of each migration that is running. Returns whether any work remains.
    func migrateKeysOnce(sealedValues: Int = 2000) async throws -> Bool {
        let subjects = keyMigrationBatch.withLockedValue { $0 }
        let generations = try await store.keyGenerations()
        var pending = false
        let policyVersion = policy.version
        func done(_ kind: String, _ keyID: String, unit: String) -> @Sendable (Int) -> AuditEntry {
            let now = self.now()
            return { n in
                AuditEntry(time: now, actor: "gateway", action: "key-rotation-completed", policyVersion: policyVersion, decision: .allow,
                           rule: "key-rotation", counts: [unit: n], requestDigest: "key:\(keyID)", detail: ["kind": kind, "keyID": keyID])
            }
        }
        // A batch runs only with the keys the database names: between recording a rotation and
        // putting its keys in force, a batch with the old keys would find nothing to do and finish.
        let keys = self.keys
        if let g = generations["link"], g.completedAt == nil, g.keyID == keys.linkKeyID, subjects > 0 {
            guard let rewrap = liveLinkRewrap(keys) else { return false }
            let r = try await store.migrateLinkBatch(rewrap, limit: subjects, at: now(), done: done("link", g.keyID, unit: "subjects"))
            metrics.keyRotationMigrated(kind: "link", by: r.migrated)
            if r.complete {
                linkMigrating = false
                stopLookingUpLegacyLinkForms()
                store.setLinkRewrap(nil)
                logger.notice("link key migration complete", metadata: ["key": "\(g.keyID)"])
            } else { pending = true }
        } else if generations["link"].map({ $0.completedAt == nil }) == true { pending = true }
        if let g = generations["sealing"], g.completedAt == nil, g.keyID == keys.sealingKeyID {
            let sealer = Sealer(keys: keys)
            let r = try await store.resealBatch(limit: sealedValues, mayComplete: !requestsUnderEarlierKeys, at: now(),
                                                reseal: { try sealer.resealIfRetired($0) },
                                                done: done("sealing", g.keyID, unit: "values"))
            metrics.keyRotationMigrated(kind: "sealing", by: r.migrated)
            if r.complete { logger.notice("sealing key migration complete", metadata: ["key": "\(g.keyID)"]) } else { pending = true }
        } else if generations["sealing"].map({ $0.completedAt == nil }) == true { pending = true }
        metrics.setKeyRotationPending(link: generations["link"].map { $0.completedAt == nil } ?? false && linkMigrating,
                                      sealing: pending && generations["sealing"].map { $0.completedAt == nil } ?? false)
        return pending
    }
}

/// Runs the migrations rotations start: a batch, a short pause so requests go first, again,
/// until none is left; then it sleeps until the next reload rings.
struct KeyRotationService: Service {
    let state: GatewayState

    func run() async throws {
        // A key file that does not fit the database stops the gateway: serving with it would mislink.
        try await state.resumeKeyRotations()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var pending = false
            do { pending = try await state.migrateKeysOnce() } catch {
                // The gateway's own message, or only the type: a store error's text could carry SQL and its values.
                let problem = (error as? SightlineError)?.message ?? "\(type(of: error))"
                state.logger.error("key rotation batch failed; retrying in a minute", metadata: ["problem": "\(problem)"])
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) } } catch { break }
                continue
            }
            if pending {
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(20)) } } catch { break }
            } else {
                await state.keyRotationDoorbell.wait(upTo: .seconds(60))
            }
        }
    }
}
