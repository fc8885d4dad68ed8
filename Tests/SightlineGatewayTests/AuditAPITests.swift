import Crypto
import Foundation
import GRDB
import SightlineClient
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

/// RFC 9162 and C2SP signed notes written again from the specifications' recursive definitions,
/// sharing no code with SightlineCore's MerkleVerify or SignedNote: proofs the API serves must
/// convince a verifier that never saw our implementation.
private enum Independent {
    static func sha256(_ data: Data) -> Data { Data(SHA256.hash(data: data)) }
    static func leaf(_ entry: Data) -> Data { sha256(Data([0x00]) + entry) }
    static func node(_ l: Data, _ r: Data) -> Data { sha256(Data([0x01]) + l + r) }
    static func split(_ n: Int) -> Int { var k = 1; while k * 2 < n { k *= 2 }; return k }

    /// MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1).
    static func root(_ leaves: ArraySlice<Data>) -> Data {
        switch leaves.count {
        case 0: return sha256(Data())
        case 1: return leaves.first!
        default:
            let k = split(leaves.count)
            return node(root(leaves.prefix(k)), root(leaves.dropFirst(k)))
        }
    }

    /// The root that PATH(m, D[n]) leads to from `leaf`, undoing PATH's recursion: the last
    /// element is the sibling at the top (§2.1.3.1), or nil if the proof has the wrong length.
    static func root(fromInclusion leaf: Data, index m: Int, size n: Int, proof: ArraySlice<Data>) -> Data? {
        if n == 1 { return proof.isEmpty ? leaf : nil }
        guard let sibling = proof.last else { return nil }
        let k = split(n)
        if m < k {
            return root(fromInclusion: leaf, index: m, size: k, proof: proof.dropLast()).map { node($0, sibling) }
        }
        return root(fromInclusion: leaf, index: m - k, size: n - k, proof: proof.dropLast()).map { node(sibling, $0) }
    }

    /// The (old, new) roots that SUBPROOF(m, D[n], b) of §2.1.4.1 commits to, given the old root.
    static func roots(fromConsistency m: Int, _ n: Int, _ b: Bool, oldRoot: Data, proof: ArraySlice<Data>) -> (Data, Data)? {
        if m == n {
            if b { return proof.isEmpty ? (oldRoot, oldRoot) : nil }
            return proof.count == 1 ? (proof.first!, proof.first!) : nil
        }
        guard let last = proof.last else { return nil }
        let k = split(n)
        if m <= k {
            return roots(fromConsistency: m, k, b, oldRoot: oldRoot, proof: proof.dropLast()).map { ($0.0, node($0.1, last)) }
        }
        return roots(fromConsistency: m - k, n - k, false, oldRoot: oldRoot, proof: proof.dropLast()).map { (node(last, $0.0), node(last, $0.1)) }
    }

    static func consistent(old m: Int, new n: Int, oldRoot: Data, newRoot: Data, proof: [Data]) -> Bool {
        if m == n { return proof.isEmpty && oldRoot == newRoot }
        if m == 0 { return proof.isEmpty }
        guard let (o, nw) = roots(fromConsistency: m, n, true, oldRoot: oldRoot, proof: proof[...]) else { return false }
        return o == oldRoot && nw == newRoot
    }

    /// Opens a C2SP signed note with a `name+hexid+base64(0x01||key)` verifier key, and reads the
    /// checkpoint body (origin, size, base64 root).
    static func checkpoint(_ note: String, verifierKey: String) -> (origin: String, size: Int, root: Data)? {
        let parts = verifierKey.split(separator: "+", maxSplits: 2).map(String.init)
        guard parts.count == 3, let raw = Data(base64Encoded: parts[2]), raw.count == 33, raw[0] == 1,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst()) else { return nil }
        let keyID = sha256(Data(parts[0].utf8) + Data([0x0A, 0x01]) + raw.dropFirst()).prefix(4)
        guard keyID.map({ String(format: "%02x", $0) }).joined() == parts[1] else { return nil }
        guard let cut = note.range(of: "\n\n", options: .backwards) else { return nil }
        let text = String(note[..<cut.lowerBound]) + "\n"
        let signatureLines = note[cut.upperBound...].split(separator: "\n")
        let signed = signatureLines.contains { line in
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == "\u{2014}", fields[1] == parts[0], let blob = Data(base64Encoded: String(fields[2])),
                  blob.count == 68, blob.prefix(4) == keyID else { return false }
            return key.isValidSignature(blob.dropFirst(4), for: Data(text.utf8))
        }
        let lines = text.split(separator: "\n").map(String.init)
        guard signed, lines.count >= 3, let size = Int(lines[1]), let root = Data(base64Encoded: lines[2]) else { return nil }
        return (lines[0], size, root)
    }

    static func hex(_ s: String) -> Data {
        var out = Data()
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }
}

extension TestPartnership {
    /// Lists the DPO as an auditor, and returns an identity for it.
    func auditor() throws -> String {
        let dpo = TestPartnership.id(.auditor, "dpo")
        try Data(ParticipantRegistry.render(trustDomain: Self.trustDomain, participants: Self.participants + [
            Participant(identity: dpo, name: "Data protection officer", status: .active, la: "304")]).utf8)
            .write(to: URL(fileURLWithPath: config.participantsPath))
        return try identity(dpo)
    }

    /// The verifier key an auditor would be given out of band: from the key file itself.
    func pinnedVerifierKey() throws -> String {
        let keys = try KeyMaterial.load(from: config.keysPath)
        return try NoteVerifierKey(name: "\(Self.trustDomain)/sightline/audit", publicKey: keys.auditSigningKey.publicKey).description
    }
}

private func decode<T: Decodable>(_ type: T.Type, _ response: GatewayClient.Response) throws -> T {
    guard response.status == 200 else { throw TestFailure("HTTP \(response.status): \(String(decoding: response.body, as: UTF8.self))") }
    return try AuditWire.decoder.decode(T.self, from: response.body)
}

private func submitSome(_ gw: RunningGateway, _ p: TestPartnership, count: Int = 3) async throws {
    let school = try p.identity(TestPartnership.id(.school, "100001"))
    let client = try gw.client(school)
    defer { Task { try? await client.shutdown() } }
    for i in 0..<count {
        let r = try await client.request(.POST, "/v1/submissions", body: Data(SampleRecords.enrolment("ADM-\(UUID().uuidString.prefix(8))-\(i)").utf8))
        #expect(r.status == 201)
    }
}

@Suite("Audit API and sightline audit", .serialized)
struct AuditAPITests {
    @Test func theCheckpointIsASignedNoteThatAnIndependentVerifierAccepts() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        try await p.withGateway { gw in
            try await submitSome(gw, p)
            let r = try await gw.request(auditor, "GET", "/v1/audit/checkpoint")
            #expect(r.status == 200)
            let note = String(decoding: r.body, as: UTF8.self)
            let opened = try #require(Independent.checkpoint(note, verifierKey: pinned))
            #expect(opened.origin == "test.sightline/sightline/audit")
            // The read is logged before the answer leaves, and the checkpoint covers it.
            let head = try await gw.state.store.auditTreeHead()
            #expect(opened.size == 4 && head.size == 4 && opened.root == head.rootHash)

            let j = try decode(AuditWire.Checkpoint.self, try await gw.request(auditor, "GET", "/v1/audit/checkpoint?format=json"))
            #expect(j.verifierKey == pinned && j.size == 5)
            let reopened = try #require(Independent.checkpoint(j.note, verifierKey: pinned))
            #expect(reopened.size == 5 && reopened.root == Independent.hex(j.rootHash))
        }
    }

    @Test func entriesAndProofsFromTheAPIVerifyIndependently() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 6)
            let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
            #expect(try await gw.request(partner, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8)).status == 403)
            let client = try gw.client(auditor)
            defer { Task { try? await client.shutdown() } }
            let cp = try decode(AuditWire.Checkpoint.self, try await client.request(.GET, "/v1/audit/checkpoint?format=json"))
            let signed = try #require(Independent.checkpoint(cp.note, verifierKey: pinned))
            let n = signed.size
            #expect(n == 8)

            let page = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?from=0&limit=\(n)"))
            #expect(page.entries.map(\.index) == (0..<Int64(n)).map { $0 })
            let leaves = page.entries.map { Independent.leaf(Data(base64Encoded: $0.canonical)!) }
            #expect(page.entries.map(\.leafHash) == leaves.map(\.hexString))
            #expect(Independent.root(leaves[...]) == signed.root, "the entries recompute to the signed root")
            #expect(page.entries[6].entry?.objectValue?["action"]?.stringValue == "request")

            for index in 0..<n {
                let proof = try decode(AuditWire.InclusionProof.self,
                                       try await client.request(.GET, "/v1/audit/proofs/inclusion?index=\(index)&size=\(n)"))
                #expect(Independent.hex(proof.leafHash) == leaves[index])
                let root = Independent.root(fromInclusion: leaves[index], index: index, size: n, proof: proof.proof.map(Independent.hex)[...])
                #expect(root == signed.root, "inclusion proof of \(index) in \(n)")
            }
            for m in 0...n {
                let proof = try decode(AuditWire.ConsistencyProof.self, try await client.request(.GET, "/v1/audit/proofs/consistency?from=\(m)&to=\(n)"))
                let oldRoot = Independent.root(leaves.prefix(m))
                #expect(Independent.hex(proof.fromRoot) == oldRoot && Independent.hex(proof.toRoot) == signed.root)
                #expect(Independent.consistent(old: m, new: n, oldRoot: oldRoot, newRoot: signed.root, proof: proof.proof.map(Independent.hex)),
                        "consistency proof \(m) -> \(n)")
            }
            // A wrong leaf does not verify: the independent check can fail.
            let proof = try decode(AuditWire.InclusionProof.self, try await client.request(.GET, "/v1/audit/proofs/inclusion?index=2&size=\(n)"))
            #expect(Independent.root(fromInclusion: leaves[3], index: 2, size: n, proof: proof.proof.map(Independent.hex)[...]) != signed.root)
        }
    }

    @Test func entriesAreFilteredAndPaged() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 4)
            let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
            #expect(try await gw.request(partner, "GET", "/v1/audit/entries").status == 403)
            let client = try gw.client(auditor)
            defer { Task { try? await client.shutdown() } }
            let denied = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?decision=deny&actor=partner%2F304-cme"))
            #expect(denied.entries.count == 1 && denied.entries[0].index == 4 && denied.next == nil)
            let first = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?action=submission&limit=3"))
            #expect(first.entries.map(\.index) == [0, 1, 2] && first.next == 3)
            let rest = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?action=submission&limit=3&from=3"))
            #expect(rest.entries.map(\.index) == [3])
            let future = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?since=2100-01-01"))
            #expect(future.entries.isEmpty)
            let today = CivilDate(Date()).description
            let since = try decode(AuditWire.EntriesPage.self, try await client.request(.GET, "/v1/audit/entries?since=\(today)&until=2100-01-01T00:00:00Z&rule=schools-submit-enrolments"))
            #expect(since.entries.map(\.index) == [0, 1, 2, 3])
            #expect(since.entries.allSatisfy { $0.entry?.objectValue?["rule"]?.stringValue == "schools-submit-enrolments" })
        }
    }

    @Test func outOfRangeAndMalformedQueriesAre400WithAClearMessage() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            try await submitSome(gw, p)
            let client = try gw.client(auditor)
            defer { Task { try? await client.shutdown() } }
            let cases: [(String, String, String)] = [
                ("/v1/audit/proofs/inclusion?index=3&size=3", "out-of-range", "index must be 0...2"),
                ("/v1/audit/proofs/inclusion?index=0&size=1000", "out-of-range", "size must be 1..."),
                ("/v1/audit/proofs/inclusion?index=-1", "bad-request", "index must be a whole number"),
                ("/v1/audit/proofs/inclusion", "bad-request", "give index=I"),
                ("/v1/audit/proofs/inclusion?index=x", "bad-request", "index must be a whole number"),
                ("/v1/audit/proofs/consistency?from=3&to=2", "out-of-range", "from must be 0...2"),
                ("/v1/audit/proofs/consistency?from=1&to=1000", "out-of-range", "to must be 0..."),
                ("/v1/audit/proofs/consistency", "bad-request", "give from=M"),
                ("/v1/audit/entries?limit=0", "bad-request", "limit must be a whole number from 1 to 10000"),
                ("/v1/audit/entries?limit=10001", "bad-request", "limit must be a whole number from 1 to 10000"),
                ("/v1/audit/entries?since=yesterday", "bad-request", "since must be a date"),
                ("/v1/audit/entries?decision=maybe", "bad-request", "decision must be allow or deny"),
                ("/v1/audit/checkpoint?format=xml", "bad-request", "format must be note"),
            ]
            for (path, code, message) in cases {
                let r = try await client.request(.GET, path)
                #expect(r.status == 400, "\(path)")
                let body = try JSONDecoder().decode(ErrorBody.self, from: r.body)
                #expect(body.error == code && body.message.contains(message), "\(path): \(body.message)")
            }
        }
    }

    @Test func onlyTheAuditorReadsTheLogAndRefusalsAreLogged() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        _ = try p.auditor()
        try await p.withGateway { gw in
            let school = try p.identity(TestPartnership.id(.school, "100001"))
            let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
            for path in ["/v1/audit/checkpoint", "/v1/audit/entries", "/v1/audit/proofs/inclusion?index=0", "/v1/audit/proofs/consistency?from=0"] {
                for who in [school, partner] {
                    let before = try await gw.state.store.auditCount()
                    let r = try await gw.request(who, "GET", path)
                    #expect(r.status == 403, "\(path)")
                    #expect(try JSONDecoder().decode(ErrorBody.self, from: r.body).error == "role-not-allowed")
                    #expect(try await gw.state.store.auditCount() == before + 1)
                    let refusal = try await lastAuditEntry(gw)
                    #expect(refusal.decision == .deny && refusal.rule.hasPrefix("endpoint-roles:GET /audit/"), "\(refusal.rule)")
                }
            }
        }
    }

    @Test func everyReadOfTheLogIsItselfAnEntry() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            try await submitSome(gw, p)
            for (path, action) in [("/v1/audit/checkpoint", "audit.checkpoint"), ("/v1/audit/entries?limit=2&actor=school%2F100001", "audit.entries"),
                                   ("/v1/audit/proofs/inclusion?index=1", "audit.proof.inclusion"),
                                   ("/v1/audit/proofs/consistency?from=1", "audit.proof.consistency")] {
                let before = try await gw.state.store.auditCount()
                #expect(try await gw.request(auditor, "GET", path).status == 200)
                #expect(try await gw.state.store.auditCount() == before + 1, "\(path)")
                let entry = try await lastAuditEntry(gw)
                #expect(entry.actor == "auditor/dpo" && entry.action == action && entry.decision == .allow, "\(path)")
                #expect(entry.rule == "endpoint-roles:GET /" + path.dropFirst(4).prefix { $0 != "?" }, "the rule that allowed it, named as refusals name it")
                #expect(entry.requestDigest == gw.state.digester.digest("request-line", text: "GET \(path)"))
            }
            let listing = try await lastAuditEntry(gw)
            #expect(listing.action == "audit.proof.consistency")
            let entries = try await gw.state.store.auditEntries(matching: { var f = AuditEntryFilter(); f.action = "audit.entries"; return f }())
            let read = try AuditEntry.decode(canonical: entries[0].entry)
            #expect(read.counts["returned"] == 2 && read.detail["filters"] == "actor")
        }
    }

    @Test func readsNeverStoreOrLogWhatWasTypedIntoAFilter() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let typed = ["9434765919", "H801200001001", "Okafor"]
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 1)
            let r = try await gw.request(auditor, "GET", "/v1/audit/entries?actor=9434765919&rule=H801200001001&purpose=Okafor")
            #expect(r.status == 200)
            #expect(try await gw.request(auditor, "GET", "/v1/audit/entries?actor=9434765919&since=H801200001001").status == 400)
        }
        var stored = Data()
        for suffix in ["", "-wal"] { stored += (FileManager.default.contents(atPath: p.config.databasePath + suffix) ?? Data()) }
        for value in typed {
            #expect(stored.range(of: Data(value.utf8)) == nil, "\(value) is in the database")
            #expect(!p.logs.text.contains(value), "\(value) is in the logs")
        }
    }

    @Test func aSubmitterProvesItsOwnSubmissionWasLogged() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 2)
            let school = try p.identity(TestPartnership.id(.school, "100002"))
            let submitted = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("OWN-1").utf8))
            let receipt = try JSONDecoder().decode(Receipt.self, from: submitted.body)
            try await submitSome(gw, p, count: 2)

            let r = try await gw.request(school, "GET", "/v1/submissions/\(receipt.submissionId)/proof")
            let proof = try decode(AuditWire.SubmissionProof.self, r)
            #expect(proof.auditIndex == receipt.auditIndex && proof.inclusion.index == receipt.auditIndex)
            let signed = try #require(Independent.checkpoint(proof.checkpoint.note, verifierKey: pinned))
            #expect(signed.size == proof.inclusion.size && signed.size > Int(receipt.auditIndex))
            let leaf = Independent.hex(proof.inclusion.leafHash)
            #expect(Independent.root(fromInclusion: leaf, index: Int(receipt.auditIndex), size: signed.size,
                                     proof: proof.inclusion.proof.map(Independent.hex)[...]) == signed.root)
            // The leaf is the entry of this very submission, whose digest is that of the body sent.
            let stored = try await gw.state.store.auditEntries(from: receipt.auditIndex, limit: 1)[0]
            #expect(Independent.leaf(stored.entry) == leaf)
            let entry = try AuditEntry.decode(canonical: stored.entry)
            #expect(entry.detail["submission"] == receipt.submissionId)
            // Only the leaf hash travels: how records linked to other agencies' data does not.
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(!text.contains("linkedBy") && !text.contains("subjects") && !text.contains("canonical"))
            #expect(try await lastAuditEntry(gw).action == "submission.proof")

            let other = try p.identity(TestPartnership.id(.school, "100001"))
            #expect(try await gw.request(other, "GET", "/v1/submissions/\(receipt.submissionId)/proof").status == 404)
            #expect(try await gw.request(auditor, "GET", "/v1/submissions/\(receipt.submissionId)/proof").status == 403)
        }
    }

    @Test func theCheckpointServiceSignsEveryNEntriesAndOnShutdown() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.audit.checkpointEveryEntries = 3
        p.config.audit.checkpointEverySeconds = 3600
        let pinned = try NoteVerifierKey(parsing: try p.pinnedVerifierKey())
        try await p.withGateway { gw in
            // The service signs the empty log as it starts; wait for that before adding entries.
            for _ in 0..<50 where try await gw.state.store.latestCheckpoint() == nil { try await Task.sleep(for: .milliseconds(50)) }
            try await submitSome(gw, p, count: 3)
            var latest: StoredCheckpoint?
            for _ in 0..<50 {
                latest = try await gw.state.store.latestCheckpoint()
                if latest?.size == 3 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(latest?.size == 3)
            try await submitSome(gw, p, count: 1)
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await gw.state.store.latestCheckpoint()?.size == 3, "one entry is fewer than N: no new checkpoint yet")
        }
        let store = try SQLiteStore(path: p.config.databasePath, readOnly: true)
        let all = try await store.checkpoints(upTo: .max)
        #expect(all.map(\.size) == [0, 3, 4], "at start, after 3 entries, and at shutdown")
        for c in all { #expect(try AuditCheckpoint.parse(c.note, verifier: pinned).size == c.size) }
    }

    @Test func theCheckpointServiceSignsAfterTSeconds() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.audit.checkpointEveryEntries = 1000
        p.config.audit.checkpointEverySeconds = 1
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 1)
            var size: Int64?
            for _ in 0..<40 {
                size = try await gw.state.store.latestCheckpoint()?.size
                if size == 1 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(size == 1)
        }
    }

    @Test func aFilteredAnswerRefusesARowWhoseSearchColumnsDisagreeWithItsEntry() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 2)
            // Behind the gateway's back: entry 0 (a school's submission) now claims the CME team as its actor.
            let forger = try DatabaseQueue(path: p.config.databasePath)
            try await forger.writeWithoutTransaction { db in
                try db.execute(sql: "DROP TRIGGER audit_entry_no_update")
                try db.execute(sql: "UPDATE audit_entry SET actor = 'partner/304-cme' WHERE idx = 0")
            }
            try forger.close()
            let r = try await gw.request(auditor, "GET", "/v1/audit/entries?actor=partner%2F304-cme")
            #expect(r.status == 500)
            let body = try JSONDecoder().decode(ErrorBody.self, from: r.body)
            #expect(body.error == "audit-columns-disagree" && body.message.contains("entry 0") && body.message.contains("actor column"), "\(body.message)")
            #expect(!body.message.contains("school/100001"), "the message names the column, not its values")
            // A filter that does not select the changed row answers, and so do unfiltered pages (verify, export).
            let schools = try decode(AuditWire.EntriesPage.self, try await gw.request(auditor, "GET", "/v1/audit/entries?actor=school%2F100001"))
            #expect(schools.entries.map(\.index).contains(1) && !schools.entries.map(\.index).contains(0))
            #expect(try await gw.request(auditor, "GET", "/v1/audit/entries?from=0&limit=10").status == 200)
        }
    }

    @Test func theSightlineToolVerifiesTheRealLogAndNamesATamperedEntry() async throws {
        let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the tool first: swift build")
        let p = try TestPartnership(); defer { p.remove() }
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        let saved = p.dir + "/saved-checkpoint.txt", export = p.dir + "/export.ndjson"
        try await p.withGateway { gw in
            try await submitSome(gw, p, count: 4)
            let online = ["--gateway", gw.baseURL, "--identity", auditor]
            let (cpStatus, cpOut) = try await runTool(binary, ["audit", "checkpoint"] + online + ["--out", saved])
            #expect(cpStatus == 0 && cpOut.contains(pinned), "\(cpOut)")
            #expect(Independent.checkpoint(try String(contentsOfFile: saved, encoding: .utf8), verifierKey: pinned) != nil)
            try await submitSome(gw, p, count: 3)
            let (exStatus, exOut) = try await runTool(binary, ["audit", "export"] + online + ["--out", export])
            #expect(exStatus == 0, "\(exOut)")
            let (vStatus, vOut) = try await runTool(binary, ["audit", "verify"] + online + ["--checkpoint", saved, "--verifier-key", pinned])
            #expect(vStatus == 0 && vOut.contains("audit log OK") && vOut.contains("extends the saved checkpoint: size 5"), "\(vOut)")
            let (eStatus, eOut) = try await runTool(binary, ["audit", "entries"] + online + ["--action", "submission", "--limit", "2"])
            #expect(eStatus == 0 && eOut.contains("school/100001\tsubmission"), "\(eOut)")
        }
        // Offline, on a copy of the real file.
        let queue = try DatabaseQueue(path: p.config.databasePath)
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try queue.close()
        let copy = p.dir + "/copy.sqlite", tampered = p.dir + "/tampered.sqlite"
        try FileManager.default.copyItem(atPath: p.config.databasePath, toPath: copy)
        try FileManager.default.copyItem(atPath: p.config.databasePath, toPath: tampered)

        let (okStatus, okOut) = try await runTool(binary, ["audit", "verify", "--database", copy, "--verifier-key", pinned, "--checkpoint", saved])
        #expect(okStatus == 0 && okOut.contains("audit log OK (database copy.sqlite)"), "\(okOut)")
        let (jsonStatus, jsonOut) = try await runTool(binary, ["audit", "verify", "--export", export, "--verifier-key", pinned, "--checkpoint", saved, "--json"])
        #expect(jsonStatus == 0, "\(jsonOut)")
        let report = try AuditWire.decoder.decode(AuditVerificationReport.self, from: Data(jsonOut.utf8))
        #expect(report.ok && report.verifierKeyPinned && report.savedCheckpoint?.size == 5)

        // One byte of entry 2, changed behind the triggers' back.
        let forger = try DatabaseQueue(path: tampered)
        try await forger.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER audit_entry_no_update")
            var bytes = try Data.fetchOne(db, sql: "SELECT entry FROM audit_entry WHERE idx = 2")!
            bytes[bytes.count / 2] ^= 0x01
            try db.execute(sql: "UPDATE audit_entry SET entry = ? WHERE idx = 2", arguments: [bytes])
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try forger.close()
        let (badStatus, badOut) = try await runTool(binary, ["audit", "verify", "--database", tampered, "--verifier-key", pinned])
        #expect(badStatus == 1 && badOut.contains("first entry that does not verify: 2"), "\(badOut)")

        // Only the actor column of entry 3 changed: every hash and signature still holds, but a
        // search by actor would miss the entry. Verification holds the column to the hashed entry.
        let relabelled = p.dir + "/relabelled.sqlite"
        try FileManager.default.copyItem(atPath: copy, toPath: relabelled)
        let relabeller = try DatabaseQueue(path: relabelled)
        try await relabeller.writeWithoutTransaction { db in
            try db.execute(sql: "DROP TRIGGER audit_entry_no_update")
            try db.execute(sql: "UPDATE audit_entry SET actor = 'school/100002' WHERE idx = 3")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try relabeller.close()
        let (colStatus, colOut) = try await runTool(binary, ["audit", "verify", "--database", relabelled, "--verifier-key", pinned])
        #expect(colStatus == 1 && colOut.contains("first entry that does not verify: 3 (its actor column)"), "\(colOut)")

        let stranger = try NoteVerifierKey(name: "test.sightline/sightline/audit", publicKey: Curve25519.Signing.PrivateKey().publicKey).description
        let (keyStatus, keyOut) = try await runTool(binary, ["audit", "verify", "--database", copy, "--verifier-key", stranger])
        #expect(keyStatus == 1 && keyOut.contains("not signed by the expected key"), "\(keyOut)")

        let (filterStatus, filterOut) = try await runTool(binary, ["audit", "entries", "--database", copy, "--actor", "auditor/dpo", "--json"])
        #expect(filterStatus == 0, "\(filterOut)")
        let listed = try AuditWire.decoder.decode([AuditWire.Entry].self, from: Data(filterOut.utf8))
        #expect(!listed.isEmpty && listed.allSatisfy { $0.entry?.objectValue?["actor"]?.stringValue == "auditor/dpo" })
    }
}
