import Foundation
import GRDB
import SightlineCore

/// What a backup holds, read back from the copy itself once it is on disk.
public struct StoreBackup: Sendable {
    public let path: String
    public let bytes: Int64
    public let records: Int
    public let subjects: Int
    public let auditEntries: Int
    /// The signed checkpoint with the largest tree size in the copy, if any.
    public let latestCheckpointSize: Int64?
}

extension SQLiteStore {
    /// Writes a consistent copy of the store to `out` while the gateway serves.
    ///
    /// - **Consistent:** SQLite's online backup copies every page in one step, inside one read
    ///   transaction, so the copy is the database as of one commit. Writers carry on in the WAL
    ///   meanwhile.
    /// - **One file:** the copy is switched to the rollback journal, so it needs no `-wal` or `-shm`
    ///   beside it.
    /// - **Checked before it is named:** `PRAGMA quick_check` must pass.
    /// - **Owner-only and never half-written:** the copy is made as a hidden 0600 file in the target
    ///   directory, synced, then linked to `out`. `link` refuses an existing name, so a backup never
    ///   replaces another.
    ///
    /// It holds what the database holds: pseudonyms, keyed digests and sealed material, never a
    /// raw identifier. It is useless without the key file, and the key file must never travel with it.
    public func backup(to out: String) throws(SightlineError) -> StoreBackup {
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let dir = target.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw SightlineError(.store, "cannot write the backup: the directory \(dir) does not exist")
        }
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw SightlineError(.store, "\(target.path) already exists; a backup never replaces a file (choose a new name, e.g. with the date)")
        }
        let partial = dir + "/." + target.lastPathComponent + ".partial-\(getpid())"
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SightlineError(.store, "cannot create \(partial) (\(String(cString: strerror(errno)))); check the directory is writable")
        }
        close(fd)
        // Only the hidden partial file is ever removed: if `link` fails, nothing of ours has the target's name.
        defer { for suffix in ["", "-journal", "-wal", "-shm"] { unlink(partial + suffix) } }
        do {
            let copy = try DatabaseQueue(path: partial)
            try pool.backup(to: copy)
            let summary = try copy.writeWithoutTransaction { db -> (Int, Int, Int, Int64?) in
                // The source is in WAL mode, and so is the copy's header: one self-contained file instead.
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else {
                    throw SightlineError(.store, "the copy failed SQLite's quick_check (\(check.prefix(3).joined(separator: "; "))); nothing was written to \(target.path)")
                }
                return (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record") ?? 0,
                        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subject") ?? 0,
                        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_entry") ?? 0,
                        try Int64.fetchOne(db, sql: "SELECT MAX(size) FROM audit_checkpoint"))
            }
            try copy.close()
            try Self.syncFile(partial)
            guard link(partial, target.path) == 0 else {
                throw SightlineError(.store, "cannot name the backup \(target.path) (\(String(cString: strerror(errno))))")
            }
            try Self.syncFile(dir)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: target.path)[.size] as? Int64) ?? nil
            return StoreBackup(path: target.path, bytes: bytes ?? 0, records: summary.0, subjects: summary.1,
                               auditEntries: summary.2, latestCheckpointSize: summary.3)
        } catch let error as SightlineError {
            throw error
        } catch {
            throw SightlineError(.store, "the backup failed: \(error)")
        }
    }

    /// fsync a file or a directory (so that a new name survives a crash).
    static func syncFile(_ path: String) throws(SightlineError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SightlineError(.store, "cannot open \(path) to sync it (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SightlineError(.store, "cannot sync \(path) (\(String(cString: strerror(errno))))") }
    }
}
