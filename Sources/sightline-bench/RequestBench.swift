import Foundation
import NIOHTTP1
import SightlineClient
import SightlineCore

/// Closed-loop load: each client sends one request at a time on its own keep-alive mTLS
/// connection (its own GatewayClient, so its own connection pool).
enum ClosedLoop {
    /// A request outcome: the HTTP status, or nil when the request failed without one.
    typealias Send = @Sendable (_ client: GatewayClient, _ clientIndex: Int, _ i: Int) async -> (status: Int?, error: String?)

    static func run(clients: [GatewayClient], warmup: Int, seconds: Double? = nil, requestsPerClient: Int? = nil, send: @escaping Send) async -> LoadResult {
        // Warm-up: TLS handshakes and first-use costs stay out of the figures.
        await withTaskGroup(of: Void.self) { group in
            for (k, c) in clients.enumerated() {
                group.addTask { for i in 0..<warmup { _ = await send(c, k, -1 - i) } }
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = seconds.map { start + .milliseconds(Int($0 * 1000)) }
        var total = LoadResult()
        await withTaskGroup(of: LoadResult.self) { group in
            for (k, c) in clients.enumerated() {
                group.addTask {
                    var r = LoadResult()
                    var i = 0
                    while true {
                        if let deadline, clock.now >= deadline { break }
                        if let n = requestsPerClient, i >= n { break }
                        let t0 = clock.now
                        let outcome = await send(c, k, i)
                        let latency = (clock.now - t0).seconds
                        i += 1
                        if let status = outcome.status {
                            r.latencies.append(latency)
                            r.byStatus[status, default: []].append(latency)
                        } else {
                            r.errors.append(outcome.error ?? "request failed")
                        }
                    }
                    return r
                }
            }
            for await r in group { total.merge(r) }
        }
        total.wall = (clock.now - start).seconds
        return total
    }
}

enum RequestBench {
    /// Figure 3's requests: GP registrations taken from the data set (up to `limit` different
    /// children), each sent as a new record with a fresh localRef, so every request stores a row,
    /// links it to a known child and appends an audit entry. Spreading the requests over many
    /// children matters: linking reads the child's existing records, and one child receiving
    /// thousands of records in a few seconds is not what a GP feed looks like.
    static func singleRecordTemplates(files: [PreparedFile], limit: Int = 5000) throws -> [(prefix: Data, suffix: Data)] {
        guard let nhs = files.first(where: { $0.file.kind == .gpRegistration }) else { throw BenchError("no GP registration file") }
        let validator = RecordValidator(now: Date())
        var out: [(prefix: Data, suffix: Data)] = []
        for r in nhs.prepared.records where out.count < limit {
            guard let v = try? JSONDecoder().decode(JSONValue.self, from: r.json), case .success = validator.validate(v, line: 1),
                  case .object(var o) = v else { continue }
            o["localRef"] = .string("@@REF@@")
            let text = String(decoding: try CanonicalJSON.encode(JSONValue.object(o)), as: UTF8.self)
            guard let range = text.range(of: "@@REF@@") else { continue }
            out.append((Data(text[..<range.lowerBound].utf8), Data(text[range.upperBound...].utf8)))
        }
        guard !out.isEmpty else { throw BenchError("no valid GP registration in the data set") }
        return out
    }

    static func submitOne(templates: [(prefix: Data, suffix: Data)], run: String) -> ClosedLoop.Send {
        { client, k, i in
            let ref = "bench-\(run)-c\(k)-\(i)"
            let template = templates[abs(k &* 7919 &+ i) % templates.count]
            var body = template.prefix
            body.append(contentsOf: ref.utf8)
            body.append(template.suffix)
            do {
                let r = try await client.request(.POST, "/v1/submissions", body: body, headers: [("Idempotency-Key", ref)])
                return (r.status, nil)
            } catch {
                return (nil, "\(error)")
            }
        }
    }

    /// The cheapest request through the whole stack: mTLS, identity middleware, router, metrics,
    /// a JSON error (an unknown report name is refused before any store access or audit entry).
    static let nullRequest: ClosedLoop.Send = { client, _, _ in
        do {
            let r = try await client.request(.GET, "/v1/reports/no-such-report?purpose=cme")
            return (r.status, nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// NHS numbers the data set holds (from valid GP registrations), and valid ones it does not.
    static func matchIdentifiers(files: [PreparedFile], count: Int, knownShare: Double) -> [(nhs: String, known: Bool)] {
        // A byte scan, not a JSON decode: at 1,000,000 children there are millions of records.
        var known: [String] = []
        var seen = Set<String>()
        let marker = Array(#""nhsNumber":""#.utf8)
        for f in files {
            for r in f.prepared.records {
                r.json.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                    let b = raw.bindMemory(to: UInt8.self)
                    guard b.count > marker.count + 10 else { return }
                    var i = 0
                    while i + marker.count + 10 <= b.count {
                        if b[i] == marker[0] && b[i + 1] == marker[1] && Array(b[i..<(i + marker.count)]) == marker {
                            let start = i + marker.count
                            let digits = String(decoding: b[start..<(start + 10)], as: UTF8.self)
                            if let n = NHSNumber(digits), seen.insert(n.digits).inserted { known.append(n.digits) }
                            return
                        }
                        i += 1
                    }
                }
            }
        }
        var rng = SplitMix64(seed: 20261129)
        var out: [(String, Bool)] = []
        while out.count < count {
            if !known.isEmpty && Double(rng.next() % 10_000) / 10_000 < knownShare {
                out.append((known[Int(rng.next() % UInt64(known.count))], true))
            } else {
                // A valid NHS number (test range, modulus-11 check digit) that the data set lacks.
                let body = "9" + String(format: "%08d", Int(rng.next() % 100_000_000))
                let digits = body.compactMap { $0.wholeNumberValue }
                let sum = zip(digits, (2...10).reversed()).reduce(0) { $0 + $1.0 * $1.1 }
                let check = (11 - sum % 11) % 11
                guard check != 10 else { continue }
                let candidate = body + String(check)
                guard !seen.contains(candidate), NHSNumber(candidate) != nil else { continue }
                out.append((candidate, false))
            }
        }
        return out
    }

    static func match(identifiers: [(nhs: String, known: Bool)], perClient: Int) -> ClosedLoop.Send {
        { client, k, i in
            let id = identifiers[(k * perClient + max(i, 0)) % identifiers.count]
            let body = Data(#"{"purpose":"cme","identifiers":{"nhsNumber":"\#(id.nhs)"}}"#.utf8)
            do {
                let r = try await client.request(.POST, "/v1/match", body: body)
                return (r.status, nil)
            } catch {
                return (nil, "\(error)")
            }
        }
    }
}

/// A small deterministic generator, so every run asks for the same identifiers.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
