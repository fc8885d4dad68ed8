import Crypto
import Foundation
import Testing
@testable import SightlineCore

@Suite("Key file")
struct KeyMaterialTests {
    func bytes(_ key: SymmetricKey) -> Data { key.withUnsafeBytes { Data($0) } }

    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? NSNumber).intValue & 0o777
    }

    @Test("a generated key file is mode 0600 and loads back to the same keys")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            let keys = KeyMaterial.generate(now: Fixture.now)
            try keys.write(to: path)
            #expect(try mode(path) == 0o600)
            let loaded = try KeyMaterial.load(from: path)
            #expect(loaded.linkKeyID == keys.linkKeyID)
            #expect(loaded.recipientKeyID == keys.recipientKeyID)
            #expect(loaded.sealingKeyID == keys.sealingKeyID)
            #expect(loaded.auditSigningKeyID == keys.auditSigningKeyID)
            #expect(bytes(loaded.linkKey) == bytes(keys.linkKey))
            #expect(bytes(loaded.recipientKey) == bytes(keys.recipientKey))
            #expect(bytes(loaded.sealingKey) == bytes(keys.sealingKey))
            #expect(loaded.auditSigningKey.rawRepresentation == keys.auditSigningKey.rawRepresentation)
        }
    }

    @Test("generated keys are distinct and their ids carry the date")
    func generated() {
        let a = KeyMaterial.generate(now: Fixture.now), b = KeyMaterial.generate(now: Fixture.now)
        #expect(a.linkKeyID.hasPrefix("link-2026-11-29-"))
        #expect(a.linkKeyID != b.linkKeyID)
        #expect(bytes(a.linkKey) != bytes(b.linkKey))
        #expect(bytes(a.linkKey) != bytes(a.recipientKey))
    }

    @Test("a key file others can read is refused, naming the fix", arguments: [0o644, 0o640, 0o604])
    func worldReadableRefused(_ permissions: Int) throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            try KeyMaterial.generate().write(to: path)
            try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
            let error = try #require(sightlineError { _ = try KeyMaterial.load(from: path) })
            #expect(error.code == .keyFile)
            #expect(error.message.contains("chmod 600 \(path)"))
            #expect(error.message.contains(String(format: "%04o", permissions)))
        }
    }

    @Test("a malformed key file is refused", arguments: ["{not json", "{}", "[]", #"{"format":"sightline-keys/1"}"#])
    func malformedRefused(_ content: String) throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600]))
            let error = try #require(sightlineError { _ = try KeyMaterial.load(from: path) })
            #expect(error.code == .keyFile)
            #expect(error.message.contains(path))
        }
    }

    @Test("a key of the wrong length is refused")
    func shortKeyRefused() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            try KeyMaterial.generate().write(to: path)
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            object["link"] = ["id": "link-short", "secret": Data(count: 16).base64EncodedString()]
            try FileManager.default.removeItem(atPath: path)
            #expect(FileManager.default.createFile(atPath: path, contents: try JSONSerialization.data(withJSONObject: object),
                                                   attributes: [.posixPermissions: 0o600]))
            let error = try #require(sightlineError { _ = try KeyMaterial.load(from: path) })
            #expect(error.message.contains("link.secret must be 32 bytes"))
        }
    }

    @Test("a missing key file names the command that creates one, and says a gateway with data restores it instead")
    func missing() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        let error = try #require(sightlineError { _ = try KeyMaterial.load(from: path) })
        #expect(error.code == .keyFile)
        #expect(error.message.contains("sightline keys init") && error.message.contains("restore it from the backup"))
    }

    @Test("write never overwrites an existing key file")
    func noOverwrite() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            let first = KeyMaterial.generate()
            try first.write(to: path)
            let error = try #require(sightlineError { try KeyMaterial.generate().write(to: path) })
            #expect(error.code == .keyFile)
            #expect(error.message.contains(path))
            #expect(try KeyMaterial.load(from: path).linkKeyID == first.linkKeyID, "the first keys survive")
        }
    }

    @Test("a key file from before keyed digests is refused with the fix, and upgrade adds only the digest key")
    func upgradeAddsTheDigestKey() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("keys.json").path
            let keys = KeyMaterial.generate()
            try keys.write(to: path)
            // The file as the previous version wrote it: no digest entry.
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            object["digest"] = nil
            try FileManager.default.removeItem(atPath: path)
            #expect(FileManager.default.createFile(atPath: path, contents: try JSONSerialization.data(withJSONObject: object),
                                                   attributes: [.posixPermissions: 0o600]))
            let error = try #require(sightlineError { _ = try KeyMaterial.load(from: path) })
            #expect(error.message.contains("sightline keys upgrade --file \(path)"))
            let added = try KeyMaterial.upgrade(path: path)
            #expect(added.count == 1 && added[0].hasPrefix("digest-"))
            let loaded = try KeyMaterial.load(from: path)
            #expect(loaded.linkKeyID == keys.linkKeyID && loaded.sealingKeyID == keys.sealingKeyID && loaded.digestKeyID == added[0])
            #expect(loaded.linkKey.withUnsafeBytes { Data($0) } == keys.linkKey.withUnsafeBytes { Data($0) })
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            #expect(try KeyMaterial.upgrade(path: path).isEmpty, "a whole file is left as it is")
        }
    }
}
