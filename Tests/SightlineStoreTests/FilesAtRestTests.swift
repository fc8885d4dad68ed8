import Foundation
import Testing
@testable import SightlineCore
@testable import SightlineStore

/// The database, its WAL and SHM are readable by their owner only, whatever the umask.
@Suite("Files at rest", .serialized)
struct FilesAtRestTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-modes-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber).intValue & 0o777
    }

    @Test("with umask 022 the database, -wal and -shm are created 0600")
    func createdOwnerOnly() async throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let path = dir + "/sightline.sqlite"
        let store = try SQLiteStore(path: path)
        // A write, so the WAL and the shared-memory index exist.
        try await store.appendAudit(AuditEntry(time: Date(), actor: "test", action: "a", policyVersion: "t", decision: .allow,
                                               rule: "r", requestDigest: "d"))
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(FileManager.default.fileExists(atPath: file), "\(file) missing")
            let found = try mode(file)
            #expect(found == 0o600, "\(file) is \(String(found, radix: 8))")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test("a database group or others can read stops the start, naming chmod 600", arguments: [0o644, 0o640, 0o604])
    func refusesReadableDatabase(_ permissions: Int) throws {
        let path = dir + "/sightline.sqlite"
        _ = try SQLiteStore(path: path)
        try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
        do {
            _ = try SQLiteStore(path: path)
            Issue.record("a database at mode \(String(permissions, radix: 8)) was opened")
        } catch let error as SightlineError {
            #expect(error.code == .store)
            #expect(error.message.contains("chmod 600 \(path)"), "\(error.message)")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
