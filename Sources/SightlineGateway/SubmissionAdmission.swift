import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import SightlineCore

/// Bounds what submissions can cost at once: a slot overall and per participant, taken before
/// any of the body is read. Beyond them a caller gets 503 with Retry-After at once, so that four
/// large uploads cannot make a partner's inbox read wait.
final class SubmissionAdmission: Sendable {
    let overall: Int
    let perParticipant: Int
    private let inFlight = NIOLockedValueBox<(total: Int, by: [String: Int])>((0, [:]))

    init(overall: Int, perParticipant: Int) {
        self.overall = overall; self.perParticipant = perParticipant
    }

    /// A slot for `participant`, released when the returned ticket's `release()` runs; nil when full.
    func admit(_ participant: String) -> Ticket? {
        let admitted = inFlight.withLockedValue { state -> Bool in
            guard state.total < overall, state.by[participant, default: 0] < perParticipant else { return false }
            state.total += 1
            state.by[participant, default: 0] += 1
            return true
        }
        return admitted ? Ticket(admission: self, participant: participant) : nil
    }

    var current: Int { inFlight.withLockedValue { $0.total } }

    fileprivate func release(_ participant: String) {
        inFlight.withLockedValue { state in
            state.total -= 1
            let left = state.by[participant, default: 1] - 1
            state.by[participant] = left > 0 ? left : nil
        }
    }

    struct Ticket: Sendable {
        let admission: SubmissionAdmission
        let participant: String
        func release() { admission.release(participant) }
    }
}

/// Reads a request body with a size limit, a total deadline and a minimum transfer rate.
enum BoundedBody {
    /// Whether an upload `elapsed` into the request, with `received` bytes so far, must end: past
    /// the deadline, or (after `grace`) slower on average than the minimum rate.
    static func verdict(elapsed: Duration, received: Int, deadline: Duration, minimumBytesPerSecond: Int, grace: Duration) -> APIError? {
        if elapsed > deadline {
            return APIError(.requestTimeout, "too-slow", "the body did not arrive within \(deadline.components.seconds) s; send smaller batches or check the network")
        }
        guard elapsed > grace else { return nil }
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        if Double(received) < Double(minimumBytesPerSecond) * (seconds(elapsed) - seconds(grace)) {
            return APIError(.requestTimeout, "too-slow", "the body arrived slower than \(minimumBytesPerSecond) bytes/s; the request was ended")
        }
        return nil
    }

    static func collect(_ body: RequestBody, limit: Int, deadline: Duration, minimumBytesPerSecond: Int,
                        grace: Duration = .seconds(10)) async throws -> ByteBuffer {
        let received = NIOLockedValueBox(0)
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var buffer = ByteBuffer()
                for try await chunk in body {
                    guard buffer.readableBytes + chunk.readableBytes <= limit else {
                        throw APIError(.contentTooLarge, "too-large", "the body exceeds \(limit) bytes; send smaller batches")
                    }
                    var chunk = chunk
                    buffer.writeBuffer(&chunk)
                    let total = buffer.readableBytes
                    received.withLockedValue { $0 = total }
                }
                return buffer
            }
            group.addTask {
                // The watchdog: four times a second, a body that is too slow or too late ends the request.
                let start = ContinuousClock.now
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    let elapsed = ContinuousClock.now - start
                    if let problem = verdict(elapsed: elapsed, received: received.withLockedValue { $0 }, deadline: deadline,
                                             minimumBytesPerSecond: minimumBytesPerSecond, grace: grace) {
                        throw problem
                    }
                }
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw APIError(.requestTimeout, "too-slow", "the body was not read")
            }
            return buffer
        }
    }
}
