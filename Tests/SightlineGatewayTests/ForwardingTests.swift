import Foundation
import Hummingbird
import HummingbirdTLS
import NIOSSL
import SightlineClient
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// Forwarding that never loses a record, tested with real receiver processes
/// (`sightline partner listen`) over mTLS.
@Suite("Forwarding", .serialized)
struct ForwardingTests {
    static let sightline = TestPartnership.repoRoot + "/.build/debug/sightline"

    /// A `sightline partner listen` process.
    final class Receiver: @unchecked Sendable {
        let process = Process()
        let out: String
        let output = Pipe()

        init(identity: String, port: Int, out: String) throws {
            self.out = out
            process.executableURL = URL(fileURLWithPath: ForwardingTests.sightline)
            process.arguments = ["partner", "listen", "--port", "\(port)", "--identity", identity, "--out", out]
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        func waitListening(port: Int) async throws {
            for _ in 0..<100 {
                if !process.isRunning { throw TestFailure("receiver exited") }
                let (status, _) = try await runTool(which("curl"), ["-s", "-o", "/dev/null", "--max-time", "1", "-k", "https://127.0.0.1:\(port)/"])
                // Any TLS-level answer (curl 35/56 without a client cert) means it is listening; 7 = refused.
                if status != 7 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("receiver not listening")
        }

        func stop() {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }

        /// The forwards stored, in file order.
        func stored() throws -> [[String: JSONValue]] {
            guard let text = try? String(contentsOfFile: out, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").compactMap { line in
                guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)),
                      case .object(let f)? = o["forward"] else { return nil }
                return f
            }
        }
    }

    static func freePort() -> Int { freeLocalPort() }

    /// A partnership whose school/100001 receives pushes at `port`, with fast retries.
    static func partnership(schoolPort: Int, maxAttempts: Int? = nil) throws -> TestPartnership {
        let p = try TestPartnership()
        p.config.forwarding = .init()
        p.config.forwarding.pollIntervalMilliseconds = 50
        p.config.forwarding.baseDelayMilliseconds = 50
        p.config.forwarding.maxDelaySeconds = 1
        var participants = TestPartnership.participants.map { participant -> Participant in
            guard participant.identity == TestPartnership.id(.school, "100001") else { return participant }
            return Participant(identity: participant.identity, name: participant.name, status: .active, la: "304", endpoint: "https://127.0.0.1:\(schoolPort)")
        }
        participants.append(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        try Data(ParticipantRegistry.render(trustDomain: TestPartnership.trustDomain, participants: participants).utf8)
            .write(to: URL(fileURLWithPath: p.config.participantsPath))
        if let maxAttempts {
            let policy = p.dir + "/policy"
            try FileManager.default.copyItem(atPath: TestPartnership.repoRoot + "/Policies", toPath: policy)
            let file = policy + "/forwarding.yaml"
            try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "max-attempts: 8", with: "max-attempts: \(maxAttempts)")
                .write(toFile: file, atomically: true, encoding: .utf8)
            p.config.policyDirectory = policy
        }
        return p
    }

    /// The school's enrolment names the pupil by UPN and NHS number; the police know the NHS
    /// number: the school's link is corroborated by another participant.
    static let child = "{\"upn\":\"H801200001001\",\"nhsNumber\":\"9434765919\",\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\",\"postcode\":\"NW6 4DP\"}"
    static let childForPolice = "{\"nhsNumber\":\"9434765919\",\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\"}"
    static let childByName = "{\"givenName\":\"Amara\",\"familyName\":\"Okafor\",\"dateOfBirth\":\"2014-03-02\"}"

    static func enrolment(_ ref: String = "ADM-0042", identifiers: String = child) -> Data {
        Data("{\"kind\":\"school.enrolment\",\"localRef\":\"\(ref)\",\"observedAt\":\"2026-09-08T08:30:00Z\",\"identifiers\":\(identifiers),\"fields\":{\"onRollFrom\":\"2025-09-03\",\"senStatus\":\"support\"}}".utf8)
    }

    static func incident(_ ref: String, category: String = "domestic-abuse", at: String = "2026-11-27T22:10:00Z", identifiers: String = childForPolice) -> String {
        "{\"kind\":\"police.notification\",\"localRef\":\"\(ref)\",\"observedAt\":\"2026-11-28T01:00:00Z\",\"identifiers\":\(identifiers),\"fields\":{\"category\":\"\(category)\",\"occurredAt\":\"\(at)\",\"childPresent\":true}}"
    }

    static func waitUntil(_ seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("condition not met within \(seconds)s")
    }

    @Test func encompassNoticeReachesTheCurrentSchoolByItsOwnReference() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
        try await receiver.waitListening(port: port)
        try await p.withGateway { gw in
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment()).status == 201)
            #expect(try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1").utf8)).status == 201)
            do { try await Self.waitUntil { try receiver.stored().count == 1 } } catch {
                let forwards = try await gw.state.store.forwards(state: nil, limit: 10)
                Issue.record("not delivered: \(forwards.map { "\($0.state) attempts \($0.attempts) \($0.lastError ?? "")" }); receiver: \(String(decoding: receiver.output.fileHandleForReading.availableData, as: UTF8.self))")
                throw error
            }
            let notice = try receiver.stored()[0]
            #expect(notice["pupilReference"] == .string("ADM-0042"))
            #expect(notice["rule"] == .string("encompass-to-current-school"))
            #expect(Set(notice["fields"]?.objectValue?.keys.map { $0 } ?? []) == ["category", "occurredAt", "childPresent"])
            #expect(notice["pseudonym"] == nil)
            // The incident was on Friday night: the school must know before 08:00 on Monday (UK time).
            #expect(notice["deadline"] == .string("2026-11-30T08:00:00Z"))
            let file = try String(contentsOfFile: receiver.out, encoding: .utf8)
            for raw in ["H801200001001", "9434765919", "Okafor", "Amara", "2014-03-02", "NW6"] { #expect(!file.contains(raw)) }
            try await Self.waitUntil { try await gw.state.store.outboxCounts().delivered == 1 }
            let actions = try await gw.state.store.auditEntries(from: 0, limit: 100).compactMap { try? AuditEntry.decode(canonical: $0.entry) }
            #expect(actions.contains { $0.action == "forward.create" && $0.rule == "encompass-to-current-school" })
            #expect(actions.contains { $0.action == "forward.delivered" && $0.rule == "encompass-to-current-school" })
            // The sealed reference is not in the database in clear.
            let db = try Data(contentsOf: URL(fileURLWithPath: p.config.databasePath))
            let wal = (try? Data(contentsOf: URL(fileURLWithPath: p.config.databasePath + "-wal"))) ?? Data()
            #expect(db.range(of: Data("ADM-0042".utf8)) == nil && wal.range(of: Data("ADM-0042".utf8)) == nil)
        }
    }

    @Test func aNewForwardLeavesAtOnceNotAtTheNextPoll() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        p.config.forwarding.pollIntervalMilliseconds = 30_000  // only the doorbell can deliver in time
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
        try await receiver.waitListening(port: port)
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            try await Task.sleep(for: .milliseconds(300))  // the service is now asleep until its next poll
            let started = ContinuousClock.now
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1").utf8))
            try await Self.waitUntil(5) { try receiver.stored().count == 1 }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test func aBacklogForOneRecipientDrainsWithoutWaitingForPolls() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        p.config.forwarding.pollIntervalMilliseconds = 30_000
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
        try await receiver.waitListening(port: port)
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            let batch = (1...20).map { Self.incident("MPS-\($0)") }
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ndjson: batch))
            do { try await Self.waitUntil(30) { try receiver.stored().count == 20 } } catch {
                let forwards = try await gw.state.store.forwards(state: nil, limit: 30)
                Issue.record("stored \(try receiver.stored().count) of 20: \(forwards.map { "\($0.state) attempts \($0.attempts) \($0.lastError ?? "")" })")
                throw error
            }
            #expect(try receiver.stored().compactMap { $0["forwardId"]?.stringValue }.count == 20)
        }
    }

    @Test func recipientDownThenUpGetsEverythingOnceInOrder() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            for i in 1...3 { _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-\(i)").utf8)) }
            #expect(try await gw.state.store.outboxCounts().pending == 3)
            try await Self.waitUntil { try await gw.state.store.forwards(state: .pending, limit: 10).contains { $0.attempts >= 2 } }
            let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
            try await Self.waitUntil(20) { try await gw.state.store.outboxCounts().delivered == 3 }
            let stored = try receiver.stored()
            #expect(stored.count == 3)
            let created = try await gw.state.store.forwards(state: nil, limit: 10).sorted { $0.id < $1.id }.map(\.publicID)
            #expect(stored.compactMap { $0["forwardId"]?.stringValue } == created)
            let failures = try await gw.state.store.auditEntries(from: 0, limit: 500).compactMap { try? AuditEntry.decode(canonical: $0.entry) }
                .filter { $0.action == "forward.attempt-failed" }
            #expect(!failures.isEmpty)
        }
    }

    @Test func aRecipientThatAlways500sIsDeadLetteredThenRetriedByAnOperator() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port, maxAttempts: 3); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            try await Self.withFailingEndpoint(identity: school, port: port) {
                _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1").utf8))
                try await Self.waitUntil(15) { try await gw.state.store.outboxCounts().dead == 1 }
            }
            let dead = try await gw.state.store.forwards(state: .dead, limit: 10)
            #expect(dead.first?.attempts == 3 && dead.first?.lastError == "HTTP 500")
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_forwards_dead 1"))
            #expect(metrics.contains("sightline_forwards_dead_lettered_total 1"))
            // An operator retries with the admin command, against the live database.
            let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
            try await receiver.waitListening(port: port)
            let retry = try await runTool(TestPartnership.repoRoot + "/.build/debug/sightline-gateway",
                                    ["forwards", "retry", "--all-dead", "--state", p.dir])
            #expect(retry.status == 0, "\(retry.output)")
            try await Self.waitUntil(15) { try receiver.stored().count == 1 }
            // The receiver writes before it answers; the gateway records the delivery just after.
            try await Self.waitUntil(5) { try await gw.state.store.outboxCounts().delivered == 1 }
        }
    }

    /// A TLS endpoint with the school's identity that answers 500 to everything.
    static func withFailingEndpoint(identity: String, port: Int, _ body: () async throws -> Void) async throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(identity + "/cert.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: identity + "/key.pem", format: .pem)))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(identity + "/ca.pem"))
        tls.certificateVerification = .noHostnameVerification
        tls.minimumTLSVersion = .tlsv13
        let router = Router()
        router.post("forwards") { _, _ -> Response in Response(status: .internalServerError) }
        let app = Application(router: router, server: try .tls(tlsConfiguration: tls), configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let task = Task { try await app.runService() }
        try await Task.sleep(for: .milliseconds(300))
        do { try await body() } catch { task.cancel(); throw error }
        task.cancel()
        _ = try? await task.value
    }

    @Test func aReceiverPresentingTheWrongCertificateGetsNothing() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let otherSchool = try p.identity(TestPartnership.id(.school, "100002"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        // Another participant's (valid) certificate at school/100001's endpoint.
        let impostor = try Receiver(identity: otherSchool, port: port, out: p.dir + "/impostor.ndjson"); defer { impostor.stop() }
        try await impostor.waitListening(port: port)
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1").utf8))
            try await Self.waitUntil { try await gw.state.store.forwards(state: .pending, limit: 10).contains { $0.attempts >= 2 } }
            #expect(try impostor.stored().isEmpty)
            #expect(try await gw.state.store.outboxCounts().delivered == 0)
        }
    }

    @Test func pullRecipientsReadTheirInboxAndAcknowledge() async throws {
        let p = try Self.partnership(schoolPort: Self.freePort()); defer { p.remove() }
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-9", category: "missing-episode").utf8))
            struct Page: Decodable { struct Item: Decodable { var id: Int64; var forward: [String: JSONValue] }; var acknowledged: Int64; var next: Int64; var forwards: [Item] }
            let page = try JSONDecoder().decode(Page.self, from: try await gw.request(mash, "GET", "/v1/inbox").body)
            #expect(page.forwards.count == 1 && page.acknowledged == 0)
            let notice = page.forwards[0].forward
            #expect(notice["rule"] == .string("missing-episode-to-mash"))
            #expect(Set(notice["fields"]?.objectValue?.keys.map { $0 } ?? []) == ["category", "occurredAt"])
            // The pseudonym in the notice is MASH's own, and it resolves for MASH only.
            let pseudonym = try #require(notice["pseudonym"]?.stringValue)
            #expect(try await gw.request(mash, "GET", "/v1/subjects/\(pseudonym)?purpose=s47").status == 200)
            #expect(try await gw.request(cme, "GET", "/v1/subjects/\(pseudonym)?purpose=cme").status == 404)
            // Other recipients see nothing of it.
            let cmePage = try JSONDecoder().decode(Page.self, from: try await gw.request(cme, "GET", "/v1/inbox").body)
            #expect(cmePage.forwards.isEmpty)
            let ack = try await gw.request(mash, "POST", "/v1/inbox/ack", body: Data("{\"upTo\":\(page.next)}".utf8))
            #expect(ack.status == 200)
            let after = try JSONDecoder().decode(Page.self, from: try await gw.request(mash, "GET", "/v1/inbox").body)
            #expect(after.forwards.isEmpty && after.acknowledged == page.next)
            #expect(try await gw.state.store.outboxCounts().delivered == 1)
        }
    }

    @Test func anAckPastTheNewestForwardIsClampedAndTheNextForwardIsStillDelivered() async throws {
        let p = try Self.partnership(schoolPort: Self.freePort()); defer { p.remove() }
        try p.addParticipant(.init(identity: TestPartnership.id(.partner, "304-mash"), name: "MASH", status: .active, la: "304"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let mash = try p.identity(TestPartnership.id(.partner, "304-mash"))
        try await p.withGateway { gw in
            struct Page: Decodable { struct Item: Decodable { var id: Int64 }; var acknowledged: Int64; var next: Int64; var forwards: [Item] }
            struct AckAnswer: Decodable { var acknowledged: Int64; var delivered: Int64 }
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-21", category: "missing-episode").utf8))
            let first = try JSONDecoder().decode(Page.self, from: try await gw.request(mash, "GET", "/v1/inbox").body)
            let offered = try #require(first.forwards.last?.id)
            // An ack far past anything offered moves the cursor only to the newest forward offered, and says so.
            let ack = try await gw.request(mash, "POST", "/v1/inbox/ack", body: Data("{\"upTo\":1000000}".utf8))
            #expect(ack.status == 200)
            let answer = try JSONDecoder().decode(AckAnswer.self, from: ack.body)
            #expect(answer.acknowledged == offered && answer.delivered == 1, "\(String(decoding: ack.body, as: UTF8.self))")
            // The next forward, created after that ack, is still delivered through the inbox.
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-22", category: "missing-episode").utf8))
            let second = try JSONDecoder().decode(Page.self, from: try await gw.request(mash, "GET", "/v1/inbox").body)
            #expect(second.acknowledged == offered && second.forwards.count == 1 && second.forwards[0].id > offered)
            // An ack below the cursor moves nothing back, and answers where the cursor stands.
            let back = try JSONDecoder().decode(AckAnswer.self, from: try await gw.request(mash, "POST", "/v1/inbox/ack", body: Data("{\"upTo\":0}".utf8)).body)
            #expect(back.acknowledged == offered && back.delivered == 0)
        }
    }

    @Test func anOverdueForwardRaisesAMetricAndAnAuditEntry() async throws {
        let p = try Self.partnership(schoolPort: Self.freePort()); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            // An incident from last week whose school is unreachable: its 08:00 deadline has passed.
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1", at: "2026-11-18T22:00:00Z").utf8))
            try await Self.waitUntil {
                try await gw.state.store.auditEntries(from: 0, limit: 200).contains { (try? AuditEntry.decode(canonical: $0.entry))?.action == "forward.overdue" }
            }
            let metrics = try await runTool(which("curl"), ["-sf", "http://127.0.0.1:\(gw.opsPort)/metrics"]).output
            #expect(metrics.contains("sightline_forwards_overdue_total 1"))
        }
    }

    @Test func aRecipientRemovedWhileForwardsAreQueuedReceivesNothing() async throws {
        let port = Self.freePort()
        let p = try Self.partnership(schoolPort: port); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"), serves: true)
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Self.enrolment())
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(Self.incident("MPS-1").utf8))
            let remaining = TestPartnership.participants.filter { $0.identity != TestPartnership.id(.school, "100001") }
            try Data(ParticipantRegistry.render(trustDomain: TestPartnership.trustDomain, participants: remaining).utf8)
                .write(to: URL(fileURLWithPath: p.config.participantsPath))
            try gw.state.reloadParticipants()
            let receiver = try Receiver(identity: school, port: port, out: p.dir + "/school-inbox.ndjson"); defer { receiver.stop() }
            try await Self.waitUntil { try await gw.state.store.outboxCounts().dead == 1 }
            #expect(try receiver.stored().isEmpty)
            #expect(try await gw.state.store.forwards(state: .dead, limit: 1).first?.lastError == "recipient is not an active participant")
        }
    }
}

/// The daemon killed with -9 while forwards are queued: after a restart everything queued is
/// delivered, once.
@Suite("Forwarding across a crash", .serialized)
struct ForwardingCrashTests {
    @Test func forwardsQueuedWhenTheGatewayIsKilledAreDeliveredOnceAfterRestart() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-fwdcrash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        // Dev mode pushes school/100001's forwards to the port after the API's.
        let first = try DaemonProcessTests.Daemon(state: state)
        try await first.waitReady()
        let ids = state + "/identities"
        let school = ids + "/school-100001", police = ids + "/police-MPS"
        let schoolClient = try GatewayClient(baseURL: "https://127.0.0.1:\(first.port)", identityDirectory: school)
        #expect(try await schoolClient.request(.POST, "/v1/submissions", body: ForwardingTests.enrolment()).status == 201)
        try await schoolClient.shutdown()
        let policeClient = try GatewayClient(baseURL: "https://127.0.0.1:\(first.port)", identityDirectory: police)
        for i in 1...5 {
            let r = try await policeClient.request(.POST, "/v1/submissions", body: Data(ForwardingTests.incident("MPS-\(i)").utf8))
            #expect(r.status == 201)
        }
        try await policeClient.shutdown()
        first.signal(SIGKILL)
        await waitForExit(first.process)

        // The school's receiver is up before the gateway restarts: on a loaded machine, attempts made
        // before it listened backed off past the wait below.
        let out = state + "/school-forwards.ndjson"
        let receiver = try ForwardingTests.Receiver(identity: school, port: first.port + 1, out: out); defer { receiver.stop() }
        let second = try DaemonProcessTests.Daemon(state: state, port: first.port, opsPort: first.opsPort)
        defer { if second.process.isRunning { second.signal(SIGKILL) } }  // a failed wait must not leave the daemon running
        try await second.waitReady()
        try await ForwardingTests.waitUntil(30) { try receiver.stored().count >= 5 }
        try await Task.sleep(for: .seconds(1))
        let stored = try receiver.stored()
        #expect(stored.count == 5)
        #expect(Set(stored.compactMap { $0["forwardId"]?.stringValue }).count == 5)
        #expect(stored.allSatisfy { $0["pupilReference"] == .string("ADM-0042") })
        second.signal(SIGTERM)
        await waitForExit(second.process)
    }
}
