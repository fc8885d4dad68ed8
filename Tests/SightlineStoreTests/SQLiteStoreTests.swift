import Foundation
import GRDB
@testable import SightlineCore
import Testing
@testable import SightlineStore

@Suite("SQLite store")
struct SQLiteStoreTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-store-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    static let keyer = ComparisonKeyer(linkKey: .init(size: .bits256))

    /// A record; with `named`, it carries Amara Okafor's keyed comparison material and blocking keys.
    func record(_ keys: [LinkageKey], ref: UInt8, kind: RecordKind = .gpRegistration, named: Bool = false) -> PseudonymisedRecord {
        var ids = SubjectIdentifiers()
        if named {
            ids.givenName = "amara"; ids.familyName = "okafor"; ids.dateOfBirth = CivilDate(year: 2014, month: 3, day: 2)
            ids.postcode = Postcode("NW6 4DP")
        }
        var r = PseudonymisedRecord(kind: kind, referenceKey: Data([ref]), observedAt: Date(timeIntervalSince1970: 1_790_000_000),
                                    linkageKeys: keys, birthYearMonth: "2014-03", birthDateKey: Data([7]), postcodeDistrict: "NW6",
                                    fields: ["practice": .string("Y12345")], droppedFields: [],
                                    material: Self.keyer.material(ids), blockingKeys: named ? Self.keyer.blockingKeys(ids).map(\.digest) : [])
        r.sealedMaterial = r.material.encoded()  // testLinkage opens by decoding
        return r
    }

    func key(_ basis: LinkageKey.Basis, _ byte: UInt8) -> LinkageKey { LinkageKey(basis: basis, digest: Data(repeating: byte, count: 32)) }

    func commit(_ store: SQLiteStore, id: String, key: String = UUID().uuidString, digest: String = "d", records: [PseudonymisedRecord]) async throws -> SubmissionCommitResult {
        try await store.commit(SubmissionCommit(
            id: id, participant: "nhs/Y12345", idempotencyKey: key, bodyDigest: digest, receivedAt: Date(), records: records, linkage: testLinkage,
            buildAudit: { outcomes in
                AuditEntry(time: Date(), actor: "nhs/Y12345", action: "submission", policyVersion: "test", decision: .allow,
                           rule: "r", counts: ["accepted": outcomes.count], subjects: outcomes.map(\.subjectID), requestDigest: digest)
            },
            buildReceipt: { outcomes, index in Data("\(outcomes.count)@\(index)".utf8) }))
    }

    @Test func recordsSharingALinkageKeyJoinOneSubject() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        // GP record: NHS number + name/dob. School record: UPN + the same name/dob. Housing: NHS only.
        _ = try await commit(store, id: "s1", records: [
            record([key(.nhsNumber, 1)], ref: 1, named: true),
            record([key(.upn, 3)], ref: 2, kind: .schoolEnrolment, named: true),
            record([key(.nhsNumber, 1)], ref: 3, kind: .housingTenancy),
            record([key(.nhsNumber, 9)], ref: 4),
        ])
        let counts = try await store.counts()
        let linked = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT linked_by FROM record ORDER BY id") }
        #expect(counts.records == 4 && counts.subjects == 2, "\(linked)")
    }

    @Test func resubmittedReferenceUpdatesInsteadOfDuplicating() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        guard case .committed(let first, _, _) = try await commit(store, id: "s1", records: [record([key(.nhsNumber, 1)], ref: 1)]) else {
            Issue.record("not committed"); return
        }
        #expect(String(decoding: first, as: UTF8.self) == "1@0")
        _ = try await commit(store, id: "s2", records: [record([key(.nhsNumber, 1)], ref: 1)])
        #expect(try await store.counts().records == 1)
    }

    @Test func idempotencyReplaysAndConflicts() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let r1 = try await commit(store, id: "s1", key: "k", digest: "A", records: [record([key(.nhsNumber, 1)], ref: 1)])
        let r2 = try await commit(store, id: "s2", key: "k", digest: "A", records: [record([key(.nhsNumber, 1)], ref: 1)])
        let r3 = try await commit(store, id: "s3", key: "k", digest: "B", records: [record([key(.nhsNumber, 2)], ref: 2)])
        guard case .committed(let receipt, _, _) = r1, case .replayed(let again) = r2, case .conflict = r3 else {
            Issue.record("expected committed, replayed, conflict: \(r1) \(r2) \(r3)"); return
        }
        #expect(receipt == again)
        let counts = try await store.counts()
        #expect(counts.submissions == 1 && counts.auditEntries == 1 && counts.records == 1)
    }

    /// Reports read a page of subjects at a time: every subject holding a record of the kinds asked
    /// for comes exactly once, with all its records of those kinds together, in pages of at most
    /// the size asked for; records of other kinds are not read.
    @Test func subjectPagesHoldEverySubjectOnceWithAllItsRecords() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        var records: [PseudonymisedRecord] = []
        for i in 0..<24 {  // a multiple of the page size: the last page ends exactly at the last id
            records.append(record([key(.nhsNumber, UInt8(i))], ref: UInt8(i)))  // a GP registration each
            if i % 3 == 0 { records.append(record([key(.nhsNumber, UInt8(i))], ref: UInt8(100 + i), kind: .housingTenancy)) }
            if i % 5 == 0 { records.append(record([key(.nhsNumber, UInt8(i))], ref: UInt8(200 + i), kind: .policeNotification)) }
        }
        _ = try await commit(store, id: "s1", records: records)
        struct Seen: Sendable { var pages: [[Int64: Int]] = [] }
        let seen = try await store.reduceSubjectPages(ofKinds: [.gpRegistration, .housingTenancy], subjectsPerPage: 4, into: Seen()) { seen, page in
            seen.pages.append(page.mapValues(\.count))
        }
        let subjects = seen.pages.flatMap(\.keys)
        #expect(subjects.count == 24 && Set(subjects).count == 24, "every child once: \(subjects)")
        #expect(seen.pages.allSatisfy { (1...4).contains($0.count) }, "\(seen.pages.map(\.count))")
        let perChild: [Int] = seen.pages.flatMap { Array($0.values) }
        let read: Int = perChild.reduce(0, +)
        #expect(read == 32, "24 GP and 8 housing records, the police's not read")
        let withTwo: Int = perChild.filter { $0 == 2 }.count
        #expect(withTwo == 8, "a child's records come in one page")
        let none = try await store.reduceSubjectPages(ofKinds: [.schoolExclusion], subjectsPerPage: 4, into: 0) { n, page in n += page.count }
        #expect(none == 0)
    }

    /// `isUncertain` answers for one subject what `uncertainSubjects()` answers for all: a conflict
    /// or a pending pair on either side; a decided pair no longer makes either side uncertain.
    @Test func isUncertainAgreesWithTheUncertainSet() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        try await store.pool.write { db in
            for id in 1...6 { try db.execute(sql: "INSERT INTO subject (id, created_at) VALUES (?, 0)", arguments: [id]) }
            try db.execute(sql: "INSERT INTO subject_conflict (subject_a, subject_b, reason, found_at) VALUES (1, 2, 'upn-matches-different-date-of-birth', 0)")
            try db.execute(sql: "INSERT INTO review_pair (subject_a, subject_b, levels, reason, status, created_at) VALUES (3, 4, '', 'score-between-thresholds', 'pending', 0)")
            try db.execute(sql: "INSERT INTO review_pair (subject_a, subject_b, levels, reason, status, created_at) VALUES (5, 6, '', 'score-between-thresholds', 'different', 0)")
        }
        let all = try await store.uncertainSubjects()
        #expect(all == [1, 2, 3, 4])
        for id in Int64(1)...7 { #expect(try await store.isUncertain(id) == all.contains(id), "subject \(id)") }
    }

    /// The linkage work counts each record linked once, with the candidates it was compared with,
    /// and counts nothing for a submission that was replayed or refused as a conflict.
    @Test func linkageWorkCountsCandidatesOfCommittedSubmissionsOnly() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        #expect(store.linkageWork() == LinkageWork())
        // Amara's GP registration (no candidate yet), then her enrolment: it finds the GP's subject
        // through the blocking keys, one subject with one record.
        _ = try await commit(store, id: "s1", key: "k1", records: [record([key(.nhsNumber, 1)], ref: 1, named: true)])
        _ = try await commit(store, id: "s2", key: "k2", records: [record([key(.upn, 3)], ref: 2, kind: .schoolEnrolment, named: true)])
        var expected = LinkageWork()
        expected.records = 2; expected.candidateSubjects = 1; expected.candidateRecords = 1
        #expect(store.linkageWork() == expected)
        #expect(try await store.counts().subjects == 1)
        _ = try await commit(store, id: "s3", key: "k2", records: [record([key(.upn, 3)], ref: 2, kind: .schoolEnrolment, named: true)])  // replayed
        _ = try await commit(store, id: "s4", key: "k2", digest: "other", records: [record([key(.nhsNumber, 4)], ref: 4)])  // conflict
        #expect(store.linkageWork() == expected)
        // A submission that links its records and then fails (here: planning its forwards) rolls
        // back, and what it compared is not counted.
        struct PlanningFailed: Error {}
        var failing = SubmissionCommit(
            id: "s5", participant: "nhs/Y12345", idempotencyKey: "k5", bodyDigest: "d5", receivedAt: Date(),
            records: [record([key(.nhsNumber, 1)], ref: 9, named: true)], linkage: testLinkage,
            buildAudit: { _ in AuditEntry(time: Date(), actor: "nhs/Y12345", action: "submission", policyVersion: "test", decision: .allow,
                                          rule: "r", counts: [:], subjects: [], requestDigest: "d5") },
            buildReceipt: { _, _ in Data() })
        failing.planForwards = { _, _, _ in throw PlanningFailed() }
        await #expect(throws: PlanningFailed.self) { _ = try await store.commit(failing) }
        #expect(store.linkageWork() == expected)
    }

    @Test func auditLogIsHashChainedAndAppendOnly() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        for i in 0..<5 {
            try await store.appendAudit(AuditEntry(time: Date(), actor: "a\(i)", action: "request", policyVersion: "v", decision: .deny,
                                                   rule: "r", requestDigest: "x"))
        }
        let entries = try await store.auditEntries(from: 0, limit: 100)
        #expect(entries.map(\.index) == [0, 1, 2, 3, 4])
        var chain = AuditHash.genesis
        for e in entries {
            #expect(e.leafHash == AuditHash.leaf(e.entry))
            chain = AuditHash.chain(previous: chain, leaf: e.leafHash)
            #expect(e.chainHash == chain)
        }
        // The database itself refuses to rewrite or delete history.
        await #expect(throws: DatabaseError.self) {
            try await store.pool.write { db in try db.execute(sql: "UPDATE audit_entry SET actor = 'someone else' WHERE idx = 2") }
        }
        await #expect(throws: DatabaseError.self) {
            try await store.pool.write { db in try db.execute(sql: "DELETE FROM audit_entry WHERE idx = 4") }
        }
        #expect(try await store.auditCount() == 5)
    }

    @Test func databaseRunsInWALMode() async throws {
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let mode = try await store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }
}

@Suite("Blocking-key candidates")
struct BlockingCandidateTests {
    /// A key shared by more subjects than the limit says nothing and is skipped; the other keys
    /// of the same lookup still find their subjects; a key given twice counts once.
    @Test func aKeySharedByTooManySubjectsIsSkippedAndTheOthersStillFind() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sightline-blocking-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let common = Data(repeating: 1, count: 16), rare = Data(repeating: 2, count: 16), edge = Data(repeating: 3, count: 16)
        let limit = SubjectLinker.maxSubjectsPerBlockingKey
        let found = try await store.pool.write { db -> (Set<Int64>, Set<Int64>) in
            for s in 1...Int64(limit + 1) {
                try db.execute(sql: "INSERT INTO subject (id, created_at) VALUES (?, 0)", arguments: [s])
                // One record with (any) material a subject, so that the lookup returns it as a candidate.
                try db.execute(sql: """
                    INSERT INTO record (subject_id, kind, source, reference_key, submission_id, observed_at, received_at, fields, material)
                    VALUES (?, 'nhs.gp-registration', 'nhs/Y12345', ?, 'sub', 0, 0, '{}', x'00')
                    """, arguments: [s, Data("ref-\(s)".utf8)])
                try db.execute(sql: "INSERT INTO blocking_key (digest, subject_id) VALUES (?, ?)", arguments: [common, s])
                if s <= Int64(limit) { try db.execute(sql: "INSERT INTO blocking_key (digest, subject_id) VALUES (?, ?)", arguments: [edge, s]) }
            }
            try db.execute(sql: "INSERT INTO blocking_key (digest, subject_id) VALUES (?, 7), (?, 9)", arguments: [rare, rare])
            func subjects(_ keys: [Data]) throws -> Set<Int64> {
                let c = try SubjectLinker.candidates(db, raw: RawStatements(db), strongKeys: [], blockingKeys: keys, source: "school/1", kind: .schoolEnrolment,
                                                     referenceKeys: [Data(repeating: 9, count: 32)], rewrap: nil, open: { _, _ in ComparisonMaterial() })
                return Set(c.records.map(\.subject))
            }
            return (try subjects([common, rare, rare]), try subjects([edge]))
        }
        #expect(found.0 == [7, 9], "the common key is skipped, the rare one still finds its two subjects")
        #expect(found.1.count == limit, "a key shared by exactly the limit is used")
    }
}
