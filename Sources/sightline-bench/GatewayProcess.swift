import Foundation
import SightlineCore

#if canImport(Glibc)
import Glibc
#endif

/// A child process started as a shell would start it: default signal dispositions and an empty
/// signal mask. (perf started through Foundation's Process from a Swift concurrency thread
/// ignored SIGINT and never finished its file; the daemon should start as an operator starts it.)
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var waitStatus: Int32?

    private init(pid: pid_t) { self.pid = pid }

    /// Runs `arguments` (looked up on PATH) with stdout and stderr appended to `log`.
    static func spawn(_ arguments: [String], log: String) throws -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard rc == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        return Spawned(pid: pid)
    }

    var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        guard waitStatus == nil else { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { waitStatus = status; return false }
        return r == 0
    }

    /// "exit status N" or "signal N", once it has ended.
    var ending: String {
        lock.lock(); defer { lock.unlock() }
        guard let s = waitStatus else { return "running" }
        return s & 0x7f == 0 ? "exit status \((s >> 8) & 0xff)" : "signal \(s & 0x7f)"
    }

    /// Sends `signal`, waits up to `grace` seconds, then SIGKILL. True if it ended on its own.
    @discardableResult
    func stop(_ signal: Int32, grace: Double) async -> Bool {
        guard isRunning else { return true }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        guard isRunning else { return true }
        kill(pid, SIGKILL)
        while isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return false
    }
}

/// A real `sightline-gateway` process from the release build, as an operator runs it.
final class GatewayProcess: @unchecked Sendable {
    let process: Spawned
    let opsPort: Int
    let log: String
    var pid: Int32 { process.pid }

    private init(process: Spawned, opsPort: Int, log: String) {
        self.process = process; self.opsPort = opsPort; self.log = log
    }

    /// Starts `binary` with `arguments`, under `prefix` (e.g. valgrind) when given, output to `log`.
    static func start(binary: String, prefix: [String], arguments: [String], opsPort: Int, log: String) throws -> GatewayProcess {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("\(binary) is not there; build it first: swift build -c release --scratch-path .build-release")
        }
        let p = try Spawned.spawn(prefix + [binary] + arguments, log: log)
        return GatewayProcess(process: p, opsPort: opsPort, log: log)
    }

    /// Waits for the ops listener's /readyz to answer 200.
    func waitReady(timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard process.isRunning else {
                throw BenchError("the gateway ended (\(process.ending)) before it was ready; see \(log)")
            }
            if Self.httpStatus(port: opsPort, path: "/readyz") == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the gateway was not ready after \(Int(timeout)) s; see \(log)")
    }

    /// SIGTERM (graceful drain), then SIGKILL if it takes longer than `grace` seconds.
    func stop(grace: Double = 120) async {
        if !(await process.stop(SIGTERM, grace: grace)) {
            print("gateway did not stop within \(Int(grace)) s of SIGTERM; it was sent SIGKILL")
        }
    }

    /// Peak resident set (VmHWM, kB) since start or the last `resetPeak`.
    func peakResidentKilobytes() -> Int? { Self.statusField("VmHWM", pid: pid) }
    func residentKilobytes() -> Int? { Self.statusField("VmRSS", pid: pid) }

    /// Resets VmHWM to the current RSS (Linux 4.0+: "5" to /proc/PID/clear_refs), so one phase's
    /// peak is not hidden under an earlier one's.
    @discardableResult
    func resetPeak() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return false }
        defer { try? h.close() }
        do { try h.write(contentsOf: Data("5".utf8)); return true } catch { return false }
    }

    static func statusField(_ name: String, pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// The status code of a plain HTTP/1.1 GET on 127.0.0.1, or nil if nothing answers.
    static func httpStatus(port: Int, path: String) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 12 else { return nil }
        let statusLine = String(decoding: buffer[0..<n], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        return parts.count >= 2 ? Int(parts[1]) : nil
    }
}

/// Samples the daemon's resident set while a phase runs, as a cross-check on VmHWM.
final class MemorySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var maxKilobytes = 0
    private var task: Task<Void, Never>?

    init(pid: Int32) {
        task = Task.detached { [weak self] in
            while !Task.isCancelled {
                if let kb = GatewayProcess.statusField("VmRSS", pid: pid) { self?.observe(kb) }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func observe(_ kb: Int) { lock.lock(); maxKilobytes = max(maxKilobytes, kb); lock.unlock() }

    func stop() -> Int {
        task?.cancel()
        lock.lock(); defer { lock.unlock() }
        return maxKilobytes
    }
}

/// A dev partnership for benchmarks: created by a first `serve --dev` start, then served from a
/// config file that reuses its certificates, keys and participants with the match rate limit
/// raised (the shipped limit, 60 a minute, exists to stop enumeration and would measure nothing).
struct BenchGateway {
    let state: String
    let configPath: String
    let config: GatewayConfig

    static let matchesPerMinute = 100_000_000
    static let matchBurst = 1_000_000

    static func prepare(binary: String, state: String, repository: String, port: Int, opsPort: Int, readyTimeout: Double) async throws -> BenchGateway {
        let fm = FileManager.default
        if fm.fileExists(atPath: state) { try fm.removeItem(atPath: state) }
        try fm.createDirectory(atPath: state, withIntermediateDirectories: true)
        print("gateway: first start, serve --dev --state \(state) (creates CA, identities, keys, participants, gateway.yaml)")
        let dev = try GatewayProcess.start(binary: binary, prefix: [],
                                           arguments: ["serve", "--dev", "--state", state, "--port", String(port), "--ops-port", String(opsPort),
                                                       "--policy", repository + "/Policies"],
                                           opsPort: opsPort, log: state + "/gateway-dev.log")
        do { try await dev.waitReady(timeout: readyTimeout) } catch {
            await dev.stop()
            throw error
        }
        await dev.stop()
        var config = try GatewayConfig.load(path: state + "/gateway.yaml")
        config.limits.matchesPerMinute = matchesPerMinute
        config.limits.matchBurst = matchBurst
        let path = state + "/bench-gateway.yaml"
        try Data(("# Written by sightline-bench: the dev partnership's gateway.yaml with the match rate limit raised.\n"
                  + config.render()).utf8).write(to: URL(fileURLWithPath: path))
        return BenchGateway(state: state, configPath: path, config: config)
    }

    func identity(_ name: String) -> String { "\(state)/identities/\(name)" }
    var baseURL: String { "https://127.0.0.1:\(config.listen.port)" }

    func start(binary: String, prefix: [String], readyTimeout: Double, logLevel: String) async throws -> GatewayProcess {
        let g = try GatewayProcess.start(binary: binary, prefix: prefix, arguments: ["serve", "--config", configPath, "--log-level", logLevel],
                                         opsPort: config.ops.port, log: state + "/gateway.log")
        do { try await g.waitReady(timeout: readyTimeout) } catch {
            await g.stop()
            throw error
        }
        return g
    }
}

/// `perf record` for one phase: system-wide software cpu-clock sampling (this VM has no
/// hardware counters, valgrind 3.19 cannot run the release binary, and `perf record -p`
/// busy-loops on this kernel); read the daemon's part with `perf report --pid PID` (its threads
/// carry NIO and dispatch names, not the binary's).
final class PerfRecording: @unchecked Sendable {
    let process: Spawned
    let output: String
    let target: Int32

    private init(process: Spawned, output: String, target: Int32) { self.process = process; self.output = output; self.target = target }

    static func start(output: String, log: String, target: Int32) async throws -> PerfRecording {
        let p = try Spawned.spawn(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-a", "-o", output], log: log)
        try await Task.sleep(for: .milliseconds(500))  // started before the phase starts
        guard p.isRunning else { throw BenchError("perf record ended at once (\(p.ending)); see \(log)") }
        print("perf: recording into \(output)")
        return PerfRecording(process: p, output: output, target: target)
    }

    func stop() async {
        let clean = await process.stop(SIGINT, grace: 300)
        print("perf: \(clean ? "stopped" : "killed, the file may be unreadable"); read with: perf report -i \(output) --pid \(target) --no-children --sort symbol")
    }
}
