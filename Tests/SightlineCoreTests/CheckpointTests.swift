import Crypto
import Foundation
import Testing
@testable import SightlineCore

/// The signed-note example of golang.org/x/mod/sumdb/note (note.go package documentation and
/// note_test.go): a key, its verifier key line, a text and the note Go produces for them.
private enum GoNoteVector {
    static let signerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let verifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let text = "If you think cryptography is the answer to your problem,\n" +
        "then you don't know what your problem is.\n"
    static let note = text + "\n" +
        "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    /// Go's private key encoding ends in base64(0x01 || 32-byte Ed25519 seed).
    static var signer: Curve25519.Signing.PrivateKey {
        let raw = Data(base64Encoded: String(signerKey.split(separator: "+", maxSplits: 4)[4]))!
        return try! Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
    }
}

/// The Go vector's key, reused so the examples below have a fixed key ID.
private let key = GoNoteVector.signer
private let origin = "example.org/sightline-audit"
/// Root of the eight-leaf RFC 6962 test tree.
private let root = Data(hex: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")!
private let checkpoint = AuditCheckpoint(origin: origin, size: 8, rootHash: root, time: Fixture.now)

@Suite("Signed checkpoints (C2SP)")
struct CheckpointTests {
    @Test("the note has the C2SP checkpoint layout, byte for byte")
    func layout() throws {
        let note = try checkpoint.signedNote(signer: key, keyName: origin)
        let body = """
            example.org/sightline-audit
            8
            XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=
            time 1795953600

            """
        #expect(checkpoint.noteText == body)
        let prefix = body + "\n\u{2014} example.org/sightline-audit "
        #expect(note.hasPrefix(prefix))
        #expect(note.hasSuffix("\n"))
        #expect(note.utf8.filter { $0 == 0x0A }.count == 6)

        let blob = try #require(Data(base64Encoded: String(note.dropFirst(prefix.count).dropLast())))
        #expect(blob.count == 4 + 64)
        // key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4], computed here by hand.
        let keyID = Data(SHA256.hash(data: Data(origin.utf8) + [0x0A, 0x01] + key.publicKey.rawRepresentation).prefix(4))
        #expect(blob.prefix(4) == keyID)
        #expect(key.publicKey.isValidSignature(blob.dropFirst(4), for: Data(body.utf8)))
    }

    @Test("a signed checkpoint parses back to itself")
    func roundTrip() throws {
        let note = try checkpoint.signedNote(signer: key, keyName: origin)
        #expect(try AuditCheckpoint.parse(note, verifyingKey: key.publicKey, keyName: origin) == checkpoint)
        let verifier = try NoteVerifierKey(name: origin, publicKey: key.publicKey)
        #expect(try AuditCheckpoint.parse(note, verifier: NoteVerifierKey(parsing: verifier.description)) == checkpoint)

        let empty = AuditCheckpoint(origin: origin, size: 0, rootHash: MerkleHash.empty, time: Date(timeIntervalSince1970: 1.75))
        #expect(empty.time == Date(timeIntervalSince1970: 1))
        #expect(try AuditCheckpoint.parse(empty.signedNote(signer: key, keyName: origin), verifyingKey: key.publicKey, keyName: origin) == empty)
    }

    @Test("a checkpoint signed by another key is refused, naming the key that did sign")
    func otherKey() throws {
        let other = Curve25519.Signing.PrivateKey()
        let note = try checkpoint.signedNote(signer: other, keyName: origin)
        let error = #expect(throws: AuditLogError.self) {
            try AuditCheckpoint.parse(note, verifyingKey: key.publicKey, keyName: origin)
        }
        #expect(error?.code == .unknownKey)
        #expect(error?.message.contains(origin) == true)

        let renamed = try checkpoint.signedNote(signer: key, keyName: "example.org/other-log")
        #expect(throws: AuditLogError.self) { try AuditCheckpoint.parse(renamed, verifyingKey: key.publicKey, keyName: origin) }
    }

    @Test("changing any one byte of the signed text breaks the signature")
    func tamperedBody() throws {
        let note = Array(try checkpoint.signedNote(signer: key, keyName: origin).utf8)
        let textLength = checkpoint.noteText.utf8.count
        for i in 0..<textLength {
            var bytes = note
            bytes[i] = bytes[i] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let error = #expect(throws: AuditLogError.self) {
                try AuditCheckpoint.parse(String(decoding: bytes, as: UTF8.self), verifyingKey: key.publicKey, keyName: origin)
            }
            // The text's final newline is what separates it from the signatures.
            #expect(error?.code == (i == textLength - 1 ? .malformed : .badSignature), "byte \(i)")
        }
        var bytes = note
        bytes[bytes.count - 10] ^= 0x01  // inside the base64 signature
        let error = #expect(throws: AuditLogError.self) {
            try AuditCheckpoint.parse(String(decoding: bytes, as: UTF8.self), verifyingKey: key.publicKey, keyName: origin)
        }
        #expect(error?.code == .badSignature)
    }

    @Test("signatures by other keys, such as witnesses, are ignored")
    func cosigned() throws {
        let witness = try SignedNote.sign(text: checkpoint.noteText, signer: Curve25519.Signing.PrivateKey(), keyName: "witness.example")
        let ours = try checkpoint.signedNote(signer: key, keyName: origin)
        let both = ours + witness.dropFirst(checkpoint.noteText.utf8.count + 1)
        #expect(both.components(separatedBy: "\u{2014} ").count == 3)
        #expect(try AuditCheckpoint.parse(both, verifyingKey: key.publicKey, keyName: origin) == checkpoint)
    }

    @Test("signed text that is not a checkpoint is refused as malformed", arguments: [
        "example.org/sightline-audit\n8\n",
        "example.org/sightline-audit\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1795953600\n",
        "example.org/sightline-audit\n-8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1795953600\n",
        "example.org/sightline-audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQw==\ntime 1795953600\n",
        "example.org/sightline-audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
        "example.org/sightline-audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1795953600\n\n",
        "example.org/sightline-audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1795953600\ntime 1795953601\n",
        "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1795953600\n",
    ])
    func notACheckpoint(text: String) throws {
        let note = try SignedNote.sign(text: text, signer: key, keyName: origin)
        let error = #expect(throws: AuditLogError.self) { try AuditCheckpoint.parse(note, verifyingKey: key.publicKey, keyName: origin) }
        #expect(error?.code == .malformed)
    }

    @Test("extension lines other than the time are allowed and ignored")
    func extensionLines() throws {
        let text = checkpoint.noteText + "witnessed-by somebody\n"
        let note = try SignedNote.sign(text: text, signer: key, keyName: origin)
        #expect(try AuditCheckpoint.parse(note, verifyingKey: key.publicKey, keyName: origin) == checkpoint)
    }

    @Test("text that is not a signed note is refused as malformed", arguments: [
        "", "example.org/sightline-audit\n8\n", "a\n\nno signature line\n", "a\n\n\u{2014} name\n",
        "a\n\n\u{2014} name !!!\n", "a\n\n\u{2014} name AAAA\n", "a\n\n\u{2014} na+me AAAAAAAA\n", "a\u{7}\n\n\u{2014} name AAAAAAAA\n",
    ])
    func notANote(note: String) {
        let error = #expect(throws: AuditLogError.self) { try AuditCheckpoint.parse(note, verifyingKey: key.publicKey, keyName: origin) }
        #expect(error?.code == .malformed)
    }

    @Test("Go's sumdb/note example: same key ID and verifier key, its note opens, and we sign it identically")
    func goInterop() throws {
        let verifier = try NoteVerifierKey(parsing: GoNoteVector.verifierKey)
        #expect(verifier.name == "PeterNeumann")
        #expect(verifier.keyID.hexString == "c74f20a3")
        #expect(verifier.description == GoNoteVector.verifierKey)
        #expect(verifier.publicKey.rawRepresentation == GoNoteVector.signer.publicKey.rawRepresentation)
        #expect(try NoteVerifierKey(name: "PeterNeumann", publicKey: GoNoteVector.signer.publicKey).description == GoNoteVector.verifierKey)
        #expect(try SignedNote.open(GoNoteVector.note, verifier: verifier) == GoNoteVector.text)

        let signed = try SignedNote.sign(text: GoNoteVector.text, signer: GoNoteVector.signer, keyName: "PeterNeumann")
        #expect(try SignedNote.open(signed, verifier: verifier) == GoNoteVector.text)
        #if !canImport(CryptoKit)
        // BoringSSL's Ed25519 is deterministic (RFC 8032), so the bytes match Go's exactly;
        // Apple's CryptoKit randomises signatures, so there only the verification above applies.
        #expect(signed == GoNoteVector.note)
        #endif

        let changed = GoNoteVector.note.replacingOccurrences(of: "cryptography", with: "cryptographY")
        let error = #expect(throws: AuditLogError.self) { try SignedNote.open(changed, verifier: verifier) }
        #expect(error?.code == .badSignature)
    }

    @Test("verifier keys that are mistyped or unusable are refused", arguments: [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+BRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ])
    func badVerifierKey(vkey: String) {
        let error = #expect(throws: AuditLogError.self) { try NoteVerifierKey(parsing: vkey) }
        #expect(error?.code == .key)
    }

    @Test("checkpoints of a growing log are linked by consistency proofs an auditor can check")
    func auditorFlow() throws {
        var log = InMemoryMerkleLog()
        for i in 0..<37 { log.append(leafHash: AuditHash.leaf(Data("entry \(i)".utf8))) }
        let saved = try AuditCheckpoint(origin: origin, size: log.size, rootHash: log.tree.rootHash(), time: Fixture.now)
            .signedNote(signer: key, keyName: origin)
        for i in 37..<100 { log.append(leafHash: AuditHash.leaf(Data("entry \(i)".utf8))) }
        let latest = try AuditCheckpoint(origin: origin, size: log.size, rootHash: log.tree.rootHash(), time: Fixture.now.addingTimeInterval(60))
            .signedNote(signer: key, keyName: origin)

        let old = try AuditCheckpoint.parse(saved, verifyingKey: key.publicKey, keyName: origin)
        let new = try AuditCheckpoint.parse(latest, verifyingKey: key.publicKey, keyName: origin)
        let proof = try MerkleProofs.consistency(from: old.size, to: new.size, nodes: log)
        #expect(MerkleVerify.consistency(oldSize: old.size, newSize: new.size, oldRoot: old.rootHash, newRoot: new.rootHash, proof: proof))
        let inclusion = try MerkleProofs.inclusion(index: 12, size: new.size, nodes: log)
        #expect(MerkleVerify.inclusion(leafHash: AuditHash.leaf(Data("entry 12".utf8)), index: 12, size: new.size, proof: inclusion, root: new.rootHash))
    }

    @Test("an unusable origin or key name is refused when signing")
    func badSigningInput() {
        for (c, name) in [(AuditCheckpoint(origin: "", size: 1, rootHash: root, time: Fixture.now), origin),
                          (AuditCheckpoint(origin: "a\nb", size: 1, rootHash: root, time: Fixture.now), origin),
                          (AuditCheckpoint(origin: origin, size: 1, rootHash: Data(count: 31), time: Fixture.now), origin),
                          (checkpoint, "has space"), (checkpoint, "has+plus"), (checkpoint, "")] {
            #expect(throws: AuditLogError.self) { try c.signedNote(signer: key, keyName: name) }
        }
    }
}
