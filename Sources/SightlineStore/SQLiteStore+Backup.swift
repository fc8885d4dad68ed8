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
    /// It holds what the database holds: pseudonymised personal data (pseudonyms, keyed digests,
    /// sealed material, and the minimised fields in clear: handle it as personal data), never a raw
    /// identifier. The key file must never travel with it.
    ///
    /// Refused before anything is written when the target's filesystem has less free space than the
    /// database and its WAL take: a backup that filled the disk would stop the gateway's commits.
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
        let needed = Self.fileSize(path) + Self.fileSize(path + "-wal")
        var fs = statvfs()
        if statvfs(dir, &fs) == 0 {
            let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
            guard free > needed + needed / 10 else {
                throw SightlineError(.store, "not enough free space in \(dir) for a backup (\(free) bytes free, the database takes \(needed)); a full disk there could stop the gateway's commits, so nothing was written")
            }
        }
        let partial = dir + "/." + target.lastPathComponent + ".partial-\(getpid())"
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw SightlineError(.store, "\(partial) exists: another backup to this name is running, or one was killed before it finished (remove the file if no backup is running)")
            }
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
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
                guard mode == "delete" else {
                    throw SightlineError(.store, "the copy stayed in journal mode \(mode ?? "unknown"); nothing was written to \(target.path)")
                }
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
            if link(partial, target.path) != 0 {
                let linkError = errno
                // Filesystems without hard links (SMB, some FUSE mounts): rename instead, after checking
                // the name is free (a file appearing in between would be replaced: link is preferred).
                guard [EPERM, ENOTSUP, EOPNOTSUPP].contains(linkError), !FileManager.default.fileExists(atPath: target.path),
                      rename(partial, target.path) == 0 else {
                    throw SightlineError(.store, "cannot name the backup \(target.path) (\(String(cString: strerror(linkError))))")
                }
            }
            try Self.syncFile(dir)
            return StoreBackup(path: target.path, bytes: Self.fileSize(target.path), records: summary.0, subjects: summary.1,
                               auditEntries: summary.2, latestCheckpointSize: summary.3)
        } catch let error as SightlineError {
            throw error
        } catch {
            throw SightlineError(.store, "the backup failed: \(error)")
        }
    }

    /// A file's size in bytes; 0 when it does not exist.
    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// fsync a file or a directory (so that a new name survives a crash).
    static func syncFile(_ path: String) throws(SightlineError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SightlineError(.store, "cannot open \(path) to sync it (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SightlineError(.store, "cannot sync \(path) (\(String(cString: strerror(errno))))") }
    }
}
