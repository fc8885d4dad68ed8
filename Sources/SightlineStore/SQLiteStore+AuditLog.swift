import Foundation
import GRDB
import SightlineCore

/// The stored log as a `MerkleNodeSource`: leaf hashes from `audit_entry`, interior nodes from
/// `audit_node` (levels below `lowestStoredNodeLevel` are recomputed from leaves).
struct SQLiteMerkleNodes: MerkleNodeSource {
    let db: Database

    func leafHashes(_ range: Range<Int64>) throws -> [Data] {
        try Data.fetchAll(db.cachedStatement(sql: "SELECT leaf_hash FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx"),
                          arguments: [range.lowerBound, range.upperBound])
    }

    func nodeHash(level: Int, index: Int64) throws -> Data? {
        guard level >= SQLiteStore.lowestStoredNodeLevel else { return nil }
        return try Data.fetchOne(db.cachedStatement(sql: "SELECT hash FROM audit_node WHERE level = ? AND idx = ?"), arguments: [level, index])
    }
}

extension SQLiteStore {
    public func auditTreeHead() async throws -> AuditTreeHead {
        try await pool.read { db in
            let tree = try Self.loadTree(db)
            return AuditTreeHead(size: tree.size, rootHash: tree.rootHash())
        }
    }

    /// The root of the first `size` entries: from the saved right edge when `size` is the whole
    /// tree, otherwise from O(log n) stored subtrees.
    static func rootHash(_ db: Database, size: Int64, tree: MerkleTree) throws -> Data {
        size == tree.size ? tree.rootHash() : try MerkleProofs.rootHash(size: size, nodes: SQLiteMerkleNodes(db: db))
    }

    public func auditInclusionProof(index: Int64, size: Int64) async throws -> AuditInclusionProof {
        try await pool.read { db in
            let tree = try Self.loadTree(db)
            guard size >= 1, size <= tree.size else {
                throw AuditLogError(.proofRange, "size must be 1...\(tree.size), the entries the log holds now; got \(size)")
            }
            guard index >= 0, index < size else {
                throw AuditLogError(.proofRange, "index must be 0...\(size - 1) for a tree of \(size) entries; got \(index)")
            }
            let nodes = SQLiteMerkleNodes(db: db)
            guard let leaf = try nodes.leafHashes(index..<(index + 1)).first else {
                throw AuditLogError(.storedHashes, "entry \(index) is missing from the audit store; the store is damaged")
            }
            return AuditInclusionProof(index: index, size: size, leafHash: leaf, rootHash: try Self.rootHash(db, size: size, tree: tree),
                                       path: try MerkleProofs.inclusion(index: index, size: size, nodes: nodes))
        }
    }

    public func auditConsistencyProof(from: Int64, to: Int64) async throws -> AuditConsistencyProof {
        try await pool.read { db in
            let tree = try Self.loadTree(db)
            guard to >= 0, to <= tree.size else {
                throw AuditLogError(.proofRange, "to must be 0...\(tree.size), the entries the log holds now; got \(to)")
            }
            guard from >= 0, from <= to else {
                throw AuditLogError(.proofRange, "from must be 0...\(to) (at most to); got \(from)")
            }
            return AuditConsistencyProof(from: from, to: to, fromRoot: try Self.rootHash(db, size: from, tree: tree),
                                         toRoot: try Self.rootHash(db, size: to, tree: tree),
                                         path: try MerkleProofs.consistency(from: from, to: to, nodes: SQLiteMerkleNodes(db: db)))
        }
    }

    public func auditEntries(matching filter: AuditEntryFilter) async throws -> [StoredAuditEntry] {
        var clauses = ["idx >= ?"]
        var arguments: StatementArguments = [filter.from]
        func add(_ clause: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            clauses.append(clause)
            arguments += [value]
        }
        add("time >= ?", filter.since?.timeIntervalSince1970)
        add("time < ?", filter.until?.timeIntervalSince1970)
        add("actor = ?", filter.actor)
        add("action = ?", filter.action)
        add("purpose = ?", filter.purpose)
        add("decision = ?", filter.decision)
        add("rule = ?", filter.rule)
        arguments += [max(0, filter.limit)]
        let sql = "SELECT \(Self.auditEntryColumns) FROM audit_entry WHERE \(clauses.joined(separator: " AND ")) ORDER BY idx LIMIT ?"
        let args = arguments
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: args).map(Self.storedAuditEntry)
        }
    }

    /// An entry with its search columns, for filtered reads and verification.
    static let auditEntryColumns = "idx, entry, leaf_hash, chain_hash, time, actor, action, decision, rule, purpose"

    static func storedAuditEntry(_ row: Row) -> StoredAuditEntry {
        var stored = StoredAuditEntry(index: row["idx"], entry: row["entry"], leafHash: row["leaf_hash"], chainHash: row["chain_hash"])
        if row.hasColumn("actor") {
            // Read without trusting the types: a forged row may hold a blob or a number where text
            // belongs, and the verifier must report that, not trap on it.
            func text(_ name: String) -> String? { String.fromDatabaseValue(row[name] as DatabaseValue) }
            let unreadable = "(not text)"
            stored.columns = AuditSearchColumns(
                time: Double.fromDatabaseValue(row["time"] as DatabaseValue) ?? .nan, actor: text("actor") ?? unreadable,
                action: text("action") ?? unreadable, decision: text("decision") ?? unreadable, rule: text("rule") ?? unreadable,
                purpose: (row["purpose"] as DatabaseValue).isNull ? nil : text("purpose") ?? unreadable)
        }
        return stored
    }

    /// Stores a checkpoint after checking that its root is the log's root at its size: the
    /// gateway never keeps a signature over a tree it does not hold.
    public func saveCheckpoint(_ c: StoredCheckpoint) async throws {
        try await pool.write { db in
            let tree = try Self.loadTree(db)
            guard c.size <= tree.size, try Self.rootHash(db, size: c.size, tree: tree) == c.rootHash else {
                throw AuditLogError(.treeState, "refusing to store a checkpoint of size \(c.size) whose root is not the log's root at that size")
            }
            try db.execute(sql: "INSERT INTO audit_checkpoint (size, root_hash, time, note, verifier_key) VALUES (?, ?, ?, ?, ?)",
                           arguments: [c.size, c.rootHash, c.time.timeIntervalSince1970, c.note, c.verifierKey])
        }
    }

    static let checkpointColumns = "size, root_hash, time, note, verifier_key"

    static func storedCheckpoint(_ row: Row) -> StoredCheckpoint {
        StoredCheckpoint(size: row["size"], rootHash: row["root_hash"], time: Date(timeIntervalSince1970: row["time"]),
                         note: row["note"], verifierKey: row["verifier_key"])
    }

    public func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.checkpointColumns) FROM audit_checkpoint ORDER BY size DESC, id DESC LIMIT 1")
                .map(Self.storedCheckpoint)
        }
    }

    public func checkpoints(upTo maxSize: Int64) async throws -> [StoredCheckpoint] {
        try await pool.read { db in try Self.checkpoints(db, upTo: maxSize) }
    }

    static func checkpoints(_ db: Database, upTo maxSize: Int64) throws -> [StoredCheckpoint] {
        guard try db.tableExists("audit_checkpoint") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT \(checkpointColumns) FROM audit_checkpoint WHERE size <= ? ORDER BY size, id", arguments: [maxSize])
            .map(storedCheckpoint)
    }
}

// MARK: - Reading a log file for verification

/// What `sightline audit verify --database` reads besides the entries: the signed checkpoints
/// and the store's own Merkle state, which proofs are served from and must agree with the entries.
public struct StoredAuditState: Sendable {
    public let checkpoints: [StoredCheckpoint]
    /// The saved right edge of the tree, or nil for a log written before the Merkle migration.
    public let tree: MerkleTree?
    /// Stored interior nodes, by level and index.
    public let nodes: [Int: [Int64: Data]]
}

extension SQLiteStore {
    /// Calls `body` with every entry in index order, in one read transaction, until it returns false.
    public func forEachAuditEntry(from index: Int64 = 0, _ body: (StoredAuditEntry) throws -> Bool) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT \(Self.auditEntryColumns) FROM audit_entry WHERE idx >= ? ORDER BY idx",
                                           arguments: [index])
            while let row = try rows.next() {
                guard try body(Self.storedAuditEntry(row)) else { return }
            }
        }
    }

    public func storedAuditState() throws -> StoredAuditState {
        try pool.read { db in
            var nodes: [Int: [Int64: Data]] = [:]
            var tree: MerkleTree?
            if try db.tableExists("audit_tree") {
                tree = try Self.loadTree(db)
                let rows = try Row.fetchCursor(db, sql: "SELECT level, idx, hash FROM audit_node")
                while let row = try rows.next() { nodes[row["level"], default: [:]][row["idx"]] = row["hash"] }
            }
            return StoredAuditState(checkpoints: try Self.checkpoints(db, upTo: .max), tree: tree, nodes: nodes)
        }
    }
}

extension SQLiteStore {
    /// `sightline audit verify --database`: every entry of this file against its stored leaf and
    /// chain hashes and its search columns (what `audit entries` filters on), its Merkle nodes
    /// and saved tree edge, every signed checkpoint it keeps, and the checkpoint or export the
    /// auditor saved earlier.
    public func verifyAuditLog(pinned: [NoteVerifierKey], saved: AuditVerification.Saved? = nil) -> AuditVerificationReport {
        let source = "database \((path as NSString).lastPathComponent)"
        do {
            // The state is read first: entries appended after it are left for the next run.
            let state = try storedAuditState()
            let latest = state.checkpoints.max { ($0.size, $0.time) < ($1.size, $1.time) }
            var check = try AuditVerification(
                source: source, latest: latest.map { .init(note: $0.note, verifierKey: $0.verifierKey) },
                stored: state.checkpoints.map { .init(note: $0.note, verifierKey: $0.verifierKey) }, saved: saved, pinned: pinned,
                storedNodes: state.tree == nil ? nil : state.nodes, lowestStoredLevel: Self.lowestStoredNodeLevel)
            let end = state.tree?.size ?? .max
            var failure: AuditLogVerifier.Failure?
            try forEachAuditEntry { e in
                guard e.index < end else { return false }
                do { try check.add(index: e.index, entry: e.entry, storedLeaf: e.leafHash, storedChain: e.chainHash, columns: e.columns) } catch let f as AuditLogVerifier.Failure {
                    failure = f
                    return false
                }
                return true
            }
            if let failure { return check.report(failure: failure) }
            return check.finish(storedTree: state.tree)
        } catch let failure as AuditLogVerifier.Failure {
            return .failed(source: source, failure)
        } catch let error as AuditLogError {
            return .failed(source: source, .init(.treeState, index: nil, "the database's audit state cannot be read: \(error.message)"))
        } catch {
            return .failed(source: source, .init(.treeState, index: nil, "the database cannot be read as a Sightline audit log (\(type(of: error)))"))
        }
    }
}
