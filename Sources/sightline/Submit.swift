import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit records from CSV (through a column mapping), NDJSON, a DfE Common Transfer File or FHIR Patient NDJSON.",
        discussion: """
            Safe to re-run: batches carry idempotency keys derived from the file content.
            --format ctf reads a CTF (version 20 or later) of the school whose identity is used; its records are \
            school.enrolment and school.attendance, so --kind is not given. --format fhir reads FHIR R4 Patient \
            resources, one a line, as nhs.gp-registration records.
            """)

    @OptionGroup var options: GatewayOptions
    @Argument(help: "Files to submit.") var files: [String]
    @Option(help: "Record kind, for CSV and NDJSON files: \(RecordKind.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: String?
    @Option(help: "Column mapping for CSV files (see ops/mappings/).") var mapping: String?
    @Option(help: "csv, ndjson, ctf or fhir; by default from the file extension (.csv, .xml is ctf, else ndjson).") var format: String?
    @Option(help: "For a CTF: the school's DfE number (LA code and establishment number, e.g. 3042001), checked against the file's header.")
    var laestab: String?
    @Option(name: .customLong("batch-size"), help: "Records per request.") var batchSize = 2000
    @Flag(help: "Print nothing but problems (rejected records, failures) on standard error: for scheduled runs.") var quiet = false
    @Flag(help: "Read and check the files and say what would be sent; send nothing (no gateway is contacted).") var check = false

    static let formats = ["csv", "ndjson", "ctf", "fhir"]

    func fileFormat(_ file: String) -> String {
        if let format { return format }
        let lower = file.lowercased()
        return lower.hasSuffix(".csv") ? "csv" : lower.hasSuffix(".xml") ? "ctf" : "ndjson"
    }

    func validate() throws {
        if let kind, RecordKind(rawValue: kind) == nil {
            throw ValidationError("unknown --kind \(kind); expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let format, !Self.formats.contains(format) { throw ValidationError("--format is csv, ndjson, ctf or fhir") }
        for file in files {
            switch fileFormat(file) {
            case "ctf":
                if kind != nil { throw ValidationError("\(file): a CTF's records are school.enrolment and school.attendance, from the file; leave out --kind") }
            case "fhir":
                if let kind, kind != RecordKind.gpRegistration.rawValue {
                    throw ValidationError("\(file): FHIR Patient resources become \(RecordKind.gpRegistration.rawValue) records; leave out --kind")
                }
            default:
                if kind == nil { throw ValidationError("\(file): --kind is needed for CSV and NDJSON files") }
            }
        }
        if let laestab, laestab.count != 7 || !laestab.allSatisfy(\.isASCII) || Int(laestab) == nil {
            throw ValidationError("--laestab is the 7-digit DfE number: LA code and establishment number, e.g. 3042001")
        }
        guard (1...50_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1-50000") }
    }

    struct Summary: Encodable {
        var files: [Submitter.FileResult]
        var records: Int
        var accepted: Int
        var rejected: Int
        var failed: Bool
        /// false for --check: the files were read, nothing was sent.
        var sent: Bool
    }

    func run() async throws {
        var columnMapping: ColumnMapping? = nil
        if let mapping {
            do { columnMapping = try ColumnMapping.load(path: mapping) } catch { fail(error.message) }
        }
        let client = try options.client()
        var submitter = Submitter(client: client)
        submitter.batchSize = batchSize
        var results: [Submitter.FileResult] = []
        let showProgress = !options.json && !quiet && !check && isatty(STDERR_FILENO) == 1
        for file in files {
            let fileFormat = fileFormat(file)
            // A CSV export carries no observation time: use when the file was written (the
            // extract time), so re-running the same file sends the same bytes and stays idempotent.
            let modified = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? nil
            let observedAt = Instant.format(Date(timeIntervalSince1970: (modified ?? Date()).timeIntervalSince1970.rounded(.down)))
            let result: Submitter.FileResult
            if fileFormat == "ctf" {
                result = await submitCTF(file, client: client, submitter: submitter, observedAt: observedAt, showProgress: showProgress)
            } else {
                let kind = kind.flatMap(RecordKind.init(rawValue:)) ?? .gpRegistration
                let prepared: (records: [Submitter.PreparedRecord], rejected: [RecordRejection], content: Data)
                do {
                    prepared = try Submitter.prepare(file: file, format: fileFormat, kind: kind, mapping: columnMapping, observedAt: observedAt)
                } catch {
                    try? await client.shutdown()
                    fail("\(file): \(error.message)")
                }
                if check {
                    var checked = Submitter.FileResult(file: file)
                    checked.records = prepared.records.count + prepared.rejected.count
                    checked.rejected = prepared.rejected
                    result = checked
                } else {
                    let bar = showProgress ? ProgressBar(label: (file as NSString).lastPathComponent, total: prepared.records.count) : nil
                    let onProgress: (@Sendable (Int) -> Void)? = bar.map { b in { @Sendable n in b.advance(n) } }
                    result = await submitter.send(file: file, kind: kind, prepared: prepared, progress: onProgress)
                    bar?.finish()
                }
            }
            results.append(result)
            if quiet { printProblems(result) } else if !options.json { check ? printChecked(result) : printSummary(result) }
        }
        try? await client.shutdown()
        let summary = Summary(files: results, records: results.reduce(0) { $0 + $1.records },
                              accepted: results.reduce(0) { $0 + $1.accepted },
                              rejected: results.reduce(0) { $0 + $1.rejected.count },
                              failed: results.contains { !$0.failures.isEmpty }, sent: !check)
        if options.json { printJSON(summary) }
        else if results.count > 1 && !quiet { print("total: \(summary.records) records, \(summary.accepted) accepted, \(summary.rejected) rejected") }
        if summary.failed { throw ExitCode(1) }
        if summary.rejected > 0 { throw ExitCode(3) }
    }

    /// A CTF: the school of the client's certificate must be the file's, the whole file is
    /// checked before anything is sent, then it is read again as it is sent.
    func submitCTF(_ file: String, client: GatewayClient, submitter: Submitter, observedAt: String, showProgress: Bool) async -> Submitter.FileResult {
        func refuse(_ message: String) async -> Never {
            try? await client.shutdown()
            fail("\(file): refused, nothing sent: \(message)")
        }
        guard client.identity.kind == Role.school.rawValue else {
            await refuse("a CTF is a school's file, and this identity is \(client.identity.kind)/\(client.identity.id); use the school's identity")
        }
        let reference: PupilReference
        do {
            let loaded = try PupilReference.load(identityDirectory: options.identity)
            reference = loaded.reference
            if loaded.created && !quiet {
                FileHandle.standardError.write(Data("sightline: made \(options.identity)/\(PupilReference.fileName), the key of this school's pupil references in CTF records; back it up with the identity\n".utf8))
            }
        } catch { await refuse(error.message) }
        let ctf = CTFImport(path: file, sender: CTFSender(urn: client.identity.id, laestab: laestab), reference: reference, fallbackObservedAt: observedAt)
        let checked: CTFImport.Summary
        do { checked = try ctf.check() } catch { await refuse(error.message) }
        if check {
            var result = Submitter.FileResult(file: file)
            result.records = checked.records
            result.rejected = checked.rejected
            return result
        }
        let bar = showProgress ? ProgressBar(label: (file as NSString).lastPathComponent, total: checked.records - checked.rejected.count) : nil
        let onProgress: (@Sendable (Int) -> Void)? = bar.map { b in { @Sendable n in b.advance(n) } }
        let result = await submitter.send(file: file, contentDigest: ctf.contentDigest(checked), progress: onProgress, produce: ctf.producer(checked: checked))
        bar?.finish()
        return result
    }

    /// For --check: what would be sent.
    func printChecked(_ r: Submitter.FileResult) {
        print("\(r.file): \(r.records) records read, \(r.records - r.rejected.count) would be sent, \(r.rejected.count) rejected here; nothing sent")
        for rejection in r.rejected.prefix(20) {
            print("  line \(rejection.line): \(rejection.field.isEmpty ? "record" : rejection.field): \(rejection.reason)")
        }
        if r.rejected.count > 20 { print("  ... and \(r.rejected.count - 20) more (use --json for all)") }
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
