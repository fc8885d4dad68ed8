import Foundation
import GRDB
import GRDBSQLite

/// The linker's hot statements through SQLite's C API, on the connection GRDB holds for the
/// transaction. Each record costs a few dozen lookups and inserts; through GRDB's generic
/// argument and row types about a fifth of the writer's time went to building arguments,
/// decoding values and counting references (ops/benchmarks.md, figure 9's profile). Statements
/// are prepared once per owner (the writer connection for as long as the store lives; a match
/// on a reader, for that read) and finalized with it; errors become GRDB's `DatabaseError`, so
/// the transaction rolls back as with any other failure.
///
/// What GRDB checked and this does not: writes bypass GRDB's transaction observers (the gateway
/// registers none), and statements run only inside a transaction GRDB opened (`statement(_:_:)`
/// refuses otherwise, so that nothing can commit row by row after an automatic rollback).
final class RawStatements {
    let connection: OpaquePointer
    private var prepared: [Key: OpaquePointer] = [:]

    /// Which statement: a small key, so that finding a prepared one hashes no SQL text.
    enum Key: Hashable {
        case strongKey, blocking(keys: Int), reference, candidateRecords, nameFrequencies, newSubject, insertLinkageKey, insertBlockingKey, insertRecord
    }

    init(_ db: Database) {
        connection = db.sqliteConnection!
    }

    deinit {
        for statement in prepared.values { sqlite3_finalize(statement) }
    }

    /// A statement ready to bind: prepared from `sql` the first time `key` is asked for.
    func statement(_ key: Key, _ sql: @autoclosure () -> String) throws -> Raw {
        guard sqlite3_get_autocommit(connection) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a linker statement outside a transaction (was it rolled back?)")
        }
        if let s = prepared[key] {
            // One use at a time: a statement still stepping would be reset under its reader.
            precondition(sqlite3_stmt_busy(s) == 0, "linker statement \(key) used while still stepping")
            return Raw(s, self)
        }
        let text = sql()
        var s: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
        guard code == SQLITE_OK, let s else { throw Raw.error(code, connection, text) }
        prepared[key] = s
        return Raw(s, self)
    }

    /// One use of a prepared statement: bind, then `step` rows or `run` it.
    struct Raw {
        let s: OpaquePointer
        /// Holds the owner, which finalizes its statements when it goes: a use of a statement
        /// keeps it prepared (`RawStatements(db).statement(...).bind(...).run()` is safe).
        let owner: RawStatements
        var connection: OpaquePointer { owner.connection }
        init(_ s: OpaquePointer, _ owner: RawStatements) { self.s = s; self.owner = owner }

        /// SQLITE_TRANSIENT: SQLite copies the bytes before the call returns.
        static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        /// A bind fails only for a wrong index or a value too large: a programming error, as in GRDB.
        static func bound(_ code: Int32, _ i: Int32) {
            precondition(code == SQLITE_OK, "binding parameter \(i) failed (SQLite code \(code))")
        }

        static func error(_ code: Int32, _ connection: OpaquePointer, _ sql: String?) -> DatabaseError {
            DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }

        @discardableResult func bind(_ i: Int32, _ data: Data) -> Raw {
            // A non-null pointer for an empty value: a zero-length blob, not NULL.
            let code = data.withUnsafeBytes { b in sqlite3_bind_blob(s, i, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count), Self.transient) }
            Self.bound(code, i)
            return self
        }
        @discardableResult func bind(_ i: Int32, _ data: Data?) -> Raw {
            if let data { bind(i, data) } else { Self.bound(sqlite3_bind_null(s, i), i) }
            return self
        }
        @discardableResult func bind(_ i: Int32, _ n: Int64) -> Raw { Self.bound(sqlite3_bind_int64(s, i, n), i); return self }
        @discardableResult func bind(_ i: Int32, _ x: Double) -> Raw { Self.bound(sqlite3_bind_double(s, i, x), i); return self }
        @discardableResult func bind(_ i: Int32, _ text: String) -> Raw {
            var t = text
            let code = t.withUTF8 { u in
                u.withMemoryRebound(to: CChar.self) { c in sqlite3_bind_text(s, i, c.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(c.count), Self.transient) }
            }
            Self.bound(code, i)
            return self
        }
        @discardableResult func bind(_ i: Int32, _ text: String?) -> Raw {
            if let text { bind(i, text) } else { Self.bound(sqlite3_bind_null(s, i), i) }
            return self
        }

        /// Calls `row` for each result row, then resets the statement.
        func step(_ row: (Raw) throws -> Void) throws {
            defer { sqlite3_reset(s); sqlite3_clear_bindings(s) }
            while true {
                let code = sqlite3_step(s)
                if code == SQLITE_DONE { return }
                guard code == SQLITE_ROW else { throw Self.error(code, connection, String(cString: sqlite3_sql(s))) }
                try row(self)
            }
        }

        /// Runs a statement that returns no rows.
        func run() throws {
            defer { sqlite3_reset(s); sqlite3_clear_bindings(s) }
            let code = sqlite3_step(s)
            guard code == SQLITE_DONE || code == SQLITE_ROW else { throw Self.error(code, connection, String(cString: sqlite3_sql(s))) }
        }

        func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(s, column) }
        func data(_ column: Int32) -> Data {
            let n = Int(sqlite3_column_bytes(s, column))
            guard n > 0, let p = sqlite3_column_blob(s, column) else { return Data() }
            return Data(bytes: p, count: n)
        }
        func text(_ column: Int32) -> String {
            guard let p = sqlite3_column_text(s, column) else { return "" }
            return String(cString: p)
        }
    }
}

/// The writer connection's RawStatements, made on its first commit and kept while the connection
/// is the same. Only ever touched inside `pool.write`, which runs one closure at a time.
final class WriterStatements: @unchecked Sendable {
    private var raw: RawStatements?

    func statements(for db: Database) throws -> RawStatements {
        guard let connection = db.sqliteConnection else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the database is closed") }
        if let raw, raw.connection == connection { return raw }
        let made = RawStatements(db)
        raw = made
        return made
    }
}
