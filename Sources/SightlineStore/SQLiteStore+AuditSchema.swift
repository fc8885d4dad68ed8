import GRDB

extension SQLiteStore {
    /// Migrations for the verifiable audit log (Merkle nodes, checkpoints).
    static func registerAuditMigrations(_ m: inout DatabaseMigrator) {
    }
}
