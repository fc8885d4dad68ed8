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
        if changes.isEmpty {
            // A file that only forgets retired sealing keys (`sightline keys forget`).
            if fresh.history.sealing.count != current.history.sealing.count {
                guard generations["sealing"].map({ $0.completedAt != nil }) ?? true else {
                    throw SightlineError(.keyFile, "retired sealing keys cannot be forgotten while values sealed under them are being re-sealed")
                }
                useKeys(fresh, migratingLink: linkMigrating)
                logger.notice("retired sealing keys forgotten")
            }
            return
        }
        let now = self.now()
        if changes.contains(.audit) {
            _ = try await checkpoints.rotate(to: fresh.auditSigningKey, newKeyID: fresh.auditSigningKeyID,
                                             oldKeyID: current.auditSigningKeyID, policyVersion: policy.version)
        }
        for kind in changes where kind != .audit {
            let (oldID, newID, generation): (String, String, Int) = switch kind {
            case .link: (current.linkKeyID, fresh.linkKeyID, fresh.history.link.count)
            case .sealing: (current.sealingKeyID, fresh.sealingKeyID, fresh.history.sealing.count)
            case .recipient: (current.recipientKeyID, fresh.recipientKeyID, fresh.history.recipient.count)
            case .audit: (current.auditSigningKeyID, fresh.auditSigningKeyID, fresh.history.auditSigning.count)
            }
            try await begin(kind, generation: generation, oldKeyID: oldID, newKeyID: newID, keys: fresh, at: now)
        }
        useKeys(fresh, migratingLink: changes.contains(.link) || linkMigrating)
        keyRotationDoorbell.ring()
        logger.notice("keys rotated", metadata: ["kinds": "\(changes.map(\.rawValue).joined(separator: ","))"])
    }

    private func begin(_ kind: RotatableKey, generation: Int, oldKeyID: String, newKeyID: String, keys fresh: KeyMaterial, at now: Date) async throws {
        let entry = AuditEntry(time: now, actor: "gateway", action: "key-rotated", policyVersion: policy.version, decision: .allow,
                               rule: "key-rotation", requestDigest: "key:\(newKeyID)",
                               detail: ["kind": kind.rawValue, "oldKeyID": oldKeyID, "newKeyID": newKeyID, "generation": String(generation)])
        var rewrap: LinkRewrap? = nil
        if kind == .link {
            rewrap = Self.linkRewrap(fresh)
            // Set before the generation is recorded: the store applies it only once the database says so.
            store.setLinkRewrap(rewrap)
            linkMigrating = true
        }
        _ = try await store.beginKeyGeneration(kind: kind, generation: generation, keyID: newKeyID, at: now, link: rewrap, audit: entry)
    }

    static func linkRewrap(_ keys: KeyMaterial) -> LinkRewrap? { LinkRewrap(keys: keys) }

    /// At start: resume a migration a stop interrupted, begin one for a key file rotated while
    /// the gateway was stopped, and refuse a key file older than the database.
    func resumeKeyRotations() async throws {
        let keys = self.keys
        let generations = try await store.keyGenerations()
        let chain = LinkKeyChain(keys.linkChain)
        let stored = generations["link"]?.generation ?? 0
        if stored > chain.generation {
            throw SightlineError(.keyFile, "the database is at link key generation \(stored) (\(generations["link"]?.keyID ?? "?")) but the key file only has \(chain.generation + 1) link keys: this is an older key file; restore the current one from the backup")
        }
        if stored < chain.generation - 1 {
            throw SightlineError(.keyFile, "the key file's link key was rotated \(chain.generation - stored) times while the gateway was stopped; rotations must be loaded one at a time (restore the key file with one rotation, start, wait for key-rotation-completed, then rotate again)")
        }
        let now = self.now()
        if stored == chain.generation - 1 {
            try await begin(.link, generation: chain.generation, oldKeyID: keys.history.link.last?.id ?? "?", newKeyID: keys.linkKeyID, keys: keys, at: now)
        } else if let g = generations["link"], g.completedAt == nil {
            store.setLinkRewrap(Self.linkRewrap(keys))
            linkMigrating = true
        }
        // Sealing and recipient keys rotated while the gateway was stopped: recorded (and, for sealing, migrated) now.
        if let old = generations["sealing"]?.keyID ?? keys.history.sealing.last?.id, old != keys.sealingKeyID {
            try await begin(.sealing, generation: keys.history.sealing.count, oldKeyID: old, newKeyID: keys.sealingKeyID, keys: keys, at: now)
        }
        if let old = generations["recipient"]?.keyID ?? keys.history.recipient.last?.id, old != keys.recipientKeyID {
            try await begin(.recipient, generation: keys.history.recipient.count, oldKeyID: old, newKeyID: keys.recipientKeyID, keys: keys, at: now)
        }
        // An audit key changed while the gateway was stopped: no handover could be signed (the old
        // private key is gone), so auditors who pinned only the old key cannot follow.
        if let latest = try await store.latestCheckpoint(), let current = try? checkpoints.verifierKey().description, latest.verifierKey != current,
           keys.history.auditSigning.contains(where: { (try? NoteVerifierKey(name: checkpoints.origin, publicKey: $0.publicKey).description) == latest.verifierKey }) {
            logger.warning("the audit key was rotated while the gateway was stopped: no handover checkpoint vouches for the new key; give auditors the new verifier key out of band",
                           metadata: ["verifierKey": "\(current)"])
        }
        useKeys(keys, migratingLink: linkMigrating)
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
            guard let rewrap = Self.linkRewrap(keys) else { return false }
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
                state.logger.error("key rotation batch failed; retrying in a minute", metadata: ["problem": "\(String(describing: error))"])
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
