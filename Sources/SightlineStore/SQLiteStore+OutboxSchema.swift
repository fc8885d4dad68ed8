import GRDB

extension SQLiteStore {
    /// Migrations for the forwarding outbox.
    static func registerOutboxMigrations(_ m: inout DatabaseMigrator) {
    }
}
