import Foundation
import NIOCore
import NIOPosix
import SightlineCore
import Testing
@testable import SightlineGateway

/// Slow and hostile clients: connections that never finish a handshake, or send garbage, do
/// not stop a well-behaved client from being served.
@Suite("Hostile clients", .serialized)
struct HostileClientTests {
    @Test func stalledAndGarbageConnectionsDoNotStarveAGoodClient() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            // The same request with no hostile connections open, as the baseline: on a loaded
            // machine (the whole suite in parallel on 2 cores) both are slower, starvation only the second.
            let quiet = ContinuousClock.now
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("ADM-BASE").utf8)).status == 201)
            let baseline = ContinuousClock.now - quiet
            var stalled: [Int32] = []
            defer { for fd in stalled { close(fd) } }
            // 200 connections that say nothing, and 50 that send half a TLS ClientHello or junk.
            for i in 0..<250 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(gw.apiPort).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(connected == 0)
                if i >= 200 {
                    let bytes: [UInt8] = i % 2 == 0 ? [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01] : Array("GET / HTTP/1.1\r\n".utf8)
                    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                }
                stalled.append(fd)
            }
            let started = ContinuousClock.now
            let r = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            let elapsed = ContinuousClock.now - started
            #expect(r.status == 201)
            // Starved, it would wait for the stalled connections' timeouts (tens of seconds).
            #expect(elapsed < max(.seconds(5), baseline * 20), "a good client waited \(elapsed) behind stalled connections (\(baseline) without them)")
        }
    }
}
