import Foundation
import Testing
@testable import SightlineCore

/// Private keys reach the disk owner-only, or the write says it failed.
@Suite("Private key files", .serialized)
struct PrivateKeyFileTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber).intValue & 0o777
    }

    @Test("identity and CA keys are 0600 with umask 022, also over an existing 0644 file")
    func ownerOnly() throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        try withTemporaryDirectory { dir in
            let ca = try PartnershipCA.create(name: "Key file test CA")
            try ca.write(to: dir.path + "/ca")
            #expect(try mode(dir.path + "/ca/ca-key.pem") == 0o600)
            let identity = dir.path + "/school"
            try FileManager.default.createDirectory(atPath: identity, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: identity + "/key.pem", contents: Data("old".utf8), attributes: [.posixPermissions: 0o644]))
            let issued = try ca.issueParticipant(ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001"))
            try IdentityDirectory.write(issued, caPEM: ca.certificatePEM, to: identity)
            #expect(try mode(identity + "/key.pem") == 0o600)
            #expect(try String(contentsOfFile: identity + "/key.pem", encoding: .utf8) == issued.privateKeyPEM)
        }
    }

    @Test("a key that cannot be written is an error, not silence")
    func failedWriteIsReported() throws {
        try withTemporaryDirectory { dir in
            let ca = try PartnershipCA.create(name: "Key file test CA")
            let identity = dir.path + "/school"
            // key.pem is a directory: no key can be written there.
            try FileManager.default.createDirectory(atPath: identity + "/key.pem", withIntermediateDirectories: true)
            let issued = try ca.issueParticipant(ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001"))
            let error = try #require(sightlineError { try IdentityDirectory.write(issued, caPEM: ca.certificatePEM, to: identity) })
            #expect(error.message.contains(identity + "/key.pem"), "\(error.message)")
            try FileManager.default.createDirectory(atPath: dir.path + "/ca/ca-key.pem", withIntermediateDirectories: true)
            #expect(throws: SightlineError.self) { try ca.write(to: dir.path + "/ca") }
        }
    }
}
