import Foundation
import GRDB
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Issue 9 item 3 over real mTLS: slow uploads end, concurrent submissions are bounded, and a
/// participant suspended while its upload arrives commits nothing. The slow client is Python's
/// ssl module (a second, independent TLS stack) so that bytes can be sent at a chosen pace.
@Suite("Bounded submissions", .serialized)
struct BoundedSubmissionTests {
    /// Sends headers, then `body` in `pieces` chunks `pause` seconds apart; prints the status line,
    /// the Retry-After header if any, and the elapsed seconds.
    static let slowClient = #"""
    import socket, ssl, sys, threading, time
    port, ident, body, pieces, pause = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4]), float(sys.argv[5])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ident + "/ca.pem")
    ctx.load_cert_chain(ident + "/cert.pem", ident + "/key.pem")
    ctx.check_hostname = False
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    start = time.time()
    answer = {}
    def read():
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
        except OSError:
            pass
        answer["head"] = data.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
        answer["at"] = time.time() - start
    reader = threading.Thread(target=read, daemon=True)
    s.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n" % len(body))
    reader.start()
    step = max(1, len(body) // pieces)
    try:
        for i in range(0, len(body), step):
            if "at" in answer: break
            s.sendall(body[i:i + step])
            time.sleep(pause)
    except OSError:
        pass
    reader.join(30)
    head = answer.get("head", [""])
    retry = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("retry-after:")]
    print(head[0], "|", retry[0] if retry else "-", "|", "%.1f" % answer.get("at", -1))
    """#

    static func slowUpload(_ gw: RunningGateway, _ identity: String, body: String, pieces: Int, pause: Double) async throws -> (status: Int, retryAfter: String, seconds: Double) {
        let (_, output) = try await runTool("/usr/bin/env", ["python3", "-c", slowClient, "\(gw.apiPort)", identity, body, "\(pieces)", "\(pause)"])
        let parts = output.split(separator: "\n").last.map { $0.components(separatedBy: " | ") } ?? []
        guard parts.count == 3, let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") else {
            throw TestFailure("slow client said: \(output)")
        }
        return (status, parts[1], Double(parts[2]) ?? -1)
    }

    @Test func aBodyTrickledPastTheDeadlineIsEndedWith408() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.limits.requestDeadlineSeconds = 3
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            // One record sent a few bytes a second: it would take a minute.
            let r = try await Self.slowUpload(gw, school, body: SampleRecords.enrolment(), pieces: 60, pause: 1)
            #expect(r.status == 408)
            #expect(r.seconds < 10, "ended after \(r.seconds) s")
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test func theWatchdogEndsBodiesSlowerThanTheMinimumRateAfterTheGrace() {
        let deadline = Duration.seconds(120), grace = Duration.seconds(10)
        #expect(BoundedBody.verdict(elapsed: .seconds(9), received: 0, deadline: deadline, minimumBytesPerSecond: 8192, grace: grace) == nil)
        #expect(BoundedBody.verdict(elapsed: .seconds(20), received: 100_000, deadline: deadline, minimumBytesPerSecond: 8192, grace: grace) == nil)
        #expect(BoundedBody.verdict(elapsed: .seconds(20), received: 50_000, deadline: deadline, minimumBytesPerSecond: 8192, grace: grace)?.status == .requestTimeout)
        #expect(BoundedBody.verdict(elapsed: .seconds(121), received: .max, deadline: deadline, minimumBytesPerSecond: 1, grace: grace)?.status == .requestTimeout)
    }

    @Test func submissionsBeyondTheSlotsGet503WithRetryAfterWhileReadsGoOn() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.limits.maxConcurrentSubmissions = 1
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            // The slot is held by an upload that takes about 3 s.
            async let slow = Self.slowUpload(gw, school, body: SampleRecords.enrolment(), pieces: 3, pause: 1)
            try await Self.waitUntil { gw.state.submissionAdmission.current == 1 }
            let refused = try await Self.slowUpload(gw, gp, body: SampleRecords.gp(), pieces: 1, pause: 0)
            #expect(refused.status == 503)
            #expect(refused.retryAfter == "2")
            let inbox = try await gw.request(partner, "GET", "/v1/inbox")
            #expect(inbox.status == 200)
            // Not a timing: the read came back while the slow upload still held the slot.
            #expect(gw.state.submissionAdmission.current == 1, "a read waited behind a slow submission")
            #expect(try await slow.status == 201)
            // The slot is free again.
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8)).status == 201)
        }
    }

    @Test func aParticipantSuspendedDuringItsUploadCommitsNothing() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            async let upload = Self.slowUpload(gw, school, body: SampleRecords.enrolment(), pieces: 4, pause: 1)
            try await Self.waitUntil { gw.state.submissionAdmission.current == 1 }
            let suspended = TestPartnership.participants.map { participant in
                participant.identity == TestPartnership.id(.school, "100001")
                    ? Participant(identity: participant.identity, name: participant.name, status: .suspended, la: participant.la) : participant
            }
            try Data(ParticipantRegistry.render(trustDomain: TestPartnership.trustDomain, participants: suspended).utf8)
                .write(to: URL(fileURLWithPath: p.config.participantsPath))
            try gw.state.reloadParticipants()
            #expect(try await upload.status == 403)
            #expect(try await gw.state.store.counts().records == 0)
            #expect(try await gw.state.store.counts().submissions == 0)
        }
    }

    static func waitUntil(_ condition: @Sendable () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("condition not met in 5 s")
    }
}
