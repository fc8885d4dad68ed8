import Foundation
import GRDB
import SightlineCore

extension SQLiteStore {
    /// Interior Merkle nodes below this level are not stored: they are recomputed from at most
    /// 32 leaf hashes (one range read) when a proof needs them. Storing level >= 6 only keeps
    /// about one node per 32 entries (about 1.5 bytes an entry instead of about 50) and still
    /// answers every proof with O(log n) lookups plus one small leaf read per low level.
    static let lowestStoredNodeLevel = 6

    /// Migrations for the verifiable audit log (Merkle nodes, checkpoints).
    static func registerAuditMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-merkle") { db in
            try db.execute(sql: """
            CREATE TABLE audit_tree (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              size INTEGER NOT NULL,            -- entries in the tree
              frontier BLOB NOT NULL            -- the right edge: one 32-byte subtree hash per set bit of size, largest first
            );
            CREATE TABLE audit_node (
              level INTEGER NOT NULL,           -- the node covers leaves idx << level ..< (idx + 1) << level
              idx INTEGER NOT NULL,
              hash BLOB NOT NULL,
              PRIMARY KEY (level, idx)
            ) WITHOUT ROWID;
            CREATE TRIGGER audit_node_no_update BEFORE UPDATE ON audit_node
              BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TRIGGER audit_node_no_delete BEFORE DELETE ON audit_node
              BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TABLE audit_checkpoint (
              id INTEGER PRIMARY KEY,
              size INTEGER NOT NULL,
              root_hash BLOB NOT NULL,
              time REAL NOT NULL,
              note TEXT NOT NULL,               -- the C2SP signed note, exactly as served
              verifier_key TEXT NOT NULL        -- <name>+<key ID>+<key> of the key that signed it
            );
            CREATE INDEX audit_checkpoint_size ON audit_checkpoint(size);
            CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
              BEGIN SELECT RAISE(ABORT, 'signed checkpoints are never rewritten'); END;
            CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
              BEGIN SELECT RAISE(ABORT, 'signed checkpoints are never rewritten'); END;
            """)
            // A log written before this migration: build its tree once from the stored leaves.
            var tree = MerkleTree()
            let insertNode = try db.makeStatement(sql: "INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)")
            let leaves = try Row.fetchCursor(db, sql: "SELECT idx, leaf_hash FROM audit_entry ORDER BY idx")
            while let row = try leaves.next() {
                let index: Int64 = row["idx"]
                guard index == tree.size else {
                    throw AuditLogError(.treeState, "the audit log has no entry \(tree.size) (the next is \(index)); it cannot be turned into a Merkle log")
                }
                for node in tree.append(leafHash: row["leaf_hash"]) where node.level >= lowestStoredNodeLevel {
                    try insertNode.execute(arguments: [node.level, node.index, node.hash])
                }
            }
            try db.execute(sql: "INSERT INTO audit_tree (id, size, frontier) VALUES (1, ?, ?)",
                           arguments: [tree.size, Data(tree.frontier.joined())])
        }
    }

    /// The tree as of the last append, from its one-row state: no entry is read.
    static func loadTree(_ db: Database) throws -> MerkleTree {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT size, frontier FROM audit_tree WHERE id = 1")) else {
            throw AuditLogError(.treeState, "the audit tree state is missing; the database was not migrated by this version")
        }
        let blob: Data = row["frontier"]
        guard blob.count % 32 == 0 else {
            throw AuditLogError(.treeState, "the stored audit frontier is \(blob.count) bytes, not a multiple of 32; the audit store is damaged")
        }
        let frontier = stride(from: 0, to: blob.count, by: 32).map { blob[blob.startIndex + $0 ..< blob.startIndex + $0 + 32] }.map { Data($0) }
        return try MerkleTree(size: row["size"], frontier: frontier)
    }
}
