import Foundation

/// The audit entries that record a change of the key that signs checkpoints. The gateway writes
/// them (`CheckpointSigner.rotate`) and `AuditLogVerifier` reads them, so both use this one
/// definition.
///
/// A rotation is two entries and two checkpoints, in this order:
/// 1. `audit-key-rotated` names the new verifier key, and the old one it replaces;
/// 2. the old key signs a checkpoint that covers that entry, the handover: a signature the
///    auditor already trusts over a log that says "from here on the key is K";
/// 3. `audit-key-handover` carries the handover's signed note, because an auditor reading over
///    the API sees only the entries and the latest checkpoint, never the stored older ones;
/// 4. the new key signs a checkpoint of the same tree as the handover, and every later one.
///
/// An auditor who pinned the old key so learns the new one from the log, and only from a log
/// the old key signed for. The entries hold verifier keys (public keys) and key ids, never a
/// private key.
public enum AuditKeyRotation {
    public static let actor = "gateway"
    public static let rotatedAction = "audit-key-rotated"
    public static let handoverAction = "audit-key-handover"
    public static let rule = "key-rotation"

    /// The request digest of both entries: the new key's id, a value the gateway made.
    public static func requestDigest(newKeyID: String) -> String { "key:\(newKeyID)" }

    /// The entry that names the new key. `oldVerifierKey` lets an auditor who pins only the new
    /// key check the checkpoints signed before the rotation.
    public static func rotatedEntry(time: Date, policyVersion: String, newVerifierKey: NoteVerifierKey, newKeyID: String,
                                    oldVerifierKey: NoteVerifierKey, oldKeyID: String) -> AuditEntry {
        AuditEntry(time: time, actor: actor, action: rotatedAction, policyVersion: policyVersion, decision: .allow, rule: rule,
                   requestDigest: requestDigest(newKeyID: newKeyID),
                   detail: ["newVerifierKey": newVerifierKey.description, "newKeyID": newKeyID,
                            "oldVerifierKey": oldVerifierKey.description, "oldKeyID": oldKeyID])
    }

    /// The entry that carries the handover checkpoint (a signed note: origin, size, root, time
    /// and signature, nothing secret).
    public static func handoverEntry(time: Date, policyVersion: String, handover: String, size: Int64, newKeyID: String) -> AuditEntry {
        AuditEntry(time: time, actor: actor, action: handoverAction, policyVersion: policyVersion, decision: .allow, rule: rule,
                   requestDigest: requestDigest(newKeyID: newKeyID),
                   detail: ["checkpoint": handover, "size": "\(size)", "newKeyID": newKeyID])
    }

    /// What a rotation entry tells the verifier.
    enum Statement: Sendable {
        case rotated(new: NoteVerifierKey, old: NoteVerifierKey?)
        case handover(note: String)
    }

    /// Canonical JSON has sorted keys and no spaces, and "action" sorts first of an entry's
    /// keys, so every rotation entry starts with these bytes. Only entries that do are decoded,
    /// which keeps the check of a long log at the cost of hashing it. (Were a key that sorts
    /// before "action" ever added to `AuditEntry`, rotations would stop being seen and rotated
    /// logs would fail to verify, loudly, never the other way round.)
    private static let prefix = Array("{\"action\":\"audit-key-".utf8)

    /// The statement in an entry's canonical bytes, if it is a rotation entry the gateway wrote.
    /// Anything else, including a rotation entry whose key does not parse, says nothing.
    static func statement(inCanonical bytes: Data) -> Statement? {
        guard bytes.starts(with: prefix), let entry = try? AuditEntry.decode(canonical: bytes),
              entry.actor == actor, entry.rule == rule, entry.decision == .allow else { return nil }
        switch entry.action {
        case rotatedAction:
            guard let text = entry.detail["newVerifierKey"], let new = try? NoteVerifierKey(parsing: text) else { return nil }
            return .rotated(new: new, old: entry.detail["oldVerifierKey"].flatMap { try? NoteVerifierKey(parsing: $0) })
        case handoverAction:
            return entry.detail["checkpoint"].map { .handover(note: $0) }
        default:
            return nil
        }
    }
}
