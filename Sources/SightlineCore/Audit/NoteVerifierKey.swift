import Crypto
import Foundation

/// An Ed25519 public key with the name it signs notes under, as C2SP signed-note verifiers
/// (Go's golang.org/x/mod/sumdb/note, transparency-dev tools) expect it:
/// `<name>+<8 hex digits of key ID>+<base64(0x01 || 32-byte public key)>`. This is the line an
/// auditor is given out of band and pins; it never travels with the checkpoint it verifies.
public struct NoteVerifierKey: Sendable, CustomStringConvertible {
    /// The signed-note signature type byte for Ed25519.
    static let ed25519Type: UInt8 = 0x01

    public let name: String
    public let publicKey: Curve25519.Signing.PublicKey

    public init(name: String, publicKey: Curve25519.Signing.PublicKey) throws {
        guard Self.isValidName(name) else {
            throw AuditLogError(.key, "key name \"\(name)\" is empty or contains a space, '+' or a control character; use a schema-less URL such as example.org/sightline-audit")
        }
        self.name = name; self.publicKey = publicKey
    }

    /// Reads the `<name>+<hex key ID>+<base64 key>` form, checking that the key ID matches.
    public init(parsing vkey: String) throws {
        let parts = vkey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].count == 8, let id = Data(hex: String(parts[1])),
              let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == Self.ed25519Type,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst()) else {
            throw AuditLogError(.key, "not an Ed25519 note verifier key; expected <name>+<8 hex digits>+<base64 key>, as `sightline audit` prints it")
        }
        try self.init(name: String(parts[0]), publicKey: key)
        guard keyID == id else {
            throw AuditLogError(.key, "the verifier key's ID \(id.hexString) does not match its name and key (\(keyID.hexString)); the key was mistyped or altered")
        }
    }

    /// The first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). It names the key in a
    /// signature line; it is an identifier, not a security check.
    public var keyID: Data {
        var h = SHA256()
        h.update(data: Data(name.utf8))
        h.update(data: [0x0A, Self.ed25519Type])
        h.update(data: publicKey.rawRepresentation)
        return Data(h.finalize().prefix(4))
    }

    public var description: String {
        "\(name)+\(keyID.hexString)+\((Data([Self.ed25519Type]) + publicKey.rawRepresentation).base64EncodedString())"
    }

    /// Non-empty, and no Unicode space, '+' (it separates the parts above) or control character.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { !$0.properties.isWhitespace && $0 != "+" && $0.value >= 0x20 && $0.value != 0x7F }
    }
}
