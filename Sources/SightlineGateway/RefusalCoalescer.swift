import Foundation
import NIOConcurrencyHelpers
import SightlineCore

/// Keeps refused requests from growing the append-only audit log without limit (a caller being
/// refused 2,000 times must not write 2,000 permanent entries) while losing none of them.
///
/// Per actor: the first refusal of a kind is written at once; repeats of the kind the actor was
/// last refused for are counted, and written as one entry with `counts: {"refusals": N}` when
/// the actor is next refused for something else (so the log keeps the order of events), when
/// the actor's window closes, when the actor is evicted to bound the table, or at shutdown.
/// At most `immediatePerWindow` entries are written at once per actor and window: past that,
/// every refusal is counted and written when the window closes, so alternating between two
/// rules does not escape coalescing.
///
/// Callers without an identity are one actor, "unauthenticated", rather than one per remote
/// address: the entry could not name them anyway, and an address is not a participant (one host
/// can use many, which would fill the table and escape the limit).
///
/// Entries carry only the gateway's own strings (actor from a verified certificate, action,
/// rule, reason, purpose from the policy); never text the client chose. Time is passed in, so
/// this is a pure state machine; `GatewayState` writes what it returns.
struct RefusalCoalescer: Sendable {
    /// What makes two refusals the same: every field of the entry except time and digest.
    struct Kind: Hashable, Sendable {
        var action: String
        var rule: String
        var purpose: String?
        var reason: String
    }

    struct Refusal: Sendable {
        var actor: String
        var kind: Kind
        var requestDigest: String
        var at: Date
    }

    /// Refusals counted but not yet written.
    private struct Run {
        var count: Int
        var first: Date
        var last: Date
        /// The digest of the first refusal counted; the others differ only in path or body.
        var requestDigest: String
    }

    private struct ActorState {
        var windowEnd: Date
        var writtenAtOnce: Int = 0
        var current: Kind?
        var runs: [Kind: Run] = [:]
    }

    let policyVersion: String
    /// How long repeats of one actor are gathered into one entry.
    let window: TimeInterval
    /// Entries written at once per actor and window; refusals beyond are only counted.
    let immediatePerWindow: Int
    /// Actors tracked at once: bounds memory whatever the number of distinct callers.
    let maxActors: Int
    /// Kinds of refusal counted at once for one actor; more write that actor's runs early.
    let maxKindsPerActor: Int
    private var actors: [String: ActorState] = [:]

    init(policyVersion: String, window: TimeInterval = 60, immediatePerWindow: Int = 8, maxActors: Int = 10_000, maxKindsPerActor: Int = 32) {
        self.policyVersion = policyVersion; self.window = window; self.immediatePerWindow = immediatePerWindow
        self.maxActors = maxActors; self.maxKindsPerActor = maxKindsPerActor
    }

    /// Actors with state now (for tests and the bound).
    var trackedActors: Int { actors.count }

    /// Takes one refusal; returns the entries to write now, in order.
    mutating func record(_ r: Refusal) -> [AuditEntry] {
        var out: [AuditEntry] = []
        if let existing = actors[r.actor], r.at >= existing.windowEnd {
            out += flush(actor: r.actor)
        }
        if actors[r.actor] == nil {
            if actors.count >= maxActors { out += makeRoom(at: r.at) }
            actors[r.actor] = ActorState(windowEnd: r.at.addingTimeInterval(window))
        }
        var a = actors[r.actor]!
        if a.current == r.kind || a.writtenAtOnce >= immediatePerWindow {
            if a.runs[r.kind] == nil, a.runs.count >= maxKindsPerActor {
                out += Self.entries(of: a.runs, actor: r.actor, policyVersion: policyVersion)
                a.runs = [:]
            }
            if var run = a.runs[r.kind] {
                run.count += 1
                run.last = max(run.last, r.at)
                a.runs[r.kind] = run
            } else {
                a.runs[r.kind] = Run(count: 1, first: r.at, last: r.at, requestDigest: r.requestDigest)
            }
        } else {
            // Something other than what this actor was last refused for: its repeats go first.
            if let current = a.current, let run = a.runs.removeValue(forKey: current) {
                out.append(Self.entry(current, run, actor: r.actor, policyVersion: policyVersion))
                a.writtenAtOnce += 1
            }
            out.append(Self.entry(r.kind, Run(count: 1, first: r.at, last: r.at, requestDigest: r.requestDigest), actor: r.actor,
                                  policyVersion: policyVersion, coalesced: false))
            a.writtenAtOnce += 1
        }
        a.current = r.kind
        actors[r.actor] = a
        return out
    }

    /// Closes every window that ended by `now`: their counted refusals, and forgets those actors.
    mutating func closeWindows(at now: Date) -> [AuditEntry] {
        let ended = actors.filter { $0.value.windowEnd <= now }.map(\.key).sorted()
        return ended.flatMap { flush(actor: $0) }
    }

    /// Everything still counted (at shutdown).
    mutating func flushAll() -> [AuditEntry] {
        actors.keys.sorted().flatMap { flush(actor: $0) }
    }

    private mutating func flush(actor: String) -> [AuditEntry] {
        guard let a = actors.removeValue(forKey: actor) else { return [] }
        return Self.entries(of: a.runs, actor: actor, policyVersion: policyVersion)
    }

    /// The table is full: closed windows go first, else the actor whose window ends soonest.
    private mutating func makeRoom(at now: Date) -> [AuditEntry] {
        var out = closeWindows(at: now)
        if actors.count >= maxActors, let oldest = actors.min(by: { $0.value.windowEnd < $1.value.windowEnd })?.key {
            out += flush(actor: oldest)
        }
        return out
    }

    private static func entries(of runs: [Kind: Run], actor: String, policyVersion: String) -> [AuditEntry] {
        runs.sorted { $0.value.first < $1.value.first }.map { entry($0.key, $0.value, actor: actor, policyVersion: policyVersion) }
    }

    private static func entry(_ kind: Kind, _ run: Run, actor: String, policyVersion: String, coalesced: Bool = true) -> AuditEntry {
        var detail = ["reason": kind.reason]
        if coalesced { detail["firstRefusedAt"] = Instant.format(run.first) }
        return AuditEntry(time: run.last, actor: actor, action: kind.action, purpose: kind.purpose, policyVersion: policyVersion,
                          decision: .deny, rule: kind.rule, counts: ["refusals": run.count], requestDigest: run.requestDigest, detail: detail)
    }
}

/// The coalescer behind a lock, shared by every request.
final class RefusalLog: Sendable {
    private let state: NIOLockedValueBox<RefusalCoalescer>

    init(_ coalescer: RefusalCoalescer) { state = NIOLockedValueBox(coalescer) }

    func record(_ r: RefusalCoalescer.Refusal) -> [AuditEntry] { state.withLockedValue { $0.record(r) } }
    func closeWindows(at now: Date) -> [AuditEntry] { state.withLockedValue { $0.closeWindows(at: now) } }
    func flushAll() -> [AuditEntry] { state.withLockedValue { $0.flushAll() } }
    var trackedActors: Int { state.withLockedValue { $0.trackedActors } }
}
