import GRDB

extension SQLiteStore {
    /// Migrations for the forwarding outbox.
    static func registerOutboxMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4-outbox") { db in
            try db.execute(sql: """
            ALTER TABLE record ADD COLUMN sealed_ref BLOB;   -- AES-GCM sealed localRef, kept only where a forward needs it
            CREATE TABLE forward (
              id INTEGER PRIMARY KEY,
              public_id TEXT NOT NULL UNIQUE,         -- the idempotency key the recipient sees
              recipient TEXT NOT NULL,                -- "school/100001", "partner/304-cme"
              rule TEXT NOT NULL,
              purpose TEXT NOT NULL,
              subject_id INTEGER NOT NULL,
              payload BLOB NOT NULL,                  -- AES-GCM sealed notice (may name the school's own reference)
              created_at REAL NOT NULL,
              deadline REAL,
              state TEXT NOT NULL,                    -- pending | delivered | dead
              attempts INTEGER NOT NULL DEFAULT 0,
              next_attempt_at REAL NOT NULL,
              last_error TEXT,
              delivered_at REAL,
              overdue_reported INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX forward_pending ON forward(state, recipient, id);
            CREATE INDEX forward_recipient ON forward(recipient, id);
            CREATE TABLE inbox_cursor (
              recipient TEXT PRIMARY KEY,
              acknowledged INTEGER NOT NULL           -- forward ids up to this one are acknowledged
            );
            """)
        }
        m.registerMigration("v5-strong-keys") { db in
            // Which strong identifiers (keyed digests, as in linkage_key) each record carried, so
            // that a forward can tell a school's enrolment that another participant corroborates
            // from one whose identifiers only that school has sent. Records stored before this
            // have none: their schools' notices are held for the LA until they are sent again.
            // Forward states gain held (waiting for the LA to route), routed and closed.
            try db.execute(sql: "ALTER TABLE record ADD COLUMN strong_keys BLOB")
        }
    }
}
