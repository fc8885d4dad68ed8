import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore
import SightlineStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and read the gateway's audit log (auditor role).",
        discussion: """
            The log is read over the API (--identity, an auditor's identity directory) or straight from a \
            copy of the gateway's SQLite file (--database, opened read-only). Exit codes: 0 verified / done; \
            1 failure or not verified.
            """,
        subcommands: [Verify.self, Entries.self, Checkpoint.self, Export.self])
}

/// Where the log is read from: the API, or a database file.
struct AuditSourceOptions: ParsableArguments {
    @Option(help: "Gateway base URL.") var gateway = "https://127.0.0.1:8443"
    @Option(help: "Auditor identity directory holding cert.pem, key.pem and ca.pem (read the log over the API).") var identity: String?
    @Option(help: "The gateway's SQLite file, opened read-only (read the log offline).") var database: String?
    @Flag(help: "Machine-readable JSON output.") var json = false

    func validate() throws {
        if identity != nil && database != nil { throw ValidationError("give --identity DIR (over the API) or --database FILE (offline), not both") }
    }

    func source() throws -> any AuditLogSource {
        if let database {
            guard FileManager.default.fileExists(atPath: database) else { fail("\(database): no such file; --database takes the gateway's SQLite file") }
            do { return DatabaseAuditSource(store: try SQLiteStore(path: database, readOnly: true)) } catch {
                fail("\(database): cannot open it read-only as a Sightline database")
            }
        }
        guard let identity else { fail("give --identity DIR (an auditor's identity, to read over the API) or --database FILE") }
        do { return APIAuditSource(client: try GatewayClient(baseURL: gateway, identityDirectory: identity)) } catch { fail(error.message) }
    }
}

/// Filters shared by `entries` and the store/API queries.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "Entries at or after this date or instant (2026-11-29 or 2026-11-29T12:00:00Z).") var since: String?
    @Option(help: "Entries before this date or instant.") var until: String?
    @Option(help: "Only this participant, e.g. school/100001.") var actor: String?
    @Option(help: "Only this action, e.g. submission, match, report, audit.entries.") var action: String?
    @Option(help: "Only this purpose, e.g. cme.") var purpose: String?
    @Option(help: "Only this decision: allow or deny.") var decision: String?
    @Option(help: "Only decisions made by this rule.") var rule: String?

    func validate() throws {
        for (name, value) in [("since", since), ("until", until)] {
            if let value, AuditWire.parseTime(value) == nil { throw ValidationError("--\(name) must be a date (2026-11-29) or an instant (2026-11-29T12:00:00Z)") }
        }
        if let decision, PolicyDecision.Effect(rawValue: decision) == nil { throw ValidationError("--decision must be allow or deny") }
    }

    func filter(from: Int64, limit: Int) -> AuditEntryFilter {
        var f = AuditEntryFilter(from: from, limit: limit)
        f.since = since.flatMap(AuditWire.parseTime); f.until = until.flatMap(AuditWire.parseTime)
        f.actor = actor; f.action = action; f.purpose = purpose; f.decision = decision; f.rule = rule
        return f
    }

    var query: String {
        [("since", since), ("until", until), ("actor", actor), ("action", action), ("purpose", purpose), ("decision", decision), ("rule", rule)]
            .compactMap { name, value in value.map { "&\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } }
            .joined()
    }
}

extension AuditCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every leaf and the root, check the signed checkpoints, and (with --checkpoint) that the log extends one saved earlier.",
            discussion: """
                Reads the log over the API (--identity), from a database file (--database) or from an export \
                (--export). Pin the log's verifier key with --verifier-key (as `audit checkpoint` prints it); \
                without it the key recorded in the log itself is used, which proves consistency but not who signed. \
                After `sightline keys rotate --kind audit` the key you pinned still verifies the whole log: the log names \
                the new key in an audit-key-rotated entry, and the new key is trusted only for checkpoints from the first \
                one by an already trusted key that covers that entry (the handover). Pinning only the new key verifies the \
                older checkpoints through the same entry. After a key compromise, pin the new key too (repeat \
                --verifier-key) once you have checked it out of band: no handover by the old key is then needed, and a \
                checkpoint by the old key larger than the first one by its successor is refused. The report names every \
                key it trusted and how. \
                With --database every entry's search columns (actor, action, decision, rule, purpose, time: what \
                `audit entries` filters on, and no hash covers) are held to the hashed entry too; over the API and from \
                an export only the hashed entries are seen. \
                Entries whose content the log's retention (policy audit-retention) pruned are checked by their stored \
                leaf hashes, which every checkpoint still binds, but only at the start of the log and only below the \
                boundary an audit.pruned entry by the gateway names, covered by a checkpoint you trust; the report \
                names the pruned entries. \
                On failure names the first entry that does not verify (and the column, for a search column) and exits 1.
                """)
        @OptionGroup var source: AuditSourceOptions
        @Option(help: "An export written by `sightline audit export` (verify without the gateway).") var export: String?
        @Option(help: "A checkpoint saved earlier by `audit checkpoint --out`, or an earlier export: the log must extend it.") var checkpoint: String?
        @Option(name: .customLong("verifier-key"), help: "A verifier key you trust, <name>+<key ID>+<key>; repeat to pin several (before and after a rotation).") var verifierKeys: [String] = []

        func validate() throws {
            let sources = [source.database != nil, source.identity != nil, export != nil].filter { $0 }.count
            guard sources == 1 else { throw ValidationError("give exactly one of --database FILE, --export FILE or --identity DIR (with --gateway URL)") }
            for key in verifierKeys where (try? NoteVerifierKey(parsing: key)) == nil {
                throw ValidationError("--verifier-key \(key.prefix(40)) is not <name>+<8 hex digits>+<base64 key>")
            }
        }

        func run() async throws {
            let logSource: any AuditLogSource
            if let export {
                do { logSource = try ExportAuditSource(path: export) } catch let e as CLIProblem { fail(e.message) }
            } else {
                logSource = try source.source()
            }
            let pinned = verifierKeys.compactMap { try? NoteVerifierKey(parsing: $0) }
            let report = await AuditLogCheck(source: logSource, pinned: pinned, savedPath: checkpoint).run()
            await logSource.close()
            report.print(json: source.json)
            if !report.ok { throw ExitCode(1) }
        }
    }

    struct Entries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List audit entries, filtered, as a table or JSON.",
            discussion: "An entry whose content the log's retention (policy audit-retention) pruned is listed as (content pruned): only its index and leaf hash remain.")
        @OptionGroup var source: AuditSourceOptions
        @OptionGroup var filters: AuditFilterOptions
        @Option(help: "Start at this entry index.") var from: Int64 = 0
        @Option(help: "At most this many entries.") var limit = 100

        func validate() throws {
            guard from >= 0 else { throw ValidationError("--from must be 0 or more") }
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let logSource = try source.source()
            var found: [AuditWire.Entry] = []
            var cursor: Int64? = from
            do {
                while let start = cursor, found.count < limit {
                    let page = try await logSource.entries(filters: filters, from: start, limit: min(limit - found.count, 10_000))
                    found += page.entries
                    cursor = page.next
                }
            } catch let e as CLIProblem {
                await logSource.close(); fail(e.message)
            }
            await logSource.close()
            if source.json {
                printJSON(found)
                return
            }
            print(["INDEX", "TIME", "ACTOR", "ACTION", "PURPOSE", "DECISION", "RULE", "COUNTS"].joined(separator: "\t"))
            for e in found {
                if e.isPruned {
                    // Only the index and leaf hash remain: the audit log's retention removed the rest.
                    print(["\(e.index)", "-", "-", "(content pruned)", "-", "-", "-", "-"].joined(separator: "\t"))
                    continue
                }
                let o = e.entry?.objectValue ?? [:]
                func text(_ key: String) -> String { o[key]?.stringValue ?? "-" }
                let counts = (o["counts"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
                    .map { "\($0.key)=\(CanonicalJSON.string($0.value))" }.joined(separator: ",")
                print(["\(e.index)", text("time"), text("actor"), text("action"), text("purpose"), text("decision"), text("rule"),
                       counts.isEmpty ? "-" : counts].joined(separator: "\t"))
            }
            if let next = cursor, found.count >= limit { print("... more from --from \(next)") }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save the current signed checkpoint (C2SP signed note) and print the log's verifier key.",
            discussion: "Keep the file: `audit verify --checkpoint FILE` later proves the log only grew since.")
        @OptionGroup var source: AuditSourceOptions
        @Option(help: "Write the signed note to this file.") var out: String?

        func run() async throws {
            let logSource = try source.source()
            let current: AuditWire.Checkpoint?
            do { current = try await logSource.checkpoint() } catch let e as CLIProblem { await logSource.close(); fail(e.message) }
            await logSource.close()
            guard let current else { fail("the log has no signed checkpoint yet; ask the gateway for one over the API (--identity)") }
            if let out {
                do { try Data(current.note.utf8).write(to: URL(fileURLWithPath: out)) } catch { fail("cannot write \(out)") }
            }
            if source.json { printJSON(current); return }
            print("checkpoint: \(current.size) entries, root \(current.rootHash), signed \(Instant.format(current.time)) for \(current.origin)")
            if let out { print("saved to \(out)") } else { print(current.note) }
            print("verifier key (pin it, e.g. with `audit verify --verifier-key`):\n\(current.verifierKey)")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the log as NDJSON with its signed checkpoint, for an archive that `audit verify --export` checks anywhere.",
            discussion: "Line 1 is the header (format, checkpoint, verifier key); then one line per entry with its exact bytes in base64 (for an entry whose content the log's retention pruned: empty, with its leaf hash and \"pruned\": true); then earlier checkpoints the log kept.")
        @OptionGroup var source: AuditSourceOptions
        @Option(help: "File to write.") var out: String

        func run() async throws {
            let logSource = try source.source()
            do {
                let summary = try await writeExport(logSource)
                await logSource.close()
                if source.json { printJSON(summary) } else {
                    print("exported \(summary.entries) entries to \(out) (checkpoint \(summary.entries), root \(summary.rootHash))")
                    print("verifier key: \(summary.verifierKey)")
                }
            } catch let e as CLIProblem {
                await logSource.close(); fail(e.message)
            }
        }

        struct Summary: Encodable { var file: String; var entries: Int64; var rootHash: String; var verifierKey: String; var storedCheckpoints: Int }

        func writeExport(_ logSource: any AuditLogSource) async throws -> Summary {
            guard let checkpoint = try await logSource.checkpoint() else {
                throw CLIProblem("the log has no signed checkpoint yet; export over the API (--identity), which signs one")
            }
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw CLIProblem("cannot create \(out)")
            }
            defer { try? handle.close() }
            let encoder = AuditWire.encoder
            func line<T: Encodable>(_ value: T) throws { try handle.write(contentsOf: try encoder.encode(value) + Data("\n".utf8)) }
            try line(AuditWire.ExportHeader(exportedAt: Date(), checkpoint: checkpoint))
            var next: Int64 = 0
            while next < checkpoint.size {
                let page = try await logSource.entries(filters: nil, from: next, limit: Int(min(10_000, checkpoint.size - next)))
                guard !page.entries.isEmpty else { throw CLIProblem("the log ends at entry \(next), before its checkpoint's \(checkpoint.size) entries") }
                for e in page.entries where e.index < checkpoint.size {
                    try line(AuditWire.Entry(index: e.index, leafHash: e.leafHash, canonical: e.canonical, pruned: e.isPruned ? true : nil))
                }
                next = page.entries.last!.index + 1
            }
            let history = try await logSource.storedCheckpoints().filter { $0.size <= checkpoint.size && $0.note != checkpoint.note }
            for c in history { try line(AuditWire.ExportStoredCheckpoint(storedCheckpoint: c.note)) }
            return Summary(file: out, entries: checkpoint.size, rootHash: checkpoint.rootHash, verifierKey: checkpoint.verifierKey, storedCheckpoints: history.count)
        }
    }
}

/// A problem the user must fix, turned into `fail` at the command's edge.
struct CLIProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
