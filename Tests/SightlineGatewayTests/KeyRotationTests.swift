import Crypto
import Foundation
import GRDB
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Issue 13 item 4: each key rotated online, under load, and nothing a partner, a school or an
/// auditor relies on changes; nothing stored still answers to the old link or sealing key.
@Suite("Key rotation under load", .serialized)
struct KeyRotationTests {
    struct Child { let nhs: String; let given: String; let family: String; let dob: String }

    /// Valid NHS numbers (modulus 11), distinct names and dates.
    static func children(_ range: Range<Int>) -> [Child] {
        let givens = ["Amara", "Leo", "Noor", "Isla", "Yusuf", "Maya", "Oskar", "Zara", "Theo", "Ines", "Kofi", "Lena", "Rafi", "Elif", "Jonah", "Priya"]
        let families = ["Okafor", "Nowak", "Haddad", "Murphy", "Silva", "Khan", "Baptiste", "Lindqvist", "Adeyemi", "Rossi", "Duval", "Kowalczyk",
                        "Mensah", "Ferreira", "Osei", "Petrov", "Quinn", "Sato", "Tanaka", "Varga"]
        var out: [Child] = []
        var base = 400_000_000
        for i in range {
            var nhs: String? = nil
            while nhs == nil {
                base += 7
                let digits = String(base + i * 1000).map { Int(String($0))! }
                let sum = digits.enumerated().reduce(0) { $0 + $1.element * (10 - $1.offset) }
                let check = 11 - sum % 11
                if check != 10 { nhs = digits.map(String.init).joined() + String(check == 11 ? 0 : check) }
            }
            let dob = Calendar(identifier: .gregorian).date(byAdding: .day, value: i * 3, to: Date(timeIntervalSince1970: 1_388_534_400))!  // 2014-01-01
            out.append(Child(nhs: nhs!, given: givens[i % givens.count], family: families[(i / givens.count) % families.count],
                             dob: String(Instant.format(dob).prefix(10))))
        }
        return out
    }

    static func ids(_ c: Child, nhs: Bool) -> String {
        (nhs ? "{\"nhsNumber\":\"\(c.nhs)\"," : "{") + "\"givenName\":\"\(c.given)\",\"familyName\":\"\(c.family)\",\"dateOfBirth\":\"\(c.dob)\",\"postcode\":\"NW6 4DP\"}"
    }

    static func gp(_ c: Child, _ ref: String) -> String {
        PartnerTests.record("nhs.gp-registration", ref, ids(c, nhs: true), #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)
    }

    static func enrolment(_ c: Child, _ ref: String) -> String {
        "{\"kind\":\"school.enrolment\",\"localRef\":\"\(ref)\",\"observedAt\":\"2026-09-08T08:30:00Z\",\"identifiers\":\(ids(c, nhs: false)),\"fields\":{\"onRollFrom\":\"2025-09-03\"}}"
    }

    /// Pseudonym by row of the missing-education report, as the CME team sees it.
    static func report(_ gw: RunningGateway, _ cme: String) async throws -> Set<String> {
        let r = try await gw.request(cme, "GET", "/v1/reports/missing-education?purpose=cme")
        guard case .array(let rows)? = try EnquiryTests.object(r.body)["rows"] else { throw TestFailure("report answered \(r.status)") }
        return Set(rows.compactMap { $0.objectValue?["pseudonym"]?.stringValue })
    }

    static func match(_ gw: RunningGateway, _ cme: String, _ identifiers: String) async throws -> String {
        let r = try await gw.request(cme, "POST", "/v1/match", body: PartnerTests.matchBody("cme", identifiers))
        guard r.status == 200 else { throw TestFailure("match answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
        return try JSONDecoder().decode(PartnerTests.MatchAnswer.self, from: r.body).pseudonym
    }

    @Test func rotatingEveryKeyUnderLoadChangesNothingPartnersSchoolsOrAuditorsRelyOn() async throws {
        let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let second = try p.identity(TestPartnership.id(.school, "100002"))
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        let onRoll = Self.children(0..<120), missing = Self.children(120..<150), arriving = Self.children(150..<230)
        try await p.withGateway { gw in
            // Before: children on roll (no NHS number at school, linked by name, date and postcode),
            // children known only to the GP (the report lists them), and an Encompass forward waiting.
            for batch in stride(from: 0, to: onRoll.count, by: 40) {
                let slice = onRoll[batch..<min(batch + 40, onRoll.count)]
                try await EnquiryTests.submit(gw, gp, slice.enumerated().map { Self.gp($0.element, "GP-\(batch + $0.offset)") })
                try await EnquiryTests.submit(gw, school, slice.enumerated().map { Self.enrolment($0.element, "ADM-\(batch + $0.offset)") })
            }
            try await EnquiryTests.submit(gw, gp, missing.enumerated().map { Self.gp($0.element, "GP-M\($0.offset)") })
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-0042"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            let subjectsBefore = try await gw.state.store.counts().subjects
            #expect(subjectsBefore == onRoll.count + missing.count + 1, "each child one subject")
            let reportBefore = try await Self.report(gw, cme)
            #expect(reportBefore.count == missing.count, "the GP-only children are listed, no child on roll is")
            let byNHS = try await Self.match(gw, cme, "{\"nhsNumber\":\"\(onRoll[7].nhs)\"}")
            let byName = try await Self.match(gw, cme, Self.ids(onRoll[9], nhs: false))
            let oldKeys = gw.state.keys
            let oldPseudonymiser = gw.state.pseudonymiser
            guard case .object(let raw) = try JSONDecoder().decode(JSONValue.self, from: Data(Self.ids(onRoll[7], nhs: true).utf8)),
                  case .success(let validated) = RecordValidator(now: Date()).validateIdentifiers(raw) else { throw TestFailure("identifiers") }
            let oldDigest = try #require(oldPseudonymiser.linkageKeys(for: validated).first { $0.basis == .nhsNumber }).digest

            // Load: the GP keeps sending new registrations while every key is rotated.
            let load = Task {
                var statuses: [Int] = []
                for batch in stride(from: 0, to: arriving.count, by: 8) {
                    let slice = arriving[batch..<min(batch + 8, arriving.count)]
                    let body = Data(slice.enumerated().map { Self.gp($0.element, "GP-A\(batch + $0.offset)") }.joined(separator: "\n").utf8)
                    var status = try await gw.request(gp, "POST", "/v1/submissions", body: body).status
                    if status == 503 { status = try await gw.request(gp, "POST", "/v1/submissions", body: body).status }  // keys-rotated: sent again
                    statuses.append(status)
                }
                return statuses
            }
            for kind in RotatableKey.allCases {
                try KeyMaterial.replace(path: p.config.keysPath, with: try KeyMaterial.load(from: p.config.keysPath).rotated(kind))
                try await gw.state.reloadKeys()
                try await Task.sleep(for: .milliseconds(30))
            }
            let statuses = try await load.value
            #expect(statuses.allSatisfy { $0 == 201 }, "\(statuses)")
            try await ForwardingTests.waitUntil(60) {
                let g = try await gw.state.store.keyGenerations()
                return g["link"]?.completedAt != nil && g["sealing"]?.completedAt != nil
            }
            let generations = try await gw.state.store.keyGenerations()
            #expect(generations["link"]?.generation == 1 && generations["sealing"]?.generation == 1 && generations["recipient"]?.generation == 1)
            let keys = gw.state.keys
            #expect(keys.linkKeyID != oldKeys.linkKeyID && keys.sealingKeyID != oldKeys.sealingKeyID
                    && keys.recipientKeyID != oldKeys.recipientKeyID && keys.auditSigningKeyID != oldKeys.auditSigningKeyID)

            // After: linkage unchanged (new records of known children join them), matches and the
            // report name the same pseudonyms, the school still opens its forward.
            #expect(try await gw.state.store.counts().subjects == subjectsBefore + arriving.count)
            try await EnquiryTests.submit(gw, school, [Self.enrolment(missing[0], "ADM-LATE")])
            try await EnquiryTests.submit(gw, second, [Self.enrolment(onRoll[3], "ADM-MOVED")])
            try await EnquiryTests.submit(gw, gp, [Self.gp(onRoll[5], "GP-5")])  // a resubmitted row: its reference is found
            #expect(try await gw.state.store.counts().subjects == subjectsBefore + arriving.count, "known children, no new subject")
            let reportAfter = try await Self.report(gw, cme)
            #expect(reportBefore.subtracting(reportAfter).count == 1, "the child now on roll left the list; every other pseudonym is unchanged")
            #expect(reportAfter.subtracting(reportBefore).count == arriving.count, "the new GP-only children, under the new recipient key")
            #expect(try await Self.match(gw, cme, "{\"nhsNumber\":\"\(onRoll[7].nhs)\"}") == byNHS)
            #expect(try await Self.match(gw, cme, Self.ids(onRoll[9], nhs: false)) == byName)
            let inbox = try await EncompassRecipientTests.inbox(gw, school)
            #expect(inbox.count == 1 && inbox.first?["pupilReference"] == .string("ADM-0042"), "\(inbox)")

            // Nothing stored answers to the old keys: the old NHS digest is gone, the new one is
            // there, and every sealed value opens under the new sealing key alone.
            let newDigest = try #require(gw.state.pseudonymiser.linkageKeys(for: validated).first { $0.basis == .nhsNumber }).digest
            let db = try DatabaseQueue(path: p.config.databasePath)
            try await db.read { db in
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM linkage_key WHERE digest = ?", arguments: [oldDigest]) == 0)
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM linkage_key WHERE digest = ?", arguments: [newDigest]) == 1)
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM subject WHERE link_gen != 1") == 0)
                for (table, column) in SQLiteStore.sealedColumns {
                    for sealed in try Data.fetchAll(db, sql: "SELECT \(column) FROM \(table) WHERE \(column) IS NOT NULL") {
                        #expect((try? AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: keys.sealingKey)) != nil, "\(table).\(column)")
                        #expect((try? AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: oldKeys.sealingKey)) == nil, "\(table).\(column)")
                    }
                }
            }
            // The audit log verifies with the key the auditor pinned before the rotation.
            let actions = try await EnquiryTests.auditActions(gw).map(\.action)
            #expect(actions.filter { $0 == "key-rotated" }.count == 3 && actions.filter { $0 == "key-rotation-completed" }.count == 2 && actions.contains("audit-key-rotated"))
            _ = try await gw.state.checkpoints.current()
            let (status, out) = try await runTool(binary, ["audit", "verify", "--gateway", gw.baseURL, "--identity", auditor, "--verifier-key", pinned])
            #expect(status == 0, "\(out)")
        }
    }

    @Test func whileTheLinkMigrationRunsOldSubjectsAreFoundByTheOldFormAndMigratedWhenTouched() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let known = Self.children(0..<30)
        try await p.withGateway { gw in
            try await EnquiryTests.submit(gw, gp, known.enumerated().map { Self.gp($0.element, "GP-\($0.offset)") })
            let byNHS = try await Self.match(gw, cme, "{\"nhsNumber\":\"\(known[4].nhs)\"}")
            let byName = try await Self.match(gw, cme, Self.ids(known[6], nhs: false))
            let reportBefore = try await Self.report(gw, cme)
            gw.state.keyMigrationBatch.withLockedValue { $0 = 0 }  // hold the migration where it starts
            try KeyMaterial.replace(path: p.config.keysPath, with: try KeyMaterial.load(from: p.config.keysPath).rotated(.link))
            try await gw.state.reloadKeys()
            let db = try DatabaseQueue(path: p.config.databasePath)
            func generations() async throws -> [Int] { try await db.read { try Int.fetchAll($0, sql: "SELECT link_gen FROM subject ORDER BY id") } }
            #expect(try await generations().allSatisfy { $0 == 0 }, "nothing migrated yet")
            // Found by the old form: matches by NHS number and by name, the report, a resubmitted row.
            #expect(try await Self.match(gw, cme, "{\"nhsNumber\":\"\(known[4].nhs)\"}") == byNHS)
            #expect(try await Self.match(gw, cme, Self.ids(known[6], nhs: false)) == byName)
            #expect(try await Self.report(gw, cme) == reportBefore)
            // A school record of a known child (no NHS number: blocking keys and material) joins it
            // and migrates that child first; a resubmitted GP row updates its record.
            try await EnquiryTests.submit(gw, school, [Self.enrolment(known[8], "ADM-8")])
            try await EnquiryTests.submit(gw, gp, [Self.gp(known[2], "GP-2")])
            #expect(try await gw.state.store.counts().subjects == known.count, "no new subject")
            let touched = try await generations()
            #expect(touched[8] == 1 && touched[2] == 1 && touched.filter { $0 == 0 }.count == known.count - 2, "\(touched)")
            #expect(try await Self.report(gw, cme) == reportBefore.subtracting([try await Self.match(gw, cme, Self.ids(known[8], nhs: false))]))
            gw.state.keyMigrationBatch.withLockedValue { $0 = 7 }
            gw.state.keyRotationDoorbell.ring()
            try await ForwardingTests.waitUntil(30) { try await gw.state.store.keyGenerations()["link"]?.completedAt != nil }
            #expect(try await generations().allSatisfy { $0 == 1 })
            #expect(try await Self.match(gw, cme, "{\"nhsNumber\":\"\(known[4].nhs)\"}") == byNHS, "found by the new form alone")
            #expect(!gw.state.pseudonymiser.lookUpLegacyForms)
        }
    }

    @Test func aSealingRotationCompletesPastErasedNoticesAndAnOlderKeyFileIsRefusedAfterwards() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: ForwardingTests.enrolment("ADM-0042"))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-1").utf8))
            _ = try await gw.request(police, "POST", "/v1/submissions", body: Data(ForwardingTests.incident("MPS-2").utf8))
            // An erasure empties a delivered forward's notice (the row stays for the log).
            var busy = Configuration()
            busy.busyMode = .timeout(10)  // the gateway writes beside this connection
            try await DatabaseQueue(path: p.config.databasePath, configuration: busy).write { db in
                try db.execute(sql: "UPDATE forward SET payload = X'' WHERE id = (SELECT min(id) FROM forward)")
            }
            let old = gw.state.keys
            try KeyMaterial.replace(path: p.config.keysPath, with: old.rotated(.sealing))
            try await gw.state.reloadKeys()
            try await ForwardingTests.waitUntil(30) { try await gw.state.store.keyGenerations()["sealing"]?.completedAt != nil }
            let inbox = try await EncompassRecipientTests.inbox(gw, school)
            #expect(inbox.count == 2 && inbox.filter { $0["type"] == .string("erased") }.count == 1
                    && inbox.filter { $0["pupilReference"] == .string("ADM-0042") }.count == 1, "the notice not erased still opens: \(inbox)")
            // The key file from before the rotation, put back: the database is sealed under a key it never held.
            gw.state.useKeys(old, migratingLink: false)
            await #expect(throws: SightlineError.self) { try await gw.state.reconcileKeyGenerations() }
        }
    }

    @Test func aKeyFileThatDoesNotContinueTheKeysInForceIsRefusedAndTheOldKeysStay() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        try await p.withGateway { gw in
            let before = gw.state.keys.linkKeyID
            try FileManager.default.removeItem(atPath: p.config.keysPath)
            try KeyMaterial.generate().write(to: p.config.keysPath)  // a different file, not a rotation
            await #expect(throws: SightlineError.self) { try await gw.state.reloadKeys() }
            #expect(gw.state.keys.linkKeyID == before)
        }
    }
}
