import Foundation
import SightlineCore

/// Hands the records a reader makes on a thread of its own to the async sender, a batch at a
/// time and at most `readAhead` batches ahead of it: the reader waits for the sender, so a large
/// file never has to exist as records in memory all at once. The reader is a blocking one
/// (XMLParser pushes elements from inside `parse()`), which is why it gets a thread and not a task.
final class BatchFeed: @unchecked Sendable {
    private let space: DispatchSemaphore
    private let lock = NSLock()
    private var stopped = false
    private var rejected: [RecordRejection] = []
    private var failure: ClientError?

    init(readAhead: Int) {
        // Made empty and filled: libdispatch traps when a semaphore is freed holding less than the
        // value it was made with, which is where a sender that went away leaves it.
        space = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, readAhead) { space.signal() }
    }

    /// Starts `produce` on its own thread; the stream ends when it returns or throws.
    func start(batchSize: Int, _ produce: @escaping Submitter.RecordProducer) -> AsyncStream<[Submitter.PreparedRecord]> {
        let (stream, continuation) = AsyncStream<[Submitter.PreparedRecord]>.makeStream()
        // If the sender goes away, the reader must not wait for room that will never come.
        continuation.onTermination = { [self] _ in stop() }
        let thread = Thread { [self] in
            var batch: [Submitter.PreparedRecord] = []
            batch.reserveCapacity(batchSize)
            func hand() -> Bool {
                guard !batch.isEmpty else { return !isStopped }
                // Waits for room, looking up now and then in case the sender has gone.
                while space.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
                    if isStopped { return false }
                }
                guard !isStopped else { return false }
                continuation.yield(batch)
                batch.removeAll(keepingCapacity: true)
                return true
            }
            do throws(ClientError) {
                try produce({ record in
                    guard !self.isStopped else { return false }
                    batch.append(record)
                    return batch.count < batchSize || hand()
                }, { rejection in self.lock.withLock { self.rejected.append(rejection) } })
                _ = hand()
            } catch {
                lock.withLock { failure = error }
            }
            continuation.finish()
        }
        thread.name = "sightline-reader"
        thread.start()
        return stream
    }

    /// The sender took a batch: room for one more.
    func taken() { space.signal() }

    /// What the reader rejected itself, and why it stopped early if it did; once the stream ended.
    func outcome() -> (rejected: [RecordRejection], failure: ClientError?) {
        lock.withLock { (rejected, failure) }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func stop() {
        lock.withLock { stopped = true }
        space.signal()
    }
}
