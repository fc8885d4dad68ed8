import Foundation
import SightlineClient
import SightlineCore

/// Figure 2: every agency's files over mTLS through the client library, as `sightline submit`
/// sends them, against the daemon. Agencies send at the same time (one client each); each
/// keeps `connections` batches in flight. Baseline: the same number of rows, of the width of
/// the gateway's record row, inserted into SQLite in one transaction.
enum IngestBench {
    struct Outcome {
        var sent = 0
        var accepted = 0
        var rejectedByGateway = 0
        var failures: [String] = []
        var seconds = 0.0
    }

    static func run(files: [PreparedFile], gateway: BenchGateway, connections: Int, batchSize: Int) async throws -> Outcome {
        let byAgency = Dictionary(grouping: files, by: \.file.identity).sorted { $0.key < $1.key }
        var outcome = Outcome()
        let clients = try byAgency.map { (identity, _) in
            try GatewayClient(baseURL: gateway.baseURL, identityDirectory: gateway.identity(identity))
        }
        let results = LockedResults()
        outcome.seconds = await timed {
            await withTaskGroup(of: Void.self) { group in
                for (i, (_, agencyFiles)) in byAgency.enumerated() {
                    let client = clients[i]
                    group.addTask {
                        var submitter = Submitter(client: client)
                        submitter.batchSize = batchSize
                        submitter.concurrency = connections
                        for f in agencyFiles {
                            let r = await submitter.send(file: f.file.path, kind: f.file.kind, prepared: f.prepared)
                            results.add(r, clientRejected: f.prepared.rejected.count, sent: f.prepared.records.count)
                        }
                    }
                }
            }
        }
        for c in clients { try? await c.shutdown() }
        (outcome.sent, outcome.accepted, outcome.rejectedByGateway, outcome.failures) = results.totals()
        return outcome
    }

    final class LockedResults: @unchecked Sendable {
        private let lock = NSLock()
        private var sent = 0, accepted = 0, rejected = 0
        private var failures: [String] = []
        func add(_ r: Submitter.FileResult, clientRejected: Int, sent s: Int) {
            lock.lock(); defer { lock.unlock() }
            sent += s; accepted += r.accepted; rejected += r.rejected.count - clientRejected
            failures += r.failures.map { "\(r.file): \($0)" }
        }
        func totals() -> (Int, Int, Int, [String]) { lock.lock(); defer { lock.unlock() }; return (sent, accepted, rejected, failures) }
    }
}
