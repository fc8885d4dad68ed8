import Foundation
import GRDB

/// What SQLite alone does on this disk, with the gateway's durability settings (WAL,
/// synchronous = FULL): the physical floor under the gateway's figures.
enum SQLiteBaselines {
    static func open(_ path: String) throws -> DatabaseQueue {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        // The width of the gateway's `record` row: ids, kind, source, a 32-byte keyed digest,
        // submission id, times, coarse attributes, minimised fields as JSON, linkage basis.
        try queue.write { db in
            try db.execute(sql: """
            CREATE TABLE row (
              id INTEGER PRIMARY KEY, subject_id INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
              reference_key BLOB NOT NULL, submission_id TEXT NOT NULL, observed_at REAL NOT NULL, received_at REAL NOT NULL,
              birth_year_month TEXT, postcode_district TEXT, fields TEXT NOT NULL, linked_by TEXT NOT NULL, dob_key BLOB)
            """)
        }
        return queue
    }

    static let insertSQL = """
        INSERT INTO row (subject_id, kind, source, reference_key, submission_id, observed_at, received_at,
                         birth_year_month, postcode_district, fields, linked_by, dob_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    static let fields = #"{"offRollOn":"2026-07-22","offRollReason":"other-school","onRollFrom":"2019-09-04"}"#

    static func arguments(_ i: Int) -> StatementArguments {
        var key = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: i.littleEndian) { for (j, b) in $0.enumerated() { key[j] = b } }
        key[31] = 0x5a
        return [i / 3, "school.enrolment", "school/100001", Data(key), "sub_0123456789abcdef0123456789abcdef",
                1_790_000_000.0 + Double(i), 1_790_000_000.0, "2014-03", "NW6", fields, "upn", Data(key.reversed())]
    }

    /// Seconds to insert `rows` rows in one transaction (one commit, one fsync).
    static func bulkInsert(rows: Int, path: String) throws -> Double {
        let queue = try open(path)
        defer { try? queue.close() }
        return try timed {
            try queue.write { db in
                let insert = try db.makeStatement(sql: insertSQL)
                for i in 0..<rows { try insert.execute(arguments: arguments(i)) }
            }
        }
    }

    /// Latency of `commits` transactions of one row each, one after another.
    static func singleRowCommits(_ commits: Int, path: String) throws -> (wall: Double, latencies: [Double]) {
        let queue = try open(path)
        defer { try? queue.close() }
        var latencies: [Double] = []
        latencies.reserveCapacity(commits)
        let wall = try timed {
            for i in 0..<commits {
                latencies.append(try timed {
                    try queue.write { db in try db.cachedStatement(sql: insertSQL).execute(arguments: arguments(i)) }
                })
            }
        }
        return (wall, latencies.sorted())
    }
}

extension SQLiteBaselines {
    /// Reads the rows a report reads straight from the gateway's database file (read-only, beside
    /// the running daemon): the I/O floor under the report, without linking or JSON decoding.
    static func readRecords(databasePath: String, kinds: [String]) throws -> (seconds: Double, rows: Int, bytes: Int) {
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: databasePath, configuration: config)
        defer { try? queue.close() }
        var rows = 0, bytes = 0
        let placeholders = kinds.map { _ in "?" }.joined(separator: ",")
        let seconds = try timed {
            try queue.read { db in
                let cursor = try Row.fetchCursor(db, sql: "SELECT subject_id, kind, fields FROM record WHERE kind IN (\(placeholders))",
                                                 arguments: StatementArguments(kinds))
                while let row = try cursor.next() {
                    rows += 1
                    let fields: String = row["fields"]
                    bytes += fields.utf8.count
                }
            }
        }
        return (seconds, rows, bytes)
    }

    /// Row counts of the gateway's database, to say what a figure was measured against.
    static func counts(databasePath: String) -> [String: Int] {
        var config = Configuration()
        config.readonly = true
        guard let queue = try? DatabaseQueue(path: databasePath, configuration: config) else { return [:] }
        defer { try? queue.close() }
        var out: [String: Int] = [:]
        for table in ["subject", "record", "linkage_key", "audit_entry", "submission"] {
            out[table] = try? queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") }
        }
        return out
    }
}
