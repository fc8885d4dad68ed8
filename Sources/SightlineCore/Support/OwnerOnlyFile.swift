import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files only their owner may read: private keys, the key file, the database.
public enum OwnerOnlyFile {
    /// Writes `data` to `path` at mode 0600 from the first byte, whatever the umask, and says so if
    /// it could not: a key that silently failed to reach the disk is found only when it is needed.
    /// An existing file is replaced and made 0600; a symbolic link at `path` is refused.
    public static func write(_ data: Data, to path: String, what: String) throws(SightlineError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SightlineError(.keyFile, "cannot create \(what) \(path) (\(String(cString: strerror(errno)))); check the directory exists and is writable")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        // An existing file keeps its mode through open(2): narrow it before the secret is written.
        guard fchmod(fd, 0o600) == 0 else {
            throw SightlineError(.keyFile, "cannot make \(what) \(path) mode 0600 (\(String(cString: strerror(errno))))")
        }
        do { try handle.write(contentsOf: data); try handle.synchronize() } catch {
            throw SightlineError(.keyFile, "cannot write \(what) \(path) (\(error)); nothing usable was written, check free space and retry")
        }
    }

    /// Refuses a file that group or others can read or write, naming the fix.
    public static func requireOwnerOnly(_ path: String, what: String, code: SightlineError.Code) throws(SightlineError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard mode & 0o077 == 0 else {
            throw SightlineError(code, "\(what) \(path) is mode \(String(format: "%04o", mode)); it must be readable by its owner only: run chmod 600 \(path)")
        }
    }
}
