import Crypto
import Foundation
import GRDB
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Issue 9 items 1 and 2: nothing the gateway keeps lets an identifier be recovered by
/// enumeration, and nothing the client chose (key names, idempotency keys) is kept in clear.
/// Each test enumerates a small space of NHS numbers that contains the real one, as an attacker
/// with the database and the audit log would, and must find nothing.
@Suite("Digests resist enumeration", .serialized)
struct DigestEnumerationTests {
    static let nhs = "9434765919"

    /// Every valid NHS number 943476xxxx: about 9,000 candidates, the real one among them.
    static var candidates: [String] {
        (0..<10_000).map { "943476" + String(format: "%04d", $0) }.filter { NHSNumber($0) != nil }
    }

    static func sha256(_ text: String) -> String { Data(SHA256.hash(data: Data(text.utf8))).hexString }

    /// Every run of 64 hex digits in `text`: the shape of an unkeyed SHA-256 digest.
    static func hexDigests(in text: String) -> Set<String> {
        var out = Set<String>(), run: [UInt8] = []
        for b in text.utf8 {
            let hex = (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66)
            if hex { run.append(b); continue }
            if run.count >= 64 { for i in 0...(run.count - 64) { out.insert(String(decoding: run[i..<i + 64], as: UTF8.self)) } }
            run.removeAll(keepingCapacity: true)
        }
        if run.count >= 64 { for i in 0...(run.count - 64) { out.insert(String(decoding: run[i..<i + 64], as: UTF8.self)) } }
        return out
    }

    /// Everything at rest an attacker could read: the database, its WAL, and the audit log's entries.
    static func everythingAtRest(_ gw: RunningGateway) async throws -> String {
        let path = gw.state.config.databasePath
        var text = ""
        for file in [path, path + "-wal"] {
            if let data = FileManager.default.contents(atPath: file) { text += String(decoding: data, as: UTF8.self) }
        }
        for entry in try await gw.state.store.auditEntries(from: 0, limit: 10_000) { text += String(decoding: entry.entry, as: UTF8.self) }
        return text + gw.partnership.logs.text
    }

    @Test func aMatchRequestsDigestDoesNotGiveBackTheNHSNumber() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8)).status == 201)
            let body = { (n: String) in #"{"purpose":"cme","identifiers":{"nhsNumber":"\#(n)"}}"# }
            let swapped = { (n: String) in #"{"identifiers":{"nhsNumber":"\#(n)"},"purpose":"cme"}"# }
            #expect(try await gw.request(partner, "POST", "/v1/match", body: Data(body(Self.nhs).utf8)).status == 200)
            #expect(try await gw.request(partner, "POST", "/v1/match", body: Data(swapped("9912003888").utf8)).status == 404)
            let match = try await lastAuditEntry(gw)
            #expect(match.action == "match")
            #expect(match.requestDigest.hasPrefix("hmac:\(gw.state.digester.keyID):"))
            #expect(Self.hexDigests(in: "{\"d\":\"" + Self.sha256("probe") + "\"}").contains(Self.sha256("probe")), "the search itself works")
            let digests = Self.hexDigests(in: try await Self.everythingAtRest(gw))
            var found: [String] = []
            for n in Self.candidates + ["9912003888"] where digests.contains(Self.sha256(body(n))) || digests.contains(Self.sha256(swapped(n))) {
                found.append(n)
            }
            #expect(found.isEmpty, "enumeration recovered \(found.count) NHS number(s) from stored digests")
        }
    }

    @Test func smallSubmissionsAndTheirDefaultIdempotencyKeysDoNotGiveBackTheNHSNumber() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8)).status == 201)
            let digests = Self.hexDigests(in: try await Self.everythingAtRest(gw))
            let found = Self.candidates.filter { digests.contains(Self.sha256(SampleRecords.gp(nhs: $0))) }
            #expect(found.isEmpty, "the body's unkeyed digest is kept: \(found.count) NHS number(s) recovered")
            let store = try #require(gw.state.store as? SQLiteStore)
            let (key, digest) = try await store.pool.read { db in
                let row = try #require(try Row.fetchOne(db, sql: "SELECT idempotency_key, body_digest FROM submission"))
                return (row["idempotency_key"] as String, row["body_digest"] as String)
            }
            #expect(key.hasPrefix("body:hmac:") && digest.hasPrefix("hmac:"))
        }
    }

    @Test func anIdempotencyKeyIsKeptAndLoggedAsAKeyedDigestAndNeverEchoed() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            // A client that (wrongly) uses the NHS number as its idempotency key.
            let headers = [("Idempotency-Key", Self.nhs)]
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8), headers: headers).status == 201)
            #expect(try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp().utf8), headers: headers).status == 200)
            let conflict = try await gw.request(gp, "POST", "/v1/submissions", body: Data(SampleRecords.gp("GP-2").utf8), headers: headers)
            #expect(conflict.status == 409)
            #expect(!String(decoding: conflict.body, as: UTF8.self).contains(Self.nhs))
            let atRest = try await Self.everythingAtRest(gw)
            #expect(!atRest.contains(Self.nhs))
            #expect(!atRest.contains("943 476 5919"))
        }
    }

    @Test func rejectedKeyNamesNeverReachTheReceiptTheLogsOrTheAuditLog() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            let valid = SampleRecords.gp("GP-9", nhs: "6541003238")
            let bad = [
                valid.replacingOccurrences(of: #""kind":"#, with: #""9434765919":1,"kind":"#),
                valid.replacingOccurrences(of: #""nhsNumber":"#, with: #""Zyxquorth Vexmoribund":"x","nhsNumber":"#),
                valid.replacingOccurrences(of: #""practice":"#, with: #""9912003888":true,"practice":"#).replacingOccurrences(of: "GP-9", with: "GP-8"),
                valid.replacingOccurrences(of: "GP-9", with: "9990000018"),   // an NHS number as the reference
                valid.replacingOccurrences(of: #""Y12345""#, with: #""9434765919""#).replacingOccurrences(of: "GP-9", with: "GP-7"),
            ]
            let r = try await gw.request(gp, "POST", "/v1/submissions", body: Data((bad + [valid]).joined(separator: "\n").utf8))
            #expect(r.status == 201)
            let receipt = String(decoding: r.body, as: UTF8.self)
            let decoded = try JSONDecoder().decode(Receipt.self, from: r.body)
            #expect(decoded.accepted == 1 && decoded.rejected.count == 5)
            #expect(Set(decoded.rejected.map(\.field)) == ["", "identifiers", "fields", "localRef", "fields.practice"])
            let atRest = try await Self.everythingAtRest(gw)
            for secret in ["9434765919", "Zyxquorth", "Vexmoribund", "9912003888", "9990000018"] {
                #expect(!receipt.contains(secret), "the receipt echoes \(secret)")
                #expect(!atRest.contains(secret), "\(secret) is kept at rest or in the logs")
            }
        }
    }
}
