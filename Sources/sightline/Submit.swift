import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit records from CSV (through a column mapping) or NDJSON files.",
        discussion: "Safe to re-run: batches carry idempotency keys derived from the file content.")

    @OptionGroup var options: GatewayOptions
    @Argument(help: "Files to submit.") var files: [String]
    @Option(help: "Record kind: \(RecordKind.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: String
    @Option(help: "Column mapping for CSV files (see ops/mappings/).") var mapping: String?
    @Option(help: "csv or ndjson; by default from the file extension.") var format: String?
    @Option(name: .customLong("batch-size"), help: "Records per request.") var batchSize = 2000
    @Flag(help: "Print nothing but problems (rejected records, failures) on standard error: for scheduled runs.") var quiet = false

    func validate() throws {
        guard RecordKind(rawValue: kind) != nil else {
            throw ValidationError("unknown --kind \(kind); expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let format, !["csv", "ndjson"].contains(format) { throw ValidationError("--format is csv or ndjson") }
        guard (1...50_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1-50000") }
    }

    struct Summary: Encodable {
        var files: [Submitter.FileResult]
        var records: Int
        var accepted: Int
        var rejected: Int
        var failed: Bool
    }

    func run() async throws {
        let kind = RecordKind(rawValue: kind)!
        var columnMapping: ColumnMapping? = nil
        if let mapping {
            do { columnMapping = try ColumnMapping.load(path: mapping) } catch { fail(error.message) }
        }
        let client = try options.client()
        var submitter = Submitter(client: client)
        submitter.batchSize = batchSize
        var results: [Submitter.FileResult] = []
        let showProgress = !options.json && isatty(STDERR_FILENO) == 1
        for file in files {
            let fileFormat = format ?? (file.lowercased().hasSuffix(".csv") ? "csv" : "ndjson")
            // A CSV export carries no observation time: use when the file was written (the
            // extract time), so re-running the same file sends the same bytes and stays idempotent.
            let modified = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? nil
            let observedAt = Instant.format(Date(timeIntervalSince1970: (modified ?? Date()).timeIntervalSince1970.rounded(.down)))
            let prepared: (records: [Submitter.PreparedRecord], rejected: [RecordRejection], content: Data)
            do {
                prepared = try Submitter.prepare(file: file, format: fileFormat, kind: kind, mapping: columnMapping, observedAt: observedAt)
            } catch {
                try? await client.shutdown()
                fail("\(file): \(error.message)")
            }
            let bar = showProgress && !quiet ? ProgressBar(label: (file as NSString).lastPathComponent, total: prepared.records.count) : nil
            let onProgress: (@Sendable (Int) -> Void)? = bar.map { b in { @Sendable n in b.advance(n) } }
            let result = await submitter.send(file: file, kind: kind, prepared: prepared, progress: onProgress)
            bar?.finish()
            results.append(result)
            if quiet { printProblems(result) } else if !options.json { printSummary(result) }
        }
        try? await client.shutdown()
        let summary = Summary(files: results, records: results.reduce(0) { $0 + $1.records },
                              accepted: results.reduce(0) { $0 + $1.accepted },
                              rejected: results.reduce(0) { $0 + $1.rejected.count },
                              failed: results.contains { !$0.failures.isEmpty })
        if options.json { printJSON(summary) }
        else if results.count > 1 && !quiet { print("total: \(summary.records) records, \(summary.accepted) accepted, \(summary.rejected) rejected") }
        if summary.failed { throw ExitCode(1) }
        if summary.rejected > 0 { throw ExitCode(3) }
    }

    /// For --quiet: only what someone must act on, on standard error.
    func printProblems(_ r: Submitter.FileResult) {
        var lines: [String] = []
        for rejection in r.rejected {
            lines.append("\(r.file): line \(rejection.line)\(rejection.localRef.map { " [\($0)]" } ?? ""): \(rejection.field.isEmpty ? "record" : rejection.field): \(rejection.reason)")
        }
        for failure in r.failures { lines.append("\(r.file): FAILED \(failure)") }
        if !lines.isEmpty { FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8)) }
    }

    func printSummary(_ r: Submitter.FileResult) {
        print("\(r.file): \(r.records) records, \(r.accepted) accepted (\(r.created) new, \(r.updated) updated), \(r.rejected.count) rejected"
              + (r.replayedBatches > 0 ? "; \(r.replayedBatches) batch(es) already submitted earlier" : ""))
        if let first = r.auditIndexes.min(), let last = r.auditIndexes.max() {
            print("  audit entries \(first)...\(last); submissions \(r.submissions.count)")
        }
        for rejection in r.rejected.prefix(20) {
            let ref = rejection.localRef.map { " [\($0)]" } ?? ""
            print("  line \(rejection.line)\(ref): \(rejection.field.isEmpty ? "record" : rejection.field): \(rejection.reason)")
        }
        if r.rejected.count > 20 { print("  ... and \(r.rejected.count - 20) more (use --json for all)") }
        for failure in r.failures { print("  FAILED \(failure)") }
    }
}

/// A one-line progress bar on standard error, for terminals only.
final class ProgressBar: @unchecked Sendable {
    let label: String
    let total: Int
    private var done = 0
    private let lock = NSLock()

    init(label: String, total: Int) { self.label = label; self.total = total; draw() }

    func advance(_ n: Int) { lock.lock(); done += n; lock.unlock(); draw() }

    func draw() {
        lock.lock(); defer { lock.unlock() }
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}
