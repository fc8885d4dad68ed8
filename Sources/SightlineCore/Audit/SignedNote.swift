import Crypto
import Foundation

/// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519: the text, a blank line, then
/// one line per signature, `— <key name> <base64(4-byte key ID || signature)>`. The signature
/// covers the text including its final newline, so one changed byte anywhere in it fails.
public enum SignedNote {
    /// Verifiers are told to accept at least 16 signatures; more than this is not a note we made.
    static let maxSignatures = 100
    static let signaturePrefix = "\u{2014} "

    /// `text` followed by a blank line and a signature line by `signer` under `keyName`.
    public static func sign(text: String, signer: Curve25519.Signing.PrivateKey, keyName: String) throws -> String {
        guard text.hasSuffix("\n"), !hasForbiddenCharacter(text) else {
            throw AuditLogError(.malformed, "a note's text must end in a newline and contain no control characters other than newlines")
        }
        let key = try NoteVerifierKey(name: keyName, publicKey: signer.publicKey)
        let signature = try signer.signature(for: Data(text.utf8))
        return text + "\n" + signaturePrefix + keyName + " " + (key.keyID + signature).base64EncodedString() + "\n"
    }

    /// The text of `note`, once the signature by `verifier` checks. Signatures by other keys are
    /// ignored, as the spec requires (they may be witnesses' cosignatures).
    public static func open(_ note: String, verifier: NoteVerifierKey) throws -> String {
        let (text, lines) = try split(note)
        var found: [String] = []
        for line in lines {
            let (name, blob) = try parseSignatureLine(line)
            guard name == verifier.name, blob.prefix(4) == verifier.keyID else {
                found.append("\(name) (key ID \(blob.prefix(4).hexString))")
                continue
            }
            guard blob.count == 4 + 64, verifier.publicKey.isValidSignature(blob.dropFirst(4), for: Data(text.utf8)) else {
                throw AuditLogError(.badSignature, "the signature by \(verifier.name) does not verify: the note's text was changed after it was signed, or the signature is corrupt")
            }
            return text
        }
        throw AuditLogError(.unknownKey, "the note is not signed by the expected key \(verifier); it is signed by \(found.joined(separator: ", ")). Check that you pinned the right verifier key for this log")
    }

    /// Splits at the last blank line into the text (with its final newline) and signature lines.
    static func split(_ note: String) throws -> (text: String, signatureLines: [Substring]) {
        guard !hasForbiddenCharacter(note) else {
            throw AuditLogError(.malformed, "the note contains a control character other than newline; it is not a signed note")
        }
        let bytes = Array(note.utf8)
        var cut: Int?
        if bytes.count >= 2 {
            for i in stride(from: bytes.count - 2, through: 0, by: -1) where bytes[i] == 0x0A && bytes[i + 1] == 0x0A {
                cut = i; break
            }
        }
        guard let cut, bytes.last == 0x0A, cut + 2 < bytes.count else {
            throw AuditLogError(.malformed, "the note has no blank line followed by signature lines ending in a newline; it is not a signed note")
        }
        let text = String(decoding: bytes[...cut], as: UTF8.self)
        let signatureBlock = String(decoding: bytes[(cut + 2)...].dropLast(), as: UTF8.self)
        let lines = signatureBlock.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count <= maxSignatures else {
            throw AuditLogError(.malformed, "the note has \(lines.count) signature lines; at most \(maxSignatures) are read")
        }
        return (text, lines)
    }

    static func parseSignatureLine(_ line: Substring) throws -> (name: String, blob: Data) {
        let malformed = AuditLogError(.malformed, "signature line \"\(line.prefix(80))\" is not \"— <key name> <base64 signature>\"")
        guard line.hasPrefix(signaturePrefix) else { throw malformed }
        let fields = line.dropFirst(signaturePrefix.count).split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 2, NoteVerifierKey.isValidName(String(fields[0])),
              let blob = Data(base64Encoded: String(fields[1])), blob.count > 4 else { throw malformed }
        return (String(fields[0]), blob)
    }

    static func hasForbiddenCharacter(_ s: String) -> Bool {
        s.utf8.contains { $0 < 0x20 && $0 != 0x0A }
    }
}
