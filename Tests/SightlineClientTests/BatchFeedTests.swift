import Foundation
import Testing
@testable import SightlineClient
@testable import SightlineCore

@Suite("Streaming a file to the sender")
struct BatchFeedTests {
    final class Progress: @unchecked Sendable {
        let lock = NSLock()
        var made = 0
        var taken = 0
        var maxAhead = 0
        func make() { lock.withLock { made += 1; maxAhead = max(maxAhead, made - taken) } }
        func take(_ n: Int) { lock.withLock { taken += n } }
    }

    @Test("the reader waits for the sender: never more than read-ahead batches beyond what was taken")
    func backpressure() async throws {
        let progress = Progress()
        let feed = BatchFeed(readAhead: 2)
        let stream = feed.start(batchSize: 10) { emit, reject in
            for i in 1...1000 {
                progress.make()
                if i % 100 == 0 { reject(RecordRejection(line: i, field: "f", reason: "r")) }
                guard emit(Submitter.PreparedRecord(line: i, json: Data())) else { return }
            }
        }
        var lines: [Int] = []
        for await batch in stream {
            feed.taken()
            try await Task.sleep(for: .milliseconds(2))
            lines += batch.map(\.line)
            progress.take(batch.count)
        }
        #expect(lines == Array(1...1000), "every record, in order")
        #expect(feed.outcome().rejected.count == 10)
        // Two batches waiting, one being taken, one being filled, one record over.
        #expect(progress.maxAhead <= 10 * 4 + 1, "the reader ran \(progress.maxAhead) records ahead")
    }

    @Test("a reader that fails ends the stream and says why; one whose sender has gone stops")
    func failureAndCancellation() async throws {
        let feed = BatchFeed(readAhead: 1)
        let stream = feed.start(batchSize: 5) { emit, _ throws(ClientError) in
            for i in 1...12 { _ = emit(Submitter.PreparedRecord(line: i, json: Data())) }
            throw ClientError("the file changed")
        }
        var count = 0
        for await batch in stream { feed.taken(); count += batch.count }
        #expect(count == 10, "the two full batches went; the part batch did not")
        #expect(feed.outcome().failure?.message == "the file changed")

        let stopped = Progress()
        let abandoned = BatchFeed(readAhead: 1)
        var iterator: AsyncStream<[Submitter.PreparedRecord]>.Iterator? = abandoned.start(batchSize: 5) { emit, _ in
            for i in 1...1_000_000 {
                stopped.make()
                guard emit(Submitter.PreparedRecord(line: i, json: Data())) else { return }
            }
        }.makeAsyncIterator()
        _ = await iterator?.next()
        iterator = nil   // the sender goes away
        try await Task.sleep(for: .milliseconds(600))
        let made = stopped.lock.withLock { stopped.made }
        try await Task.sleep(for: .milliseconds(300))
        #expect(stopped.lock.withLock { stopped.made } == made, "the reader stopped instead of waiting or reading on")
        #expect(made < 100)
    }
}
