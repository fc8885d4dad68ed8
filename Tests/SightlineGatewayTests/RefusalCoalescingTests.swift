import Foundation
import SightlineClient
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// Refusals cannot flood the audit log, and none is lost: the state machine with an injected
/// clock, then 2,000 refusals over real mTLS.
@Suite("Refusal coalescing")
struct RefusalCoalescingTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static func refusal(_ actor: String = "school/100001", rule: String = "endpoint-roles:GET /audit/entries", at seconds: Double,
                        digest: String = "d") -> RefusalCoalescer.Refusal {
        .init(actor: actor, kind: .init(action: "request", rule: rule, purpose: nil, reason: "role school may not call this endpoint"),
              requestDigest: digest, at: t0.addingTimeInterval(seconds))
    }
    static func total(_ entries: [AuditEntry]) -> Int { entries.map { $0.counts["refusals"] ?? 0 }.reduce(0, +) }

    @Test func repeatsBecomeOneCountedEntryAndTheFirstIsWrittenAtOnce() {
        var c = RefusalCoalescer(policyVersion: "test")
        let first = c.record(Self.refusal(at: 0, digest: "first"))
        #expect(first.count == 1 && first[0].counts == ["refusals": 1] && first[0].requestDigest == "first" && first[0].decision == .deny)
        var written = first
        for i in 1..<2000 { written += c.record(Self.refusal(at: Double(i) / 1000, digest: "d\(i)")) }
        #expect(written.count == 1, "repeats within the window are only counted")
        written += c.flushAll()
        #expect(written.count == 2 && Self.total(written) == 2000)
        let run = written[1]
        #expect(run.counts == ["refusals": 1999] && run.requestDigest == "d1" && run.detail["firstRefusedAt"] == Instant.format(Self.t0.addingTimeInterval(0.001)))
        #expect(run.detail["reason"] == "role school may not call this endpoint" && c.trackedActors == 0)
    }

    @Test func anotherActorIsWrittenAtOnceAndAWindowThatClosesIsWritten() {
        var c = RefusalCoalescer(policyVersion: "test", window: 60)
        _ = c.record(Self.refusal(at: 0))
        for i in 1..<100 { _ = c.record(Self.refusal(at: Double(i) / 10)) }
        let other = c.record(Self.refusal("partner/304-cme", at: 11))
        #expect(other.count == 1 && other[0].actor == "partner/304-cme")
        #expect(c.closeWindows(at: Self.t0.addingTimeInterval(59)).isEmpty)
        let closed = c.closeWindows(at: Self.t0.addingTimeInterval(60))
        #expect(closed.map(\.actor) == ["school/100001"] && Self.total(closed) == 99)
        // After its window the actor's next refusal is a first again.
        #expect(c.record(Self.refusal(at: 61)).count == 1)
    }

    @Test func aDifferentRefusalWritesThePendingRepeatsFirstSoTheOrderHolds() {
        var c = RefusalCoalescer(policyVersion: "test")
        _ = c.record(Self.refusal(at: 0))
        for i in 1...5 { _ = c.record(Self.refusal(at: Double(i))) }
        let next = c.record(Self.refusal(rule: "participant-active", at: 6))
        #expect(next.map(\.rule) == ["endpoint-roles:GET /audit/entries", "participant-active"])
        #expect(next.map { $0.counts["refusals"] } == [5, 1])
    }

    @Test func alternatingRulesDoNotEscapeTheLimit() {
        var c = RefusalCoalescer(policyVersion: "test", immediatePerWindow: 8)
        var written: [AuditEntry] = []
        for i in 0..<2000 { written += c.record(Self.refusal(rule: i % 2 == 0 ? "a" : "b", at: Double(i) / 100)) }
        #expect(written.count <= 9, "\(written.count)")
        written += c.flushAll()
        #expect(written.count <= 11 && Self.total(written) == 2000)
    }

    @Test func manyDistinctActorsKeepTheTableBoundedAndLoseNothing() {
        var c = RefusalCoalescer(policyVersion: "test", maxActors: 100)
        var written: [AuditEntry] = []
        for i in 0..<5000 {
            written += c.record(Self.refusal("school/\(i % 1000)", at: Double(i) / 1000))
            #expect(c.trackedActors <= 100)
        }
        written += c.flushAll()
        #expect(Self.total(written) == 5000)
    }

    // MARK: - Over real mTLS

    @Test func twoThousandRefusalsFromOneIdentityWriteABoundedNumberOfEntries() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let started = Date()
        try await p.withGateway { gw in
            let client = try gw.client(school)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Two connections at a time: concurrent enough to race the coalescer, light enough
                    // not to starve timing-sensitive tests running beside it on a small machine.
                    for worker in 0..<2 {
                        group.addTask {
                            for i in 0..<1000 {
                                let r = try await client.request(.GET, "/v1/audit/entries?from=\(worker * 1000 + i)")
                                guard r.status == 403 else { throw TestFailure("refusal \(i) of worker \(worker): HTTP \(r.status)") }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
            let duringFlood = try await Self.refusalEntries(gw.state.store, actor: "school/100001")
            // The first refusal at once, then at most one entry a window begun: a flood that crosses a
            // window boundary (a slow, loaded machine) has begun one more window than whole minutes passed.
            #expect(duringFlood.count <= 2 + Int(Date().timeIntervalSince(started) / 60), "repeats are counted, not written one by one")
            // Another actor's refusal is written at once.
            #expect(try await gw.request(partner, "GET", "/v1/audit/entries").status == 403)
            let partners = try await Self.refusalEntries(gw.state.store, actor: "partner/304-cme")
            #expect(partners.count == 1 && partners[0].counts["refusals"] == 1)
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_requests_refused_total 2001"), "the metric counts every refusal")
        }
        // Graceful shutdown wrote what was still counted.
        let windows = Int(Date().timeIntervalSince(started) / 60) + 1
        let entries = try await Self.refusalEntries(try SQLiteStore(path: p.config.databasePath), actor: "school/100001")
        #expect(entries.count >= 2 && entries.count <= 2 * windows, "\(entries.count) entries")
        #expect(Self.total(entries) == 2000)
        #expect(entries.allSatisfy { $0.rule == "endpoint-roles:GET /audit/entries" && $0.decision == .deny })
    }

    static func refusalEntries(_ store: any SightlineStore, actor: String) async throws -> [AuditEntry] {
        try await store.auditEntries(from: 0, limit: 100_000).compactMap { try? AuditEntry.decode(canonical: $0.entry) }
            .filter { $0.actor == actor && $0.decision == .deny }
    }
}
