import Foundation
import GRDB
import Testing
@testable import SightlineStore

/// The linker's statements through SQLite's C API (RawStatements.swift) keep GRDB's behaviour:
/// values round-trip, a failure rolls the whole transaction back, and nothing runs outside one.
@Suite("Raw statements")
struct RawStatementsTests {
    static func queue() throws -> (DatabaseQueue, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("raw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let q = try DatabaseQueue(path: dir + "/t.sqlite")
        try q.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, s TEXT, n INTEGER, x REAL, u TEXT UNIQUE)") }
        return (q, dir)
    }

    @Test func valuesRoundTripAndAnEmptyBlobIsNotNull() throws {
        let (q, dir) = try Self.queue(); defer { try? FileManager.default.removeItem(atPath: dir) }
        try q.write { db in
            let raw = RawStatements(db)
            try raw.statement(.insertRecord, "INSERT INTO t (b, s, n, x, u) VALUES (?, ?, ?, ?, ?)")
                .bind(1, Data([0, 1, 2, 255])).bind(2, "Zoë, O'Neil").bind(3, Int64(-7)).bind(4, 2.5).bind(5, String?.none).run()
            #expect(db.lastInsertedRowID == 1)
            try raw.statement(.insertRecord, "").bind(1, Data()).bind(2, "").bind(3, Int64.max).bind(4, 0.0).bind(5, "u").run()
            try raw.statement(.insertRecord, "").bind(1, Data?.none).bind(2, String?.none).bind(3, Int64(0)).bind(4, 0.0).bind(5, "v").run()
        }
        let rows = try q.read { db in try Row.fetchAll(db, sql: "SELECT b, s, n, x, u, typeof(b) AS tb FROM t ORDER BY id") }
        #expect(rows[0]["b"] as Data? == Data([0, 1, 2, 255]) && rows[0]["s"] as String? == "Zoë, O'Neil" && rows[0]["n"] as Int64? == -7
                && rows[0]["x"] as Double? == 2.5 && rows[0]["u"] as String? == nil)
        #expect(rows[1]["tb"] as String? == "blob" && rows[1]["s"] as String? == "" && rows[1]["n"] as Int64? == Int64.max,
                "an empty Data is a zero-length blob, not NULL")
        #expect(rows[2]["tb"] as String? == "null" && rows[2]["s"] as String? == nil)
        // Read back through the same wrapper.
        var seen: [(Data, String, Int64)] = []
        try q.read { db in
            try RawStatements(db).statement(.candidateRecords, "SELECT b, s, n FROM t WHERE id <= ? ORDER BY id").bind(1, Int64(2)).step { row in
                seen.append((row.data(0), row.text(1), row.int64(2)))
            }
        }
        #expect(seen.count == 2 && seen[0].0 == Data([0, 1, 2, 255]) && seen[0].1 == "Zoë, O'Neil" && seen[1].0 == Data() && seen[1].2 == Int64.max)
    }

    @Test func aFailingStatementRollsTheWholeTransactionBackAndTheStatementIsUsableAgain() throws {
        let (q, dir) = try Self.queue(); defer { try? FileManager.default.removeItem(atPath: dir) }
        var raw: RawStatements?
        #expect(throws: DatabaseError.self) {
            try q.write { db in
                let r = RawStatements(db)
                raw = r
                try r.statement(.insertBlockingKey, "INSERT INTO t (u) VALUES (?)").bind(1, "same").run()
                try r.statement(.insertBlockingKey, "").bind(1, "same").run()  // UNIQUE fails
            }
        }
        #expect(try q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0, "the first insert went with the transaction")
        // The same prepared statement, reset after the failure, works in the next transaction.
        try q.write { db in try raw!.statement(.insertBlockingKey, "").bind(1, "again").run() }
        #expect(try q.read { db in try String.fetchOne(db, sql: "SELECT u FROM t") } == "again")
        raw = nil
    }

    @Test func nothingRunsOutsideATransaction() throws {
        let (q, dir) = try Self.queue(); defer { try? FileManager.default.removeItem(atPath: dir) }
        q.writeWithoutTransaction { db -> Void in
            #expect(throws: DatabaseError.self) { try RawStatements(db).statement(.newSubject, "INSERT INTO t (u) VALUES ('x')").run() }
        }
        #expect(try q.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0)
    }

    @Test func theWriterKeepsItsStatementsAcrossCommits() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("raw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(path: dir + "/s.sqlite")
        let first = try await store.pool.write { db in ObjectIdentifier(try store.writerStatements.statements(for: db)) }
        let second = try await store.pool.write { db in ObjectIdentifier(try store.writerStatements.statements(for: db)) }
        #expect(first == second)
    }
}
