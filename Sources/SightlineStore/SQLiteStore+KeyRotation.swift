import Foundation
import GRDB
import SightlineCore

/// How the values stored under the link key chain before its last rotation become their
/// successors: one wrap step (`LinkKeyChain.Step`), applied in place, subject by subject.
public struct LinkRewrap: Sendable {
    /// The generation values reach once wrapped (the chain's generation).
    public let generation: Int
    public let digest: @Sendable (Data) -> Data
    public let token: @Sendable (UInt64) -> UInt64
    /// Sealed material in the previous form to sealed material in the current one (nil if it cannot be opened).
    public let material: @Sendable (Data) -> Data?
    public init(generation: Int, digest: @escaping @Sendable (Data) -> Data, token: @escaping @Sendable (UInt64) -> UInt64,
                material: @escaping @Sendable (Data) -> Data?) {
        self.generation = generation; self.digest = digest; self.token = token; self.material = material
    }
}

extension LinkRewrap {
    /// The wrap of the last link rotation in `keys`, with material opened and sealed by them;
    /// nil before any link rotation.
    public init?(keys: KeyMaterial) {
        let sealer = Sealer(keys: keys)
        self.init(keys: keys, sealer: { sealer })
    }

    /// As above, sealing with whatever `sealer` returns when it runs: a gateway passes the sealer
    /// in force, so that a sealing rotation during a link migration is followed.
    public init?(keys: KeyMaterial, sealer: @escaping @Sendable () -> Sealer) {
        let chain = LinkKeyChain(keys.linkChain)
        guard let step = chain.lastStep else { return nil }
        self.init(generation: chain.generation, digest: step.digest, token: step.token, material: { sealed in
            let s = sealer()
            guard let opened = try? s.open(sealed), let m = ComparisonMaterial(encoded: opened) else { return nil }
            return try? s.seal(step.material(m).encoded())
        })
    }
}

/// Thrown by a commit whose records were keyed under a link key generation that is no longer
/// the store's: the request is answered 503 and the client retries with the new keys.
public struct LinkGenerationChanged: Error, Sendable {
    public let recordGeneration: Int
    public let storeGeneration: Int
}

/// Where a key kind stands in the store: its generation and key id, and whether values of the
/// previous generation are still being migrated.
public struct KeyGenerationState: Sendable, Equatable {
    public let kind: String
    public let generation: Int
    public let keyID: String
    public let startedAt: Date
    public let completedAt: Date?
    /// Units migrated so far (subjects for link, sealed values for sealing).
    public let migrated: Int
}

/// Key rotation's part of the store: where each key kind stands, and the batches that bring
/// stored values up to the current keys (SQLiteStore+KeyRotation.swift).
public protocol KeyRotationStore: Sendable {
    /// Set by the gateway while a link key migration runs (see `activeRewrap`).
    func setLinkRewrap(_ rewrap: LinkRewrap?)
    func keyGenerations() async throws -> [String: KeyGenerationState]
    func beginKeyGeneration(kind: RotatableKey, generation: Int, keyID: String, at time: Date,
                            link: LinkRewrap?, audit entry: AuditEntry) async throws -> Int64
    func migrateLinkBatch(_ w: LinkRewrap, limit: Int, at time: Date, done: @Sendable (Int) -> AuditEntry) async throws -> (migrated: Int, complete: Bool)
    func resealBatch(limit: Int, mayComplete: Bool, at time: Date, reseal: @Sendable (Data) throws -> Data?,
                     done: @Sendable (Int) -> AuditEntry) async throws -> (migrated: Int, complete: Bool)
}

extension SQLiteStore {
    public func setLinkRewrap(_ rewrap: LinkRewrap?) { linkRewrap = rewrap }

    /// Sealed columns, each re-sealed under the current key by a sealing rotation, in this order.
    static let sealedColumns: [(table: String, column: String)] = [
        ("record", "sealed_ref"), ("record", "material"), ("submission", "receipt"), ("forward", "payload"),
        ("enquiry", "question"), ("enquiry_holder", "notice"), ("enquiry_holder", "answer"), ("review_pair", "note"),
    ]

    static func registerKeyRotationPassMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v11-key-rotation-passes") { db in
            try db.execute(sql: """
            ALTER TABLE key_generation ADD COLUMN pass_tainted INTEGER NOT NULL DEFAULT 0;  -- a request begun under the old key ran during this pass
            ALTER TABLE issued_pseudonym ADD COLUMN origin_subject INTEGER;                 -- the subject it was made for (merges move subject_id, not this)
            UPDATE issued_pseudonym SET origin_subject = subject_id;
            """)
        }
    }

    static func registerKeyRotationMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9-key-rotation") { db in
            try db.execute(sql: """
            ALTER TABLE subject ADD COLUMN link_gen INTEGER NOT NULL DEFAULT 0;  -- link key generation of every key and token of the subject
            CREATE TABLE key_generation (
              kind TEXT PRIMARY KEY,            -- link | sealing | recipient | audit
              generation INTEGER NOT NULL,
              key_id TEXT NOT NULL,
              started_at REAL NOT NULL,
              completed_at REAL,                -- null while values of the previous generation remain
              cursor_column INTEGER NOT NULL DEFAULT 0,
              cursor_row INTEGER NOT NULL DEFAULT 0,
              migrated INTEGER NOT NULL DEFAULT 0,
              pass_changed INTEGER NOT NULL DEFAULT 0  -- values a sealing pass re-sealed; a pass that re-seals none completes it
            );
            """)
        }
    }

    static func linkGeneration(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT generation FROM key_generation WHERE kind = 'link'")) ?? 0
    }

    /// The rewrap in force for this transaction: the gateway sets `linkRewrap` just before it
    /// records the new generation, so the rewrap applies only once the database says so, and a
    /// commit keyed under the old generation (refused) or a read before it sees none.
    func activeRewrap(_ db: Database) throws -> LinkRewrap? {
        guard let w = linkRewrap, try Self.linkGeneration(db) == w.generation else { return nil }
        return w
    }

    /// The pseudonyms issued to `recipient` for `subjects` (all when nil): those made for another
    /// subject since merged into it first, then those made for the subject itself, each oldest first.
    public func issuedPseudonyms(recipient: String, subjects: [Int64]?) async throws -> [Int64: [String]] {
        try await pool.read { db in
            var out: [Int64: [String]] = [:]
            let rows: [Row]
            if let subjects, subjects.count <= 50 {
                let one = try db.cachedStatement(sql: "SELECT subject_id, pseudonym FROM issued_pseudonym WHERE subject_id = ? AND recipient = ? ORDER BY origin_subject IS subject_id, rowid")
                rows = try subjects.flatMap { try Row.fetchAll(one, arguments: [$0, recipient]) }
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT subject_id, pseudonym FROM issued_pseudonym WHERE recipient = ? ORDER BY origin_subject IS subject_id, rowid", arguments: [recipient])
            }
            for row in rows { out[row["subject_id"], default: []].append(row["pseudonym"]) }
            return out
        }
    }

    public func keyGenerations() async throws -> [String: KeyGenerationState] {
        try await pool.read { db in
            var out: [String: KeyGenerationState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM key_generation") {
                let kind: String = row["kind"]
                out[kind] = KeyGenerationState(kind: kind, generation: row["generation"], keyID: row["key_id"],
                                               startedAt: Date(timeIntervalSince1970: row["started_at"]),
                                               completedAt: (row["completed_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                                               migrated: row["migrated"])
            }
            return out
        }
    }

    /// Records that `kind` is now at `generation` under `keyID`, with the audit entry saying so,
    /// in one transaction. For the link key it also wraps the two small global tables (name
    /// counts and ambiguous keys) at once; subjects follow in batches (`migrateLinkBatch`).
    /// Recipient and audit rotations have nothing stored to migrate and are complete at once.
    public func beginKeyGeneration(kind: RotatableKey, generation: Int, keyID: String, at time: Date,
                                   link: LinkRewrap? = nil, audit entry: AuditEntry) async throws -> Int64 {
        try await pool.write { db in
            let t = time.timeIntervalSince1970
            let needsMigration = kind == .link || kind == .sealing
            try db.execute(sql: """
                INSERT INTO key_generation (kind, generation, key_id, started_at, completed_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(kind) DO UPDATE SET generation = excluded.generation, key_id = excluded.key_id, started_at = excluded.started_at,
                  completed_at = excluded.completed_at, cursor_column = 0, cursor_row = 0, migrated = 0, pass_changed = 0, pass_tainted = 0
                """, arguments: [kind.rawValue, generation, keyID, t, needsMigration ? nil : t])
            if let link {
                let names = try Row.fetchAll(db, sql: "SELECT token, count FROM name_frequency WHERE token != 0")
                try db.execute(sql: "DELETE FROM name_frequency WHERE token != 0")
                let bump = try db.cachedStatement(sql: "INSERT INTO name_frequency (token, count) VALUES (?, ?) ON CONFLICT(token) DO UPDATE SET count = count + excluded.count")
                for row in names {
                    let token = link.token(UInt64(bitPattern: row["token"] as Int64))
                    try bump.execute(arguments: [Int64(bitPattern: token == 0 ? 1 : token), row["count"] as Int])
                }
                let ambiguous = try Row.fetchAll(db, sql: "SELECT digest, basis, marked_at FROM ambiguous_key")
                try db.execute(sql: "DELETE FROM ambiguous_key")
                for row in ambiguous {
                    try db.execute(sql: "INSERT OR IGNORE INTO ambiguous_key (digest, basis, marked_at) VALUES (?, ?, ?)",
                                   arguments: [link.digest(row["digest"]), row["basis"] as String, row["marked_at"] as Double])
                }
            }
            return try Self.append(db, entry)
        }
    }

    /// Wraps up to `limit` subjects still in the form before the last link rotation. Returns how
    /// many it wrapped; once none remain it marks the rotation complete and appends `done`.
    /// Each batch is one short transaction, so submissions go on between batches.
    public func migrateLinkBatch(_ w: LinkRewrap, limit: Int, at time: Date, done: @Sendable (Int) -> AuditEntry) async throws -> (migrated: Int, complete: Bool) {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT cursor_row, migrated, completed_at FROM key_generation WHERE kind = 'link' AND generation = ?",
                                             arguments: [w.generation]), (row["completed_at"] as Double?) == nil else { return (0, true) }
            let cursor: Int64 = row["cursor_row"]
            let subjects = try Int64.fetchAll(db, sql: "SELECT id FROM subject WHERE id > ? AND link_gen < ? ORDER BY id LIMIT ?",
                                              arguments: [cursor, w.generation, limit])
            for s in subjects { try Self.migrateSubject(db, s, w) }
            let total = (row["migrated"] as Int) + subjects.count
            if subjects.count < limit {
                // The cursor passed the end; a subject below it can only be behind if it was created
                // by a commit keyed under the old generation, which the generation check refuses.
                try db.execute(sql: "UPDATE key_generation SET completed_at = ?, migrated = ? WHERE kind = 'link'",
                               arguments: [time.timeIntervalSince1970, total])
                _ = try Self.append(db, done(total))
                return (subjects.count, true)
            }
            try db.execute(sql: "UPDATE key_generation SET cursor_row = ?, migrated = ? WHERE kind = 'link'", arguments: [subjects.last!, total])
            return (subjects.count, false)
        }
    }

    /// Brings one subject's keys, tokens and record digests to the current link generation, if
    /// they are behind: the background migration, and any write that touches a subject first.
    /// Returns whether it migrated anything.
    @discardableResult
    static func migrateSubject(_ db: Database, _ subject: Int64, _ w: LinkRewrap) throws -> Bool {
        guard let gen = try Int.fetchOne(db.cachedStatement(sql: "SELECT link_gen FROM subject WHERE id = ?"), arguments: [subject]),
              gen < w.generation else { return false }
        let strong = try Row.fetchAll(db.cachedStatement(sql: "SELECT digest, basis FROM linkage_key WHERE subject_id = ?"), arguments: [subject])
        try db.cachedStatement(sql: "DELETE FROM linkage_key WHERE subject_id = ?").execute(arguments: [subject])
        let insertStrong = try db.cachedStatement(sql: "INSERT OR IGNORE INTO linkage_key (digest, basis, subject_id) VALUES (?, ?, ?)")
        for row in strong { try insertStrong.execute(arguments: [w.digest(row["digest"]), row["basis"] as String, subject]) }
        let blocking = try Data.fetchAll(db.cachedStatement(sql: "SELECT digest FROM blocking_key WHERE subject_id = ?"), arguments: [subject])
        try db.cachedStatement(sql: "DELETE FROM blocking_key WHERE subject_id = ?").execute(arguments: [subject])
        let insertBlocking = try db.cachedStatement(sql: "INSERT OR IGNORE INTO blocking_key (digest, subject_id) VALUES (?, ?)")
        for d in blocking { try insertBlocking.execute(arguments: [w.digest(d), subject]) }
        let update = try db.cachedStatement(sql: "UPDATE record SET reference_key = ?, dob_key = ?, strong_keys = ?, material = ? WHERE id = ?")
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT id, reference_key, dob_key, strong_keys, material FROM record WHERE subject_id = ?"),
                                    arguments: [subject]) {
            let strongKeys = (row["strong_keys"] as Data?).map { data -> Data in
                Data(stride(from: 0, to: data.count - 31, by: 32).map { w.digest(Data(data[data.startIndex + $0 ..< data.startIndex + $0 + 32])) }.joined())
            }
            // Material that opens under no key the gateway holds is of no use to linkage already
            // (candidates skip it); it is dropped rather than left to block the child's records.
            let material = (row["material"] as Data?).flatMap(w.material)
            try update.execute(arguments: [w.digest(row["reference_key"]), (row["dob_key"] as Data?).map(w.digest), strongKeys, material, row["id"] as Int64])
        }
        try db.cachedStatement(sql: "UPDATE subject SET link_gen = ? WHERE id = ?").execute(arguments: [w.generation, subject])
        return true
    }

    /// Re-seals, among up to `limit` rows, the sealed values not yet under the current sealing
    /// key, column by column in rowid order. Passes repeat until one finds nothing to re-seal:
    /// a value sealed under the old key by a request that was already running when the key
    /// changed is caught by the next pass. `reseal` returns nil for a value already under the
    /// current key, and throws for one that opens under no key the gateway holds. `mayComplete`
    /// false (a request that began under the old key is still running) holds completion: the
    /// pass that finds nothing is repeated later.
    public func resealBatch(limit: Int, mayComplete: Bool, at time: Date, reseal: @Sendable (Data) throws -> Data?,
                            done: @Sendable (Int) -> AuditEntry) async throws -> (migrated: Int, complete: Bool) {
        try await pool.write { db in
            guard let state = try Row.fetchOne(db, sql: "SELECT cursor_column, cursor_row, migrated, pass_changed, pass_tainted, completed_at FROM key_generation WHERE kind = 'sealing'"),
                  (state["completed_at"] as Double?) == nil else { return (0, true) }
            var column: Int = state["cursor_column"], cursor: Int64 = state["cursor_row"]
            var total: Int = state["migrated"], passChanged: Int = state["pass_changed"]
            // A pass during which a request begun under the old key was running may have been
            // overtaken by it (a value written behind the cursor): it cannot be the last.
            var tainted = (state["pass_tainted"] as Int) != 0 || !mayComplete
            var budget = limit, changed = 0, complete = false
            while budget > 0 {
                if column >= Self.sealedColumns.count {
                    if passChanged == 0 && !tainted { complete = true; break }
                    let clean = passChanged == 0
                    column = 0; cursor = 0; passChanged = 0; tainted = !mayComplete  // another pass
                    if clean { break }  // nothing found, but not yet allowed to finish: look again later
                }
                let (table, name) = Self.sealedColumns[column]
                let rows = try Row.fetchAll(db, sql: "SELECT rowid AS r, \(name) AS v FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                            arguments: [cursor, budget])
                for row in rows {
                    cursor = row["r"]
                    // NULL, or emptied by an erasure (a delivered forward keeps its row, not its notice).
                    guard let sealed = row["v"] as Data?, !sealed.isEmpty else { continue }
                    let fresh: Data?
                    do { fresh = try reseal(sealed) } catch {
                        throw SightlineError(.store, "\(table).\(name) row \(cursor): the sealed value opens under no key the gateway holds; keep every retired sealing key until this is resolved")
                    }
                    guard let fresh else { continue }
                    try db.execute(sql: "UPDATE \(table) SET \(name) = ? WHERE rowid = ?", arguments: [fresh, cursor])
                    changed += 1; passChanged += 1; total += 1
                }
                let asked = budget
                budget -= rows.count
                if rows.count < asked { column += 1; cursor = 0 }  // this column is done for this pass
            }
            try db.execute(sql: "UPDATE key_generation SET cursor_column = ?, cursor_row = ?, migrated = ?, pass_changed = ?, pass_tainted = ?, completed_at = ? WHERE kind = 'sealing'",
                           arguments: [column, cursor, total, passChanged, tainted ? 1 : 0, complete ? time.timeIntervalSince1970 : nil])
            if complete { _ = try Self.append(db, done(total)) }
            return (changed, complete)
        }
    }
}
