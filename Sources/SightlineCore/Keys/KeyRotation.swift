import Crypto
import Foundation

/// A symmetric key with its id, and when it stopped being the current one.
public struct NamedKey: Sendable {
    public let id: String
    public let key: SymmetricKey
    public var retiredAt: String?
    public init(id: String, key: SymmetricKey, retiredAt: String? = nil) { self.id = id; self.key = key; self.retiredAt = retiredAt }
}

/// What rotations left in the key file.
///
/// - link: every earlier link key, oldest first. They are needed for ever: the first keys every
///   identifier and each later one wraps the result (`LinkKeyChain`), which keeps linkage
///   without the raw values. Someone who steals an old link key together with the database
///   cannot test a guessed NHS number, because every stored digest is wrapped by the newer key.
/// - sealing: earlier sealing keys, opened but never sealed with, until the gateway has
///   re-sealed everything under the current one and `sightline keys forget` removes them.
/// - recipient: only the ids. Pseudonyms already issued are kept in the store, so the old key
///   is destroyed at rotation and new pseudonyms come from the new key.
/// - auditSigning: the public half only, so that checkpoints it signed still verify; the
///   private half is destroyed at rotation.
public struct KeyHistory: Sendable {
    public struct RetiredID: Sendable { public let id: String; public let retiredAt: String }
    public struct RetiredSigningKey: Sendable {
        public let id: String
        public let publicKey: Curve25519.Signing.PublicKey
        public let retiredAt: String
    }
    public var link: [NamedKey] = []
    public var sealing: [NamedKey] = []
    public var recipient: [RetiredID] = []
    public var auditSigning: [RetiredSigningKey] = []
    public init() {}
    public var isEmpty: Bool { link.isEmpty && sealing.isEmpty && recipient.isEmpty && auditSigning.isEmpty }
}

/// The keys `sightline keys rotate --kind` replaces.
public enum RotatableKey: String, CaseIterable, Sendable, Codable {
    case link, recipient, sealing, audit
}

extension KeyMaterial {
    static func newKeyID(_ prefix: String, now: Date) -> String {
        let random = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }.prefix(4)
        return "\(prefix)-\(CivilDate(now).description)-\(random.map { String(format: "%02x", $0) }.joined())"
    }

    /// These keys with a fresh key of `kind` made current and the old one moved to the history.
    public func rotated(_ kind: RotatableKey, now: Date = Date()) -> KeyMaterial {
        let stamp = ISO8601DateFormatter().string(from: now)
        var h = history
        var link = (linkKeyID, linkKey), recipient = (recipientKeyID, recipientKey), sealing = (sealingKeyID, sealingKey)
        var audit = (auditSigningKeyID, auditSigningKey)
        switch kind {
        case .link:
            h.link.append(NamedKey(id: linkKeyID, key: linkKey, retiredAt: stamp))
            link = (Self.newKeyID("link", now: now), SymmetricKey(size: .bits256))
        case .recipient:
            h.recipient.append(.init(id: recipientKeyID, retiredAt: stamp))
            recipient = (Self.newKeyID("recipient", now: now), SymmetricKey(size: .bits256))
        case .sealing:
            h.sealing.append(NamedKey(id: sealingKeyID, key: sealingKey, retiredAt: stamp))
            sealing = (Self.newKeyID("seal", now: now), SymmetricKey(size: .bits256))
        case .audit:
            h.auditSigning.append(.init(id: auditSigningKeyID, publicKey: auditSigningKey.publicKey, retiredAt: stamp))
            audit = (Self.newKeyID("audit", now: now), Curve25519.Signing.PrivateKey())
        }
        return KeyMaterial(linkKeyID: link.0, linkKey: link.1, recipientKeyID: recipient.0, recipientKey: recipient.1,
                           sealingKeyID: sealing.0, sealingKey: sealing.1, auditSigningKeyID: audit.0, auditSigningKey: audit.1,
                           digestKeyID: digestKeyID, digestKey: digestKey, history: h)
    }

    /// These keys without the retired sealing keys: once the gateway reports that nothing is
    /// sealed under them any more (`sightline_key_rotation_pending` is 0 and the audit log has
    /// `key-rotation-completed`), a stolen copy of them opens nothing in the live database.
    public func forgettingRetiredSealingKeys() -> KeyMaterial {
        var h = history
        h.sealing = []
        return KeyMaterial(linkKeyID: linkKeyID, linkKey: linkKey, recipientKeyID: recipientKeyID, recipientKey: recipientKey,
                           sealingKeyID: sealingKeyID, sealingKey: sealingKey, auditSigningKeyID: auditSigningKeyID,
                           auditSigningKey: auditSigningKey, digestKeyID: digestKeyID, digestKey: digestKey, history: h)
    }

    /// Replaces the key file at `path` with `keys`, atomically and at 0600. The running gateway
    /// reads it on SIGHUP (`systemctl reload sightline`).
    public static func replace(path: String, with keys: KeyMaterial) throws(SightlineError) {
        let data: Data
        do { data = try keys.fileContents() } catch { throw SightlineError(.keyFile, "could not encode keys") }
        try replaceAtomically(path, with: data, temporary: path + ".rotate")
    }

    /// Whether `next` may replace these keys in a running gateway: it must be these keys or
    /// these keys rotated (each current key either unchanged or moved to the history), so that
    /// a wrong file can never be loaded over the live one. Returns what changed.
    public func rotations(to next: KeyMaterial) throws(SightlineError) -> [RotatableKey] {
        var changed: [RotatableKey] = []
        func bytes(_ k: SymmetricKey) -> Data { k.withUnsafeBytes { Data($0) } }
        func same(_ a: [NamedKey], _ b: [NamedKey]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { $0.id == $1.id && bytes($0.key) == bytes($1.key) }
        }
        // Link: the whole chain is kept for ever; it may only grow by this gateway's current key.
        if next.linkKeyID != linkKeyID {
            guard same(next.history.link, linkChain) else {
                throw SightlineError(.keyFile, "the new key file's link keys do not continue this gateway's chain (\(linkChain.map(\.id).joined(separator: ", "))); only `sightline keys rotate` may change them")
            }
            changed.append(.link)
        } else if bytes(next.linkKey) != bytes(linkKey) || !same(next.history.link, history.link) {
            throw SightlineError(.keyFile, "the new key file changes link key \(linkKeyID) or its history; a link key can only be rotated, never replaced")
        }
        // Sealing: a rotation retires the current key (bytes and all); forgetting drops retired
        // keys only, never adds or alters one.
        if next.sealingKeyID != sealingKeyID {
            guard let retired = next.history.sealing.last, retired.id == sealingKeyID, bytes(retired.key) == bytes(sealingKey),
                  Self.isSubsequence(next.history.sealing.dropLast(), of: history.sealing, bytes: bytes) else {
                throw SightlineError(.keyFile, "the new key file's sealing key \(next.sealingKeyID) does not follow \(sealingKeyID)")
            }
            changed.append(.sealing)
        } else if bytes(next.sealingKey) != bytes(sealingKey) || !Self.isSubsequence(next.history.sealing[...], of: history.sealing, bytes: bytes) {
            throw SightlineError(.keyFile, "the new key file changes sealing key \(sealingKeyID) or adds a retired sealing key; sealing keys are only rotated or forgotten")
        }
        if next.recipientKeyID != recipientKeyID {
            guard next.history.recipient.last?.id == recipientKeyID, next.history.recipient.dropLast().map(\.id) == history.recipient.map(\.id) else {
                throw SightlineError(.keyFile, "the new key file's recipient key \(next.recipientKeyID) does not follow \(recipientKeyID)")
            }
            changed.append(.recipient)
        } else if bytes(next.recipientKey) != bytes(recipientKey) || next.history.recipient.map(\.id) != history.recipient.map(\.id) {
            throw SightlineError(.keyFile, "the new key file changes recipient key \(recipientKeyID) under the same id")
        }
        if next.auditSigningKeyID != auditSigningKeyID {
            guard next.history.auditSigning.last?.id == auditSigningKeyID,
                  next.history.auditSigning.last?.publicKey.rawRepresentation == auditSigningKey.publicKey.rawRepresentation,
                  next.history.auditSigning.dropLast().map(\.id) == history.auditSigning.map(\.id) else {
                throw SightlineError(.keyFile, "the new key file's audit key \(next.auditSigningKeyID) does not follow \(auditSigningKeyID)")
            }
            changed.append(.audit)
        } else if next.auditSigningKey.rawRepresentation != auditSigningKey.rawRepresentation {
            throw SightlineError(.keyFile, "the new key file changes audit key \(auditSigningKeyID) under the same id")
        }
        guard next.digestKeyID == digestKeyID, bytes(next.digestKey) == bytes(digestKey) else {
            throw SightlineError(.keyFile, "the new key file changes the digest key; it is not rotated online")
        }
        return changed
    }

    /// Whether every key of `part` is in `whole`, same id and bytes, in the same order.
    static func isSubsequence(_ part: ArraySlice<NamedKey>, of whole: [NamedKey], bytes: (SymmetricKey) -> Data) -> Bool {
        var i = whole.startIndex
        for k in part {
            while i < whole.endIndex, !(whole[i].id == k.id && bytes(whole[i].key) == bytes(k.key)) { i += 1 }
            guard i < whole.endIndex else { return false }
            i += 1
        }
        return true
    }
}
