import Crypto
import Foundation

/// A signed statement of the audit log's state: "the log called `origin` had `size` entries
/// with root `rootHash` at `time`". An auditor who keeps one can later demand a consistency
/// proof that the log only grew since, so the operator cannot quietly rewrite history.
///
/// The note text is a C2SP checkpoint (https://c2sp.org/tlog-checkpoint), so transparency
/// tools read it:
///
///     <origin>
///     <size, decimal>
///     <base64 root hash>
///     time <unix seconds>
///
/// The time is an extension line: the format allows opaque non-empty lines after the third,
/// and tools that do not know it ignore it. It is covered by the signature like the rest.
public struct AuditCheckpoint: Sendable, Equatable {
    public var origin: String
    public var size: Int64
    public var rootHash: Data
    /// Whole seconds: the note carries no more, so a checkpoint equals its own round trip.
    public var time: Date

    public init(origin: String, size: Int64, rootHash: Data, time: Date) {
        self.origin = origin; self.size = size; self.rootHash = rootHash
        self.time = Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
    }

    static let timePrefix = "time "

    /// The signed text, three checkpoint lines and the time line, each ending in a newline.
    public var noteText: String {
        "\(origin)\n\(size)\n\(rootHash.base64EncodedString())\n\(Self.timePrefix)\(Int64(time.timeIntervalSince1970))\n"
    }

    /// The checkpoint as a signed note. C2SP asks that the key name match the origin, so pass
    /// the origin as `keyName` unless there is a reason not to.
    public func signedNote(signer: Curve25519.Signing.PrivateKey, keyName: String) throws -> String {
        guard !origin.isEmpty, !origin.contains("\n"), !SignedNote.hasForbiddenCharacter(origin) else {
            throw AuditLogError(.malformed, "the checkpoint origin must be one non-empty line without control characters, such as example.org/sightline-audit")
        }
        guard size >= 0, rootHash.count == 32, time.timeIntervalSince1970 >= 0 else {
            throw AuditLogError(.malformed, "a checkpoint needs a size >= 0, a 32-byte root hash and a time after 1970")
        }
        return try SignedNote.sign(text: noteText, signer: signer, keyName: keyName)
    }

    /// The checkpoint in `note`, after checking its signature by `verifyingKey` under `keyName`.
    public static func parse(_ note: String, verifyingKey: Curve25519.Signing.PublicKey, keyName: String) throws -> AuditCheckpoint {
        try parse(note, verifier: NoteVerifierKey(name: keyName, publicKey: verifyingKey))
    }

    /// The checkpoint in `note`, after checking its signature by `verifier`. The text is only
    /// read once the signature holds, as the signed-note spec requires.
    public static func parse(_ note: String, verifier: NoteVerifierKey) throws -> AuditCheckpoint {
        try parse(text: SignedNote.open(note, verifier: verifier))
    }

    /// What `note` claims, read without checking any signature. The verifier uses it only to
    /// name a note in messages and to know which tree size a note speaks of before it knows the
    /// key that signed it (a key the log hands over to later in its entries). Never trust it.
    static func unverified(_ note: String) throws -> AuditCheckpoint {
        try parse(text: SignedNote.split(note).text)
    }

    static func parse(text: String) throws -> AuditCheckpoint {
        func malformed(_ why: String) -> AuditLogError {
            AuditLogError(.malformed, "the note is signed but is not a Sightline checkpoint: \(why)")
        }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { throw malformed("it has \(lines.count) lines, a checkpoint has at least 3") }
        guard !lines[0].isEmpty else { throw malformed("the origin line is empty") }
        guard let size = decimal(lines[1]) else { throw malformed("the tree size \"\(lines[1])\" is not a decimal number without leading zeros") }
        guard let root = Data(base64Encoded: String(lines[2])), root.count == 32 else {
            throw malformed("the root hash is not the base64 of 32 bytes")
        }
        let extensions = lines.dropFirst(3)
        guard !extensions.contains(where: \.isEmpty) else { throw malformed("it has an empty extension line") }
        let timeLines = extensions.filter { $0.hasPrefix(timePrefix) }
        guard timeLines.count == 1, let seconds = decimal(timeLines[0].dropFirst(timePrefix.count)) else {
            throw malformed("it needs exactly one \"time <unix seconds>\" line")
        }
        return AuditCheckpoint(origin: String(lines[0]), size: size, rootHash: root, time: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// ASCII digits, no sign, no leading zero unless the number is 0, and within Int64.
    private static func decimal(_ s: Substring) -> Int64? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), s == "0" || !s.hasPrefix("0") else { return nil }
        return Int64(s)
    }
}
