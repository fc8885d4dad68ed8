import Crypto
import Foundation

/// The gateway's secrets: the HMAC link key, the recipient-pseudonym key, the key that seals
/// references at rest, the key of request digests, and the Ed25519 audit-signing key. Created by
/// `sightline keys init`.
///
/// The file must be readable by its owner only: anyone who holds the link key can re-identify
/// every pseudonym by enumerating NHS numbers (about 10^9 values).
public struct KeyMaterial: Sendable {
    public let linkKeyID: String
    public let linkKey: SymmetricKey
    public let recipientKeyID: String
    public let recipientKey: SymmetricKey
    public let sealingKeyID: String
    public let sealingKey: SymmetricKey
    public let auditSigningKeyID: String
    public let auditSigningKey: Curve25519.Signing.PrivateKey
    /// Keys every digest of data an agency sent (request bodies, idempotency keys): an unkeyed
    /// SHA-256 of a small body is reversed by enumerating NHS numbers. A key of its own, so that
    /// the digests kept in the audit log reveal nothing even to someone who learns another key.
    public let digestKeyID: String
    public let digestKey: SymmetricKey
    /// What earlier rotations left (`sightline keys rotate`); empty until the first.
    public let history: KeyHistory

    public init(linkKeyID: String, linkKey: SymmetricKey, recipientKeyID: String, recipientKey: SymmetricKey,
                sealingKeyID: String, sealingKey: SymmetricKey, auditSigningKeyID: String,
                auditSigningKey: Curve25519.Signing.PrivateKey, digestKeyID: String, digestKey: SymmetricKey,
                history: KeyHistory = .init()) {
        self.linkKeyID = linkKeyID; self.linkKey = linkKey
        self.recipientKeyID = recipientKeyID; self.recipientKey = recipientKey
        self.sealingKeyID = sealingKeyID; self.sealingKey = sealingKey
        self.auditSigningKeyID = auditSigningKeyID; self.auditSigningKey = auditSigningKey
        self.digestKeyID = digestKeyID; self.digestKey = digestKey
        self.history = history
    }

    /// Every link key, oldest first: identifiers are keyed by the first and the result wrapped
    /// by each later one (see `LinkKeyChain`), so a rotation never needs the raw values again.
    public var linkChain: [NamedKey] { history.link + [NamedKey(id: linkKeyID, key: linkKey)] }

    public static func generate(now: Date = Date()) -> KeyMaterial {
        func id(_ prefix: String) -> String { newKeyID(prefix, now: now) }
        return KeyMaterial(
            linkKeyID: id("link"), linkKey: SymmetricKey(size: .bits256),
            recipientKeyID: id("recipient"), recipientKey: SymmetricKey(size: .bits256),
            sealingKeyID: id("seal"), sealingKey: SymmetricKey(size: .bits256),
            auditSigningKeyID: id("audit"), auditSigningKey: Curve25519.Signing.PrivateKey(),
            digestKeyID: id("digest"), digestKey: SymmetricKey(size: .bits256))
    }

    struct FileFormat: Codable {
        struct Secret: Codable { var id: String; var secret: String; var retiredAt: String? = nil }
        struct PublicOnly: Codable { var id: String; var publicKey: String; var retiredAt: String }
        struct RetiredID: Codable { var id: String; var retiredAt: String }
        /// Keys earlier rotations left. Link keys stay (they form the chain); sealing keys stay
        /// until `keys forget` once the gateway has re-sealed everything; the audit key's private
        /// half and old recipient keys are destroyed at rotation.
        struct History: Codable {
            var link: [Secret] = []
            var sealing: [Secret] = []
            var recipient: [RetiredID] = []
            var auditSigning: [PublicOnly] = []
        }
        var format: String
        var link: Secret
        var recipient: Secret
        var sealing: Secret
        var auditSigning: Secret
        /// Absent in files written before request digests were keyed; `sightline keys upgrade` adds it.
        var digest: Secret?
        /// Absent before the first rotation (and in every sightline-keys/1 file).
        var history: History?
    }
    static let formatName = "sightline-keys/1"

    static func b64(_ key: SymmetricKey) -> String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    var fileFormat: FileFormat {
        let h = history
        let fileHistory: FileFormat.History? = h.isEmpty ? nil : FileFormat.History(
            link: h.link.map { .init(id: $0.id, secret: Self.b64($0.key), retiredAt: $0.retiredAt) },
            sealing: h.sealing.map { .init(id: $0.id, secret: Self.b64($0.key), retiredAt: $0.retiredAt) },
            recipient: h.recipient.map { .init(id: $0.id, retiredAt: $0.retiredAt) },
            auditSigning: h.auditSigning.map { .init(id: $0.id, publicKey: $0.publicKey.rawRepresentation.base64EncodedString(), retiredAt: $0.retiredAt) })
        return FileFormat(
            format: Self.formatName,
            link: .init(id: linkKeyID, secret: Self.b64(linkKey)),
            recipient: .init(id: recipientKeyID, secret: Self.b64(recipientKey)),
            sealing: .init(id: sealingKeyID, secret: Self.b64(sealingKey)),
            auditSigning: .init(id: auditSigningKeyID, secret: auditSigningKey.rawRepresentation.base64EncodedString()),
            digest: .init(id: digestKeyID, secret: Self.b64(digestKey)),
            history: fileHistory)
    }

    public func fileContents() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(fileFormat)
    }

    /// Writes a new key file at mode 0600; refuses to overwrite an existing one.
    public func write(to path: String) throws(SightlineError) {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw SightlineError(.keyFile, "\(path) already exists; keys are never overwritten (move it away first if you really mean to replace them)")
        }
        let data: Data
        do { data = try fileContents() } catch { throw SightlineError(.keyFile, "could not encode keys") }
        // O_EXCL: if another process creates the file between the check above and here, fail
        // rather than overwrite someone's keys. Mode 0600 from the first byte.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw SightlineError(.keyFile, "cannot create \(path) (it may exist already); check the directory exists and is writable")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        do { try handle.write(contentsOf: data); try handle.synchronize() } catch {
            throw SightlineError(.keyFile, "cannot write \(path)")
        }
    }

    /// Adds the keys a file written by an earlier version lacks (today: the digest key), keeping
    /// every existing key and the file's 0600 mode. Returns the ids added; none if the file is whole.
    public static func upgrade(path: String, now: Date = Date()) throws(SightlineError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
              var file = try? JSONDecoder().decode(FileFormat.self, from: data), file.format == formatName else {
            throw SightlineError(.keyFile, "key file \(path) is not a Sightline key file (expected JSON written by `sightline keys init`)")
        }
        guard file.digest == nil else { return [] }
        let fresh = generate(now: now)
        file.digest = .init(id: fresh.digestKeyID, secret: fresh.digestKey.withUnsafeBytes { Data($0).base64EncodedString() })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let out = try? encoder.encode(file) else { throw SightlineError(.keyFile, "could not encode keys") }
        try replaceAtomically(path, with: out, temporary: path + ".upgrade")
        return [fresh.digestKeyID]
    }

    /// Writes `data` beside `path` at 0600 and renames it over: a crash leaves the old file or
    /// the new one, never half of either.
    static func replaceAtomically(_ path: String, with out: Data, temporary: String) throws(SightlineError) {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw SightlineError(.keyFile, "cannot create \(temporary); remove it if a previous change to the key file was interrupted") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do { try handle.write(contentsOf: out); try handle.synchronize(); try handle.close() } catch {
            unlink(temporary)
            throw SightlineError(.keyFile, "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw SightlineError(.keyFile, "cannot replace \(path)")
        }
        // The rename itself is durable only once the directory is: a power cut must not bring back the old file.
        let directory = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY)
        if directory >= 0 { fsync(directory); close(directory) }
    }

    /// Loads a key file, refusing one that group or others can read or that is malformed.
    public static func load(from path: String) throws(SightlineError) -> KeyMaterial {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            if access((path as NSString).deletingLastPathComponent, X_OK) != 0 && FileManager.default.fileExists(atPath: (path as NSString).deletingLastPathComponent) {
                throw SightlineError(.keyFile, "key file \(path) cannot be reached by this user (uid \(getuid())): its directory is not searchable; run as the key file's owner")
            }
            throw SightlineError(.keyFile, "key file \(path) not found; for a new gateway create one with `sightline keys init --out \(path)`; for one that holds data restore it from the backup (a new key cannot open anything stored)")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard mode & 0o077 == 0 else {
            throw SightlineError(.keyFile, "key file \(path) is mode \(String(format: "%04o", mode)); it must be readable by its owner only: run chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SightlineError(.keyFile, "key file \(path) cannot be read by this user (uid \(getuid())); run as the key file's owner (the gateway's service user)")
        }
        guard let file = try? JSONDecoder().decode(FileFormat.self, from: data) else {
            throw SightlineError(.keyFile, "key file \(path) is not a Sightline key file (expected JSON written by `sightline keys init`)")
        }
        guard file.format == formatName else {
            throw SightlineError(.keyFile, "key file \(path) has format '\(file.format)'; this gateway reads \(formatName)")
        }
        func symmetric(_ s: FileFormat.Secret, _ name: String) throws(SightlineError) -> SymmetricKey {
            guard let d = Data(base64Encoded: s.secret), d.count == 32 else {
                throw SightlineError(.keyFile, "key file \(path): \(name).secret must be 32 bytes of base64")
            }
            return SymmetricKey(data: d)
        }
        let link = try symmetric(file.link, "link")
        let recipient = try symmetric(file.recipient, "recipient")
        let sealing = try symmetric(file.sealing, "sealing")
        guard let raw = Data(base64Encoded: file.auditSigning.secret),
              let signing = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw SightlineError(.keyFile, "key file \(path): auditSigning.secret must be a 32-byte Ed25519 key in base64")
        }
        guard let digestSecret = file.digest else {
            throw SightlineError(.keyFile, "key file \(path) has no digest key (request digests are keyed since 2026-12); add one with `sightline keys upgrade --file \(path)`")
        }
        let digest = try symmetric(digestSecret, "digest")
        var history = KeyHistory()
        if let h = file.history {
            for (i, s) in h.link.enumerated() { history.link.append(.init(id: s.id, key: try symmetric(s, "history.link[\(i)]"), retiredAt: s.retiredAt)) }
            for (i, s) in h.sealing.enumerated() { history.sealing.append(.init(id: s.id, key: try symmetric(s, "history.sealing[\(i)]"), retiredAt: s.retiredAt)) }
            history.recipient = h.recipient.map { .init(id: $0.id, retiredAt: $0.retiredAt) }
            for (i, a) in h.auditSigning.enumerated() {
                guard let raw = Data(base64Encoded: a.publicKey), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                    throw SightlineError(.keyFile, "key file \(path): history.auditSigning[\(i)].publicKey must be a 32-byte Ed25519 public key in base64")
                }
                history.auditSigning.append(.init(id: a.id, publicKey: key, retiredAt: a.retiredAt))
            }
        }
        return KeyMaterial(linkKeyID: file.link.id, linkKey: link, recipientKeyID: file.recipient.id, recipientKey: recipient,
                           sealingKeyID: file.sealing.id, sealingKey: sealing,
                           auditSigningKeyID: file.auditSigning.id, auditSigningKey: signing,
                           digestKeyID: digestSecret.id, digestKey: digest, history: history)
    }
}
