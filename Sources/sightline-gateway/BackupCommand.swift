import ArgumentParser
import Foundation
import SightlineCore
import SightlineStore

/// `sightline-gateway backup --out FILE`: a consistent copy of the SQLite store, taken while the
/// gateway serves (ops/RUNBOOK.md, "Back up").
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the SQLite store while the gateway serves (never the key file).")
    @OptionGroup var location: Forwards.Location
    @Option(help: "The backup file to create (refused if it exists).") var out: String

    func run() async throws {
        let path = try location.databasePath()
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no database at \(path)") }
        let started = Date()
        let backup: StoreBackup
        do {
            let store = try SQLiteStore(path: path, readOnly: true)
            backup = try store.backup(to: out)
        } catch let error as SightlineError {
            FileHandle.standardError.write(Data("sightline-gateway backup: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let checkpoint = backup.latestCheckpointSize.map { "the latest signed checkpoint covers \($0) entries" } ?? "no signed checkpoint yet"
        print("""
            backup written: \(backup.path) (\(backup.bytes) bytes, mode 0600) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s
              \(backup.records) records, \(backup.subjects) children, \(backup.auditEntries) audit entries; \(checkpoint)
              SQLite quick_check: ok
            It is pseudonymised personal data (no raw identifier; minimised fields in clear): handle it
            as such, and keep the key file's own backup apart from it (ops/RUNBOOK.md, "Back up"). Check it with:
              sightline audit verify --database \(backup.path) --verifier-key KEY
            """)
    }
}
