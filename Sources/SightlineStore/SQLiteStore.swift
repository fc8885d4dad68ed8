import Foundation
import GRDB
import SightlineCore

/// A value behind a lock, for the few settings that change while the store serves.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    /// Read-modify-write under the lock (`value += 1` through get and set would race).
    func mutate(_ change: (inout T) -> Void) { lock.lock(); change(&stored); lock.unlock() }
}

/// The embedded store: one SQLite file in WAL mode, through GRDB. Serves one LA (up to about
/// 500k children); writes are serialised by SQLite, reads run concurrently beside them.
public final class SQLiteStore: SightlineStore {
    let pool: DatabasePool
    public let path: String
    /// Set while subjects remain in the form before the last link rotation: writes that touch
    /// such a subject migrate it first, and reads lift its material.
    let linkRewrapBox = LockedValue<LinkRewrap?>(nil)
    /// Linkage work of the committed submissions since the store was opened.
    let linkageWorkBox = LockedValue(LinkageWork())
    /// The writer connection's hot statements, kept prepared across commits; touched only inside
    /// `pool.write`, which GRDB runs one at a time on the writer's queue.
    let writerStatements = WriterStatements()
    public var linkRewrap: LinkRewrap? {
        get { linkRewrapBox.value }
        set { linkRewrapBox.value = newValue }
    }

    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var config = Configuration()
        config.readonly = readOnly
        config.label = "sightline"
        config.prepareDatabase { db in
            // FULL: a receipt is only sent after its transaction is on disk, so an acknowledged
            // record survives a crash or power loss.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Deleted content is overwritten, so retention deletes leave no readable remains.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // 32 MiB of page cache a connection (SQLite's default is 2 MiB): linkage looks up a dozen
            // blocking keys a record, and with the default cache most lookups were reads from the file.
            // (128 MiB for the writer measured no faster at 100,000 children: ops/benchmarks.md.)
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        if !readOnly { try Self.createOwnerOnly(path) }
        pool = try DatabasePool(path: path, configuration: config)
        if !readOnly {
            // SQLite gives -wal and -shm the database file's mode; make sure of it whatever the umask.
            for companion in [path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: companion) {
                chmod(companion, 0o600)
            }
            try Self.migrator.migrate(pool)
        }
    }

    /// The database holds pseudonyms, sealed receipts and the audit log: its owner (the gateway's
    /// user) only. A new file is created 0600 before SQLite opens it (SQLite would use 0644 less
    /// the umask, and gives -wal and -shm the same mode); an existing one, or its -wal or -shm,
    /// that group or others can read stops the start, naming the fix.
    static func createOwnerOnly(_ path: String) throws(SightlineError) {
        if !FileManager.default.fileExists(atPath: path) {
            // An empty file is an empty SQLite database. O_EXCL: never truncate one that appeared meanwhile.
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) } else if errno != EEXIST {
                throw SightlineError(.store, "cannot create the database \(path) (\(String(cString: strerror(errno)))); check the directory exists and is writable")
            }
        }
        for file in [path, path + "-wal", path + "-shm"] {
            try OwnerOnlyFile.requireOwnerOnly(file, what: "database file", code: .store)
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
            CREATE TABLE submission (
              id TEXT PRIMARY KEY,
              participant TEXT NOT NULL,
              idempotency_key TEXT NOT NULL,
              body_digest TEXT NOT NULL,
              received_at REAL NOT NULL,
              audit_index INTEGER NOT NULL,
              receipt BLOB NOT NULL,            -- AES-GCM sealed: it names the agency's own references
              UNIQUE (participant, idempotency_key)
            );
            CREATE TABLE subject (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              created_at REAL NOT NULL
            );
            CREATE TABLE linkage_key (
              digest BLOB PRIMARY KEY,          -- HMAC-SHA256 with the link key; never a raw identifier
              basis TEXT NOT NULL,
              subject_id INTEGER NOT NULL REFERENCES subject(id)
            ) WITHOUT ROWID;
            CREATE INDEX linkage_key_subject ON linkage_key(subject_id);
            CREATE TABLE record (
              id INTEGER PRIMARY KEY,
              subject_id INTEGER NOT NULL REFERENCES subject(id),
              kind TEXT NOT NULL,
              source TEXT NOT NULL,
              reference_key BLOB NOT NULL,      -- keyed digest of the source's localRef
              submission_id TEXT NOT NULL,
              observed_at REAL NOT NULL,
              received_at REAL NOT NULL,
              birth_year_month TEXT,
              postcode_district TEXT,
              fields TEXT NOT NULL,             -- JSON, only fields some purpose uses
              UNIQUE (source, kind, reference_key)
            );
            CREATE INDEX record_subject ON record(subject_id);
            CREATE INDEX record_kind ON record(kind);
            CREATE TABLE audit_entry (
              idx INTEGER PRIMARY KEY,
              time REAL NOT NULL,
              actor TEXT NOT NULL,
              action TEXT NOT NULL,
              decision TEXT NOT NULL,
              rule TEXT NOT NULL,
              purpose TEXT,
              entry BLOB NOT NULL,              -- canonical JSON, the bytes that are hashed
              leaf_hash BLOB NOT NULL,
              chain_hash BLOB NOT NULL
            );
            CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
              BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
              BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            """)
        }
        m.registerMigration("v2-linkage") { db in
            try db.execute(sql: """
            ALTER TABLE record ADD COLUMN linked_by TEXT NOT NULL DEFAULT 'new';
            ALTER TABLE record ADD COLUMN dob_key BLOB;        -- keyed digest of the date of birth, for conflict checks only
            CREATE INDEX record_kind_subject ON record(kind, subject_id);
            CREATE TABLE ambiguous_key (
              digest BLOB PRIMARY KEY,          -- a name + date of birth key shared by different children
              basis TEXT NOT NULL,
              marked_at REAL NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE subject_merge (
              from_subject INTEGER NOT NULL,
              into_subject INTEGER NOT NULL,
              merged_at REAL NOT NULL
            );
            CREATE TABLE subject_conflict (
              subject_a INTEGER NOT NULL,
              subject_b INTEGER NOT NULL,
              reason TEXT NOT NULL,
              found_at REAL NOT NULL,
              PRIMARY KEY (subject_a, subject_b, reason)
            );
            CREATE TABLE issued_pseudonym (
              pseudonym TEXT PRIMARY KEY,       -- what one recipient was given for a subject
              recipient TEXT NOT NULL,
              subject_id INTEGER NOT NULL
            );
            CREATE INDEX issued_pseudonym_subject ON issued_pseudonym(subject_id, recipient);
            """)
        }
        // Later parts of the schema live beside the code that uses them; order matters.
        registerAuditMigrations(&m)
        registerOutboxMigrations(&m)
        SubjectLinker.registerMigrations(&m)
        registerEnquiryMigrations(&m)
        registerDPOMigrations(&m)
        registerKeyRotationMigrations(&m)
        registerAuditPruningMigrations(&m)
        registerKeyRotationPassMigrations(&m)
        m.registerMigration("v12-drop-record-kind-index") { db in
            // record_kind_subject (kind, subject_id) answers every lookup by kind; the narrower index
            // only cost an insert a record.
            try db.execute(sql: "DROP INDEX IF EXISTS record_kind")
        }
        return m
    }

    public func commit(_ s: SubmissionCommit) async throws -> SubmissionCommitResult {
        let (result, work) = try await pool.write { db -> (SubmissionCommitResult, LinkageWork) in
            try s.authorise?()
            if let row = try Row.fetchOne(db, sql: "SELECT body_digest, receipt FROM submission WHERE participant = ? AND idempotency_key = ?",
                                          arguments: [s.participant, s.idempotencyKey]) {
                let digest: String = row["body_digest"]
                return (digest == s.bodyDigest ? .replayed(receipt: row["receipt"]) : .conflict, LinkageWork())
            }
            let generation = try Self.linkGeneration(db)
            if let stale = s.records.first(where: { $0.linkGeneration != generation }) {
                throw LinkGenerationChanged(recordGeneration: stale.linkGeneration, storeGeneration: generation)
            }
            var outcomes: [RecordOutcome] = []
            outcomes.reserveCapacity(s.records.count)
            let received = s.receivedAt.timeIntervalSince1970
            let linker = SubjectLinker(db: db, time: received, linkage: s.linkage, rewrap: try activeRewrap(db), generation: generation,
                                       raw: try writerStatements.statements(for: db))
            for record in s.records {
                let decision = try linker.link(record, source: s.participant)
                let (outcome, id) = try Self.upsert(db, record, decision: decision, source: s.participant, submissionID: s.id, at: received, raw: linker.raw)
                linker.stored(record, id: id, created: outcome.change == .created)
                outcomes.append(outcome)
            }
            try linker.flush()
            let index = try Self.append(db, s.buildAudit(outcomes))
            let receipt = try s.buildReceipt(outcomes, index)
            var forwards = 0
            if let plan = s.planForwards {
                for forward in try plan(s.records, outcomes, SQLiteForwardLookup(db: db)) {
                    try Self.enqueue(db, forward, at: received)
                    forwards += 1
                }
            }
            try db.execute(sql: """
                INSERT INTO submission (id, participant, idempotency_key, body_digest, received_at, audit_index, receipt)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [s.id, s.participant, s.idempotencyKey, s.bodyDigest, received, index, receipt])
            return (.committed(receipt: receipt, auditIndex: index, forwards: forwards), linker.work)
        }
        // Counted once the transaction is on disk: a rolled-back submission compared nothing that stayed.
        if work.records > 0 {
            linkageWorkBox.mutate { $0 = $0 + work }
        }
        return result
    }

    /// A record a source sends again under the same reference replaces the earlier version.
    static func upsert(_ db: Database, _ r: PseudonymisedRecord, decision: SubjectLinker.Decision, source: String, submissionID: String,
                       at time: Double, raw: RawStatements) throws -> (RecordOutcome, Int64) {
        let subject = decision.subject
        let fields = try r.encodedFields ?? String(decoding: CanonicalJSON.encode(r.fields), as: UTF8.self)
        let existing = decision.existingRecord
        if let id = existing {
            let args: StatementArguments = [subject, submissionID, r.observedAt.timeIntervalSince1970, time, r.birthYearMonth, r.postcodeDistrict, fields,
                                            decision.linkedBy, r.birthDateKey, r.sealedReference, r.sealedMaterial, StrongKeys.encode(r.linkageKeys)]
            try db.cachedStatement(sql: """
                UPDATE record SET subject_id = ?, submission_id = ?, observed_at = ?, received_at = ?,
                  birth_year_month = ?, postcode_district = ?, fields = ?, linked_by = ?, dob_key = ?, sealed_ref = ?, material = ?, strong_keys = ?,
                  reference_key = ? WHERE id = ?
                """).execute(arguments: args + [r.referenceKey, id])  // the reference too: found by its old form during a link migration, stored in the new
            return (RecordOutcome(subjectID: subject, change: .updated, linkedBy: decision.linkedBy, merges: decision.merges, conflicts: decision.conflicts,
                                  reviews: decision.reviews.count), id)
        }
        // A new record, the common case, through the C API (RawStatements.swift): the columns the update sets, then the key.
        try raw.statement(.insertRecord, """
            INSERT INTO record (subject_id, submission_id, observed_at, received_at, birth_year_month, postcode_district, fields, linked_by, dob_key, sealed_ref, material, strong_keys, kind, source, reference_key)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
            .bind(1, subject).bind(2, submissionID).bind(3, r.observedAt.timeIntervalSince1970).bind(4, time).bind(5, r.birthYearMonth)
            .bind(6, r.postcodeDistrict).bind(7, fields).bind(8, decision.linkedBy).bind(9, r.birthDateKey).bind(10, r.sealedReference)
            .bind(11, r.sealedMaterial).bind(12, StrongKeys.encode(r.linkageKeys)).bind(13, r.kind.rawValue).bind(14, source).bind(15, r.referenceKey)
            .run()
        return (RecordOutcome(subjectID: subject, change: .created, linkedBy: decision.linkedBy, merges: decision.merges, conflicts: decision.conflicts,
                              reviews: decision.reviews.count), db.lastInsertedRowID)
    }

    /// Appends inside the caller's transaction: the entry, the Merkle nodes it completes (O(log n)
    /// hashes, from the saved right edge of the tree) and the new tree state commit or roll back
    /// together with whatever the entry records.
    static func append(_ db: Database, _ entry: AuditEntry) throws -> Int64 {
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT idx, chain_hash FROM audit_entry ORDER BY idx DESC LIMIT 1"))
        let index: Int64 = last.map { ($0["idx"] as Int64) + 1 } ?? 0
        let previous: Data = last?["chain_hash"] ?? AuditHash.genesis
        var tree = try loadTree(db)
        guard tree.size == index else {
            throw AuditLogError(.treeState, "the audit tree holds \(tree.size) entries but the log \(index); the audit store is damaged, run `sightline audit verify --database`")
        }
        let bytes = entry.canonicalBytes()
        let leaf = AuditHash.leaf(bytes)
        try db.cachedStatement(sql: """
            INSERT INTO audit_entry (idx, time, actor, action, decision, rule, purpose, entry, leaf_hash, chain_hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [index, entry.time.timeIntervalSince1970, entry.actor, entry.action, entry.decision.rawValue,
                                     entry.rule, entry.purpose, bytes, leaf, AuditHash.chain(previous: previous, leaf: leaf)])
        for node in tree.append(leafHash: leaf) where node.level >= lowestStoredNodeLevel {
            try db.cachedStatement(sql: "INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)")
                .execute(arguments: [node.level, node.index, node.hash])
        }
        try db.cachedStatement(sql: "UPDATE audit_tree SET size = ?, frontier = ? WHERE id = 1")
            .execute(arguments: [tree.size, Data(tree.frontier.joined())])
        try indexSubjects(db, entry, index: index)
        return index
    }

    public func receipt(submissionID: String, participant: String) async throws -> Data? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT receipt FROM submission WHERE id = ? AND participant = ?", arguments: [submissionID, participant])
        }
    }

    @discardableResult
    public func appendAudit(_ entry: AuditEntry) async throws -> Int64 {
        try await pool.write { db in try Self.append(db, entry) }
    }

    public func auditEntries(from index: Int64, limit: Int) async throws -> [StoredAuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT idx, entry, leaf_hash, chain_hash FROM audit_entry WHERE idx >= ? ORDER BY idx LIMIT ?",
                             arguments: [index, limit]).map {
                StoredAuditEntry(index: $0["idx"], entry: $0["entry"], leafHash: $0["leaf_hash"], chainHash: $0["chain_hash"])
            }
        }
    }

    public func auditCount() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_entry") ?? 0 }
    }

    public func counts() async throws -> StoreCounts {
        try await pool.read { db in
            StoreCounts(subjects: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subject") ?? 0,
                        records: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record") ?? 0,
                        submissions: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submission") ?? 0,
                        auditEntries: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_entry") ?? 0)
        }
    }

    public func linkageWork() -> LinkageWork { linkageWorkBox.value }

    public func isReady() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}
