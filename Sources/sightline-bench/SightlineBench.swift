import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import SightlineClient
import SightlineCore

@main
struct SightlineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sightline-bench",
        abstract: "Sightline's figures beside their baselines, measured in the same run (see ops/benchmarks.md).",
        discussion: """
        Run from the repository root, with the release build of the gateway next to this binary:
          swift build -c release --scratch-path .build-release
          swift run -c release --scratch-path .build-release sightline-bench [--quick | --children N]
        Figures: 1 validation + pseudonymisation in process; 2 end-to-end ingest over mTLS;
        3 single-record submissions; 4 match latency and the missing-education report;
        5 audit append and verification; 6 the daemon's peak memory (during 2 and 4); 7 a retention
        sweep; 8 key rotation; 9 the submission commit alone, in process.
        Figures are printed, never asserted.
        """)

    @Option(help: "Children in the synthetic data set (ops/sample-data/generate.py --children).") var children: Int?
    @Flag(help: "A smoke run: 2,000 children, 20,000 audit entries, short phases.") var quick = false
    @Option(name: .customLong("audit-entries"), help: "Audit log size for figure 5 (default 1,000,000; 20,000 with --quick).") var auditEntries: Int?
    @Option(help: "Figures to run, e.g. 1,2,5 (3, 4, 7 and 8 imply the ingest of 2; 6 is measured with 2 and 4; 7 deletes what 2 loaded; 8 rotates every key on it).") var only: String?
    @Option(help: "Scratch directory: data sets, gateway state, baseline databases.") var work = "/tmp/sightline-bench"
    @Option(help: "Repository root (Policies/, ops/).") var repo = "."
    @Option(name: .customLong("gateway-binary"), help: "The daemon (default: sightline-gateway next to this binary).") var gatewayBinary: String?
    @Option(name: .customLong("gateway-prefix"), help: "Run the daemon under this command, e.g. \"valgrind --tool=callgrind\".") var gatewayPrefix: String?
    @Option(name: .customLong("gateway-log-level"), help: "The daemon's --log-level.") var gatewayLogLevel = "info"
    @Option(name: .customLong("ready-timeout"), help: "Seconds to wait for /readyz.") var readyTimeout = 60.0
    @Option(help: "API port of the benchmark gateway.") var port = 18443
    @Option(name: .customLong("ops-port"), help: "Ops port of the benchmark gateway.") var opsPort = 19464
    @Option(help: "Ingest: batches in flight per agency (7 agencies send at once).") var connections = 2
    @Option(name: .customLong("batch-size"), help: "Ingest: records per submission.") var batchSize = 2000
    @Option(help: "Concurrent keep-alive clients for figures 3 and 4.") var clients = 4
    @Option(help: "Seconds per closed-loop phase of figure 3 (default 15; 3 with --quick).") var seconds: Double?
    @Option(help: "Match requests per client in figure 4 (default 500; 100 with --quick).") var matches: Int?
    @Option(help: "Repetitions of the cheap measurements (medians are reported).") var repetitions = 3
    @Option(help: "Also write the results table (Markdown) to this file.") var out: String?
    @Flag(help: "Keep the gateway's state directory after the run.") var keep = false
    @Option(name: .customLong("loaded-state"), help: "Run figures 7 and 8 on the state directory an earlier run kept (--keep, or a run that stopped after figure 2), without generating or ingesting again; figure 8 skips a rotation the store has already completed. 7 deletes that state's data.") var loadedState: String?
    @Option(help: "Profile with `perf record` during ingest, single-record submissions, matches and the report, into DIR/<phase>.perf.data (figures taken under the profiler are slower).") var perf: String?

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)  // progress shows as it happens, also when piped to a file
        let repository = URL(fileURLWithPath: repo).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: repository + "/Policies") else {
            throw ValidationError("\(repository) has no Policies/; run from the repository root or pass --repo")
        }
        let childCount = children ?? (quick ? 2000 : 100_000)
        let auditCount = auditEntries ?? (quick ? 20_000 : 1_000_000)
        let phaseSeconds = seconds ?? (quick ? 3 : 15)
        let matchesPerClient = matches ?? (quick ? 100 : 500)
        let figures = try selectedFigures()
        let binary = gatewayBinary ?? Self.besideThisBinary("sightline-gateway")
        let prefix = gatewayPrefix.map { $0.split(separator: " ").map(String.init) } ?? []
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        let machine = Machine.describe(repository: repository, binary: binary)
        let loadAtStart = loadAverage()
        let command = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        print("sightline-bench: \(machine.date)")
        print(machine.lines.joined(separator: "\n"))
        print("command: \(command)")
        print("figures: \(figures.sorted().map(String.init).joined(separator: ",")); children: \(childCount); audit entries: \(auditCount)")

        let table = ResultsTable()
        let policy = try PolicyLoader.load(directory: repository + "/Policies")

        if let loadedState {
            guard figures.isSubset(of: [7, 8]) else { throw ValidationError("--loaded-state runs figures 7 and 8 only (--only 7,8)") }
            try await runOnLoadedState(loadedState, figures: figures, repository: repository, table: table)
            try report(table: table, machine: machine, command: command, loadAtStart: loadAtStart)
            return
        }

        var files: [PreparedFile] = []
        if !figures.isDisjoint(with: [1, 2, 3, 4, 7, 8, 9]) {
            section("data")
            let dataDir = "\(work)/data-\(childCount)"
            try SyntheticData.ensure(children: childCount, directory: dataDir, repository: repository)
            let plan = AgencyFile.plan(dataDirectory: dataDir, repository: repository)
            let prepSeconds = try timed { files = try SyntheticData.prepare(plan) }
            let total = files.reduce(0) { $0 + $1.prepared.records.count }
            print("prepared \(total) records from \(files.count) files in \(String(format: "%.1f", prepSeconds)) s (CSV through ops/mappings/, as `sightline submit` does)")
        }

        if figures.contains(1) {
            try PseudonymisationBench.run(files: files, policy: policy, repetitions: repetitions, table: table)
        }

        if !figures.isDisjoint(with: [2, 3, 4, 7, 8]) {
            try await runAgainstGateway(
                figures: figures, files: files, binary: binary, prefix: prefix, repository: repository, table: table,
                phaseSeconds: phaseSeconds, matchesPerClient: matchesPerClient, childCount: childCount)
        }

        if figures.contains(9) {
            try await StoreCommitBench.run(files: files, policy: policy, work: work, batchSize: batchSize, repetitions: repetitions, table: table)
        }

        if figures.contains(5) {
            try await AuditBench.run(entries: auditCount, directory: work + "/audit", policyVersion: policy.version,
                                     repetitions: repetitions, table: table)
        }

        try report(table: table, machine: machine, command: command, loadAtStart: loadAtStart)
    }

    func report(table: ResultsTable, machine: Machine, command: String, loadAtStart: String) throws {
        let markdown = """
        Run \(machine.date); \(machine.lines.joined(separator: "; "))
        Command: `\(command)`; load average (1/5/15 min) at start \(loadAtStart), at end \(loadAverage())

        \(table.markdown())
        """
        section("results (ratio = Sightline ÷ baseline)")
        print(markdown)
        let resultsPath = out ?? "\(work)/results-\(machine.stamp).md"
        try Data(markdown.utf8).write(to: URL(fileURLWithPath: resultsPath))
        print("written to \(resultsPath)")
    }

    /// Figures 2, 3, 4 (and 6): one gateway process, data ingested once.
    func runAgainstGateway(figures: Set<Int>, files: [PreparedFile], binary: String, prefix: [String], repository: String,
                           table: ResultsTable, phaseSeconds: Double, matchesPerClient: Int, childCount: Int) async throws {
        section("gateway")
        let gateway = try await BenchGateway.prepare(binary: binary, state: "\(work)/state-\(childCount)", repository: repository,
                                                     port: port, opsPort: opsPort, readyTimeout: readyTimeout)
        print("gateway: serve --config \(gateway.configPath) (matches-per-minute \(BenchGateway.matchesPerMinute), match-burst \(BenchGateway.matchBurst); log level \(gatewayLogLevel))")
        table.note("figures 2-4 ran against `sightline-gateway serve --config` with the dev partnership's gateway.yaml, except limits.matches-per-minute \(formatNumber(Double(BenchGateway.matchesPerMinute))) and match-burst \(formatNumber(Double(BenchGateway.matchBurst))) (shipped: 60 and 20), so figure 4 measures the match path, not the rate limit")
        let process = try await gateway.start(binary: binary, prefix: prefix, readyTimeout: readyTimeout, logLevel: gatewayLogLevel)
        print("gateway: pid \(process.pid), ready; RSS \(mebibytes(kilobytes: process.residentKilobytes()))")
        do {
            try await gatewayPhases(figures: figures, files: files, gateway: gateway, process: process, table: table,
                                                       phaseSeconds: phaseSeconds, matchesPerClient: matchesPerClient)
        } catch {
            await process.stop()
            throw error
        }
        await process.stop()
        print("gateway: stopped (\(process.process.ending)); log: \(process.log)")
        try await storeFigures(figures, state: gateway.state, repository: repository, table: table)
        if !keep { try? FileManager.default.removeItem(atPath: gateway.state) }
    }

    /// Figures 7 and 8 on a state directory an earlier run loaded (the gateway not running).
    func runOnLoadedState(_ state: String, figures: Set<Int>, repository: String, table: ResultsTable) async throws {
        guard FileManager.default.fileExists(atPath: state + "/sightline.sqlite"), FileManager.default.fileExists(atPath: state + "/keys.json") else {
            throw ValidationError("\(state) holds no sightline.sqlite and keys.json from an earlier run")
        }
        section("loaded state")
        let counts = SQLiteBaselines.counts(databasePath: state + "/sightline.sqlite")
        print("store: \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        table.note("figures \(figures.sorted().map(String.init).joined(separator: ",")) ran on the store an earlier run loaded (\(state)), not on a fresh ingest")
        try await storeFigures(figures, state: state, repository: repository, table: table)
    }

    func storeFigures(_ figures: Set<Int>, state: String, repository: String, table: ResultsTable) async throws {
        if figures.contains(8) {
            section("8. key rotation, each kind (the gateway stopped; on what 2-4 loaded)")
            try await KeyRotationBench.run(statePath: state, work: work, table: table)
        }
        if figures.contains(7) {
            section("7. retention sweep as of seven years on (the gateway stopped; deletes what 2-4 loaded)")
            try await RetentionBench.run(databasePath: state + "/sightline.sqlite", policyDirectory: repository + "/Policies",
                                         work: work, table: table)
        }
    }

    func gatewayPhases(figures: Set<Int>, files: [PreparedFile], gateway: BenchGateway, process: GatewayProcess, table: ResultsTable,
                       phaseSeconds: Double, matchesPerClient: Int) async throws {
        // 2. Ingest (also loads the data the later figures need).
        section("2. end-to-end ingest over mTLS (7 agencies at once, \(connections) batches in flight each, \(batchSize) records a batch)")
        let peakReset = process.resetPeak()
        var sampler = MemorySampler(pid: process.pid)
        var recording = try await startPerf("ingest", process)
        let ingest = try await IngestBench.run(files: files, gateway: gateway, connections: connections, batchSize: batchSize)
        await recording?.stop()
        let ingestPeak = process.peakResidentKilobytes()
        let ingestSampled = sampler.stop()
        print("sent \(ingest.sent) records in \(String(format: "%.1f", ingest.seconds)) s: \(ingest.accepted) accepted, \(ingest.rejectedByGateway) rejected by the gateway")
        for f in ingest.failures.prefix(5) { print("  FAILED \(f)") }
        guard ingest.failures.isEmpty else { throw BenchError("\(ingest.failures.count) batches failed; see \(process.log)") }
        let counts = SQLiteBaselines.counts(databasePath: gateway.config.databasePath)
        print("gateway store: \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        var bulk: [Double] = []
        for i in 0..<repetitions {
            bulk.append(try SQLiteBaselines.bulkInsert(rows: ingest.sent, path: work + "/baseline-bulk.sqlite"))
            print(String(format: "  baseline run %d: %d rows in one transaction, %.2f s", i + 1, ingest.sent, bulk[i]))
        }
        let sent = Double(ingest.sent)
        if figures.contains(2) {
            table.add("2", "ingest over mTLS, SightlineClient Submitter (\(formatNumber(sent)) records, \(formatNumber(Double(counts["subject"] ?? 0))) subjects)",
                      rate(sent / ingest.seconds, "records/s"),
                      baseline: "bare SQLite insert, same rows, one transaction (median of \(repetitions))", rate(sent / median(bulk), "rows/s"),
                      ratio: median(bulk) / ingest.seconds)
            table.add("6", "daemon peak RSS during 2 (VmHWM\(peakReset ? ", reset before the phase" : " since start"))",
                      mebibytes(kilobytes: ingestPeak), baseline: "sampled VmRSS max (every 200 ms)", mebibytes(kilobytes: ingestSampled))
        }

        // The null request: what mTLS + HTTP + routing + identity cost on their own.
        var null: LoadResult?
        if !figures.isDisjoint(with: [3, 4]) {
            section("null request: GET /v1/reports/no-such-report (404 after identity, no store access), \(clients) keep-alive clients, \(phaseSeconds) s")
            let partners = try (0..<clients).map { _ in try GatewayClient(baseURL: gateway.baseURL, identityDirectory: gateway.identity("partner-304-cme")) }
            let r = await ClosedLoop.run(clients: partners, warmup: 20, seconds: phaseSeconds, send: RequestBench.nullRequest)
            for c in partners { try? await c.shutdown() }
            print("\(r.count) requests, \(formatNumber(r.perSecond))/s; p50 \(ms(r.p(50))), p99 \(ms(r.p(99))); statuses \(r.byStatus.mapValues(\.count)); errors \(r.errors.count)")
            null = r
        }

        if figures.contains(3) {
            section("3. single-record submissions (new GP registrations of known children), \(clients) keep-alive mTLS clients (nhs/Y12345), \(phaseSeconds) s")
            let templates = try RequestBench.singleRecordTemplates(files: files)
            let nhs = try (0..<clients).map { _ in try GatewayClient(baseURL: gateway.baseURL, identityDirectory: gateway.identity("nhs-Y12345")) }
            recording = try await startPerf("single", process)
            let r = await ClosedLoop.run(clients: nhs, warmup: 10, seconds: phaseSeconds,
                                         send: RequestBench.submitOne(templates: templates, run: String(Int(Date().timeIntervalSince1970))))
            await recording?.stop()
            for c in nhs { try? await c.shutdown() }
            let created = r.byStatus[201]?.count ?? 0
            print("\(r.count) requests (\(created) created), \(formatNumber(r.perSecond))/s; p50 \(ms(r.p(50))), p99 \(ms(r.p(99))); statuses \(r.byStatus.mapValues(\.count)); errors \(r.errors.count)")
            for e in Set(r.errors).prefix(3) { print("  error: \(e)") }
            let commits = min(max(r.count, 500), 5000)
            let (wall, latencies) = try SQLiteBaselines.singleRowCommits(commits, path: work + "/baseline-commits.sqlite")
            let singleCommitRate = Double(commits) / wall
            let label = "bare SQLite one-row commits, WAL + synchronous FULL, sequential (\(commits))"
            table.add("3", "single-record submissions, \(clients) clients", rate(r.perSecond, "requests/s"),
                      baseline: label, rate(singleCommitRate, "commits/s"), ratio: r.perSecond / singleCommitRate)
            table.add("3", "single-record submission p50", ms(r.p(50)), baseline: "one-row commit p50", ms(percentile(latencies, 50)),
                      ratio: r.p(50) / percentile(latencies, 50))
            table.add("3", "single-record submission p99", ms(r.p(99)), baseline: "one-row commit p99", ms(percentile(latencies, 99)),
                      ratio: r.p(99) / percentile(latencies, 99))
            if let null {
                table.add("3", "single-record submissions, \(clients) clients", rate(r.perSecond, "requests/s"),
                          baseline: "null mTLS request (404 after identity), \(clients) clients", rate(null.perSecond, "requests/s"),
                          ratio: r.perSecond / null.perSecond)
            }
            if !r.errors.isEmpty || created != r.count { table.note("figure 3: \(r.errors.count) transport errors, statuses \(r.byStatus.mapValues(\.count))") }
        }

        if figures.contains(4) {
            section("4. match (POST /v1/match as partner/304-cme, purpose cme), \(clients) clients × \(matchesPerClient)")
            process.resetPeak()
            sampler = MemorySampler(pid: process.pid)
            let ids = RequestBench.matchIdentifiers(files: files, count: clients * matchesPerClient, knownShare: 0.8)
            let partners = try (0..<clients).map { _ in try GatewayClient(baseURL: gateway.baseURL, identityDirectory: gateway.identity("partner-304-cme")) }
            recording = try await startPerf("match", process)
            let r = await ClosedLoop.run(clients: partners, warmup: 5, requestsPerClient: matchesPerClient,
                                         send: RequestBench.match(identifiers: ids, perClient: matchesPerClient))
            await recording?.stop()
            print("\(r.count) matches, \(formatNumber(r.perSecond))/s; p50 \(ms(r.p(50))), p99 \(ms(r.p(99))); statuses \(r.byStatus.mapValues(\.count)); errors \(r.errors.count)")
            if r.byStatus[429] != nil { table.note("figure 4: \(r.byStatus[429]!.count) matches were rate limited (429)") }
            let hits = r.byStatus[200]?.count ?? 0, misses = r.byStatus[404]?.count ?? 0
            table.add("4", "match p50, all (\(hits) found, \(misses) not found; \(clients) clients)", ms(r.p(50)),
                      baseline: null.map { _ in "null mTLS request p50" } ?? "", null.map { ms($0.p(50)) } ?? "", ratio: null.map { r.p(50) / $0.p(50) })
            table.add("4", "match p99, all", ms(r.p(99)),
                      baseline: null.map { _ in "null mTLS request p99" } ?? "", null.map { ms($0.p(99)) } ?? "", ratio: null.map { r.p(99) / $0.p(99) })
            table.add("4", "match p50 / p99, found (200)", "\(ms(r.p(50, status: 200))) / \(ms(r.p(99, status: 200)))")
            table.add("4", "match p50 / p99, not found (404)", "\(ms(r.p(50, status: 404))) / \(ms(r.p(99, status: 404)))")
            table.add("4", "match throughput, \(clients) clients", rate(r.perSecond, "matches/s"),
                      baseline: null.map { _ in "null mTLS request" } ?? "", null.map { rate($0.perSecond, "requests/s") } ?? "", ratio: null.map { r.perSecond / $0.perSecond })

            section("4. missing-education report (GET /v1/reports/missing-education?purpose=cme)")
            let partner = partners[0]
            var reportTimes: [Double] = []
            var rows = 0, bytes = 0
            // (perf -p also ends by itself when the daemon exits, should a run throw.)
            recording = try await startPerf("report", process)
            for i in 0..<repetitions {
                var status = 0
                var body = Data()
                let t = try await timed {
                    let response = try await partner.request(.GET, "/v1/reports/missing-education?purpose=cme", timeout: .seconds(3600))
                    status = response.status
                    body = response.body
                }
                bytes = body.count
                if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: body), case .array(let a)? = o["rows"] { rows = a.count }
                guard status == 200 else { throw BenchError("the report answered \(status); see \(process.log)") }
                reportTimes.append(t)
                print(String(format: "  run %d: %.2f s, %d rows, %d bytes", i + 1, t, rows, bytes))
            }
            await recording?.stop()
            // The same report as the console's page opens it (HTML: its first page of rows, the charts over all of them): its cost beside the JSON.
            var pageTimes: [Double] = []
            var pageBytes = 0
            for i in 0..<repetitions {
                var status = 0
                let t = try await timed {
                    let response = try await partner.request(.GET, "/console/reports/missing-education?purpose=cme", timeout: .seconds(3600))
                    status = response.status
                    pageBytes = response.body.count
                }
                guard status == 200 else { throw BenchError("the console's report page answered \(status); see \(process.log)") }
                pageTimes.append(t)
                print(String(format: "  console page run %d: %.2f s, %d bytes", i + 1, t, pageBytes))
            }
            table.add("4", "missing-education console page (its first page of the \(rows) rows, \(formatNumber(Double(pageBytes))) bytes of HTML; median of \(repetitions))",
                      ms(median(pageTimes)), baseline: "the JSON report above", ms(median(reportTimes)), ratio: median(pageTimes) / median(reportTimes))
            for c in partners { try? await c.shutdown() }
            let kinds = ReportKind.missingEducation.kindsRead.map(\.rawValue)
            var reads: [Double] = []
            var readRows = 0
            do {
                for _ in 0..<repetitions {
                    let r = try SQLiteBaselines.readRecords(databasePath: gateway.config.databasePath, kinds: kinds)
                    reads.append(r.seconds); readRows = r.rows
                }
            } catch {
                print("  baseline read failed (\(error)); the record table's schema may have changed")
            }
            table.add("4", "missing-education report (\(rows) rows; median of \(repetitions))", ms(median(reportTimes)),
                      baseline: reads.isEmpty ? "" : "bare SQLite read of the \(formatNumber(Double(readRows))) records it reads",
                      reads.isEmpty ? "" : ms(median(reads)), ratio: reads.isEmpty ? nil : median(reportTimes) / median(reads))
            table.add("6", "daemon peak RSS during 4 (VmHWM\(peakReset ? ", reset before the phase" : " since start"))",
                      mebibytes(kilobytes: process.peakResidentKilobytes()), baseline: "sampled VmRSS max (every 200 ms)",
                      mebibytes(kilobytes: sampler.stop()))
        }
    }

    func startPerf(_ phase: String, _ process: GatewayProcess) async throws -> PerfRecording? {
        guard let perf else { return nil }
        try FileManager.default.createDirectory(atPath: perf, withIntermediateDirectories: true)
        return try await PerfRecording.start(output: "\(perf)/\(phase).perf.data", log: "\(perf)/\(phase).perf.log", target: process.pid)
    }

    func selectedFigures() throws -> Set<Int> {
        guard let only else { return [1, 2, 3, 4, 5, 7, 8, 9] }
        var out = Set<Int>()
        for part in only.split(separator: ",") {
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), (1...9).contains(n) else {
                throw ValidationError("--only takes figure numbers 1-9, e.g. --only 2,4")
            }
            out.insert(n == 6 ? 2 : n)
        }
        return out
    }

    static func besideThisBinary(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

/// Where and on what the figures were measured.
struct Machine {
    var date: String
    var stamp: String
    var lines: [String]

    static func describe(repository: String, binary: String) -> Machine {
        let now = Date()
        let iso = ISO8601DateFormatter()
        let stampFormatter = DateFormatter()
        stampFormatter.dateFormat = "yyyyMMdd-HHmmss"
        stampFormatter.timeZone = TimeZone(identifier: "UTC")
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        let memKB = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?
            .split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let commit = shell("git", "-C", repository, "rev-parse", "--short", "HEAD") ?? "?"
        let dirty = (shell("git", "-C", repository, "status", "--porcelain", "--untracked-files=no") ?? "").isEmpty ? "" : " (with uncommitted changes)"
        let built = (try? FileManager.default.attributesOfItem(atPath: binary)[.modificationDate] as? Date).map { iso.string(from: $0) } ?? "missing"
        return Machine(date: iso.string(from: now), stamp: stampFormatter.string(from: now), lines: [
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores (nproc), \(String(format: "%.1f", Double(memKB) / 1_048_576)) GiB, \(cpu), Linux \(ProcessInfo.processInfo.operatingSystemVersionString)",
            "build: release; commit \(commit)\(dirty); gateway \(binary) built \(built)",
        ])
    }

    static func shell(_ args: String...) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }
}
