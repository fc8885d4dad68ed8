import Foundation
import GRDB
import SightlineCore

/// The NHS numbers and UPNs a record carried, as their linkage-key digests (32 bytes each,
/// concatenated): what "another participant holds the same identifier" is checked against.
enum StrongKeys {
    static let bases: Set<LinkageKey.Basis> = [.nhsNumber, .upn]

    static func encode(_ keys: [LinkageKey]) -> Data? {
        var out = Data()
        for key in keys where bases.contains(key.basis) { out.append(key.digest) }  // appended, not joined: joining walks byte by byte
        return out.isEmpty ? nil : out
    }

    static func decode(_ data: Data?) -> Set<Data> {
        guard let data else { return [] }
        return Set(stride(from: 0, to: data.count - 31, by: 32).map { Data(data[data.startIndex + $0 ..< data.startIndex + $0 + 32]) })
    }
}

struct SQLiteForwardLookup: ForwardLookup {
    let db: Database

    func issuedPseudonyms(subject: Int64, recipient: String) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT pseudonym FROM issued_pseudonym WHERE subject_id = ? AND recipient = ? ORDER BY origin_subject IS subject_id, rowid"),
                            arguments: [subject, recipient])
    }

    func currentEnrolments(subject: Int64, on day: CivilDate) throws -> [EnrolmentReference] {
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT source, kind, fields, sealed_ref, strong_keys FROM record WHERE subject_id = ?"),
                                    arguments: [subject])
        let keysBySource = Dictionary(grouping: rows, by: { $0["source"] as String })
            .mapValues { $0.reduce(into: Set<Data>()) { $0.formUnion(StrongKeys.decode($1["strong_keys"])) } }
        return rows.compactMap { row in
            guard (row["kind"] as String) == RecordKind.schoolEnrolment.rawValue else { return nil }
            let text: String = row["fields"]
            guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                  let from = fields["onRollFrom"]?.stringValue.flatMap(CivilDate.init(iso:)), from <= day else { return nil }
            if let off = fields["offRollOn"]?.stringValue.flatMap(CivilDate.init(iso:)), off <= day { return nil }
            let source: String = row["source"]
            let own = StrongKeys.decode(row["strong_keys"])
            let corroborated = keysBySource.contains { other, keys in other != source && !keys.isDisjoint(with: own) }
            return EnrolmentReference(source: source, sealedReference: row["sealed_ref"], corroborated: corroborated)
        }
    }

    func records(ofSubject subject: Int64) throws -> [SubjectRecord] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT \(SQLiteStore.recordColumns) FROM record WHERE subject_id = ?"), arguments: [subject])
            .compactMap(SQLiteStore.subjectRecord)
    }
}

extension SQLiteStore {
    static func enqueue(_ db: Database, _ f: NewForward, at time: Double) throws {
        try db.cachedStatement(sql: """
            INSERT INTO forward (public_id, recipient, rule, purpose, subject_id, payload, created_at, deadline, state, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [f.publicID, f.recipient, f.rule, f.purpose, f.subjectID, f.sealedPayload, time,
                                     f.deadline?.timeIntervalSince1970, f.held ? StoredForward.State.held.rawValue : StoredForward.State.pending.rawValue, time])
        if let pseudonym = f.issuedPseudonym {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO issued_pseudonym (pseudonym, recipient, subject_id, origin_subject) VALUES (?, ?, ?, ?)")
                .execute(arguments: [pseudonym, f.recipient, f.subjectID, f.subjectID])
        }
        var audit = f.audit
        audit.detail["forward"] = f.publicID
        _ = try append(db, audit)
    }

    static let forwardColumns = "id, public_id, recipient, rule, purpose, subject_id, payload, created_at, deadline, state, attempts, next_attempt_at, last_error, delivered_at"

    static func storedForward(_ row: Row) -> StoredForward {
        StoredForward(id: row["id"], publicID: row["public_id"], recipient: row["recipient"], rule: row["rule"], purpose: row["purpose"],
                      subjectID: row["subject_id"], sealedPayload: row["payload"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                      deadline: (row["deadline"] as Double?).map(Date.init(timeIntervalSince1970:)),
                      state: StoredForward.State(rawValue: row["state"]) ?? .pending, attempts: row["attempts"],
                      nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]), lastError: row["last_error"],
                      deliveredAt: (row["delivered_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    public func dueForwards(now: Date, limit: Int) async throws -> [StoredForward] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.forwardColumns) FROM forward
                WHERE id IN (SELECT MIN(id) FROM forward WHERE state = 'pending' GROUP BY recipient) AND next_attempt_at <= ?
                ORDER BY id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map(Self.storedForward)
        }
    }

    public func recordAttempt(_ id: Int64, outcome: ForwardAttemptOutcome, audit: AuditEntry) async throws {
        try await pool.write { db in
            switch outcome {
            case .delivered(let at):
                try db.execute(sql: "UPDATE forward SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?",
                               arguments: [at.timeIntervalSince1970, id])
            case .failed(let error, let retryAt):
                try db.execute(sql: "UPDATE forward SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                               arguments: [error, retryAt.timeIntervalSince1970, id])
            case .dead(let error):
                try db.execute(sql: "UPDATE forward SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?", arguments: [error, id])
            }
            _ = try Self.append(db, audit)
        }
    }

    public func overdueForwards(now: Date) async throws -> [StoredForward] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE state IN ('pending', 'held', 'dead') AND deadline IS NOT NULL AND deadline < ? AND overdue_reported = 0",
                             arguments: [now.timeIntervalSince1970]).map(Self.storedForward)
        }
    }

    public func markOverdue(_ id: Int64, audit: AuditEntry) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE forward SET overdue_reported = 1 WHERE id = ?", arguments: [id])
            _ = try Self.append(db, audit)
        }
    }

    public func forwards(state: StoredForward.State?, limit: Int) async throws -> [StoredForward] {
        try await pool.read { db in
            if let state {
                return try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE state = ? ORDER BY id LIMIT ?", arguments: [state.rawValue, limit]).map(Self.storedForward)
            }
            return try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward ORDER BY id LIMIT ?", arguments: [limit]).map(Self.storedForward)
        }
    }

    public func retryDead(_ id: Int64?, audit: @Sendable (StoredForward) -> AuditEntry) async throws -> Int {
        try await pool.write { db in
            let dead = try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE state = 'dead'" + (id == nil ? "" : " AND id = ?"),
                                        arguments: id.map { [$0] } ?? []).map(Self.storedForward)
            for f in dead {
                try db.execute(sql: "UPDATE forward SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ?",
                               arguments: [Date().timeIntervalSince1970, f.id])
                _ = try Self.append(db, audit(f))
            }
            return dead.count
        }
    }

    public func inbox(recipient: String, after: Int64?, limit: Int) async throws -> (forwards: [StoredForward], cursor: Int64) {
        try await pool.read { db in
            let acknowledged = try Int64.fetchOne(db, sql: "SELECT acknowledged FROM inbox_cursor WHERE recipient = ?", arguments: [recipient]) ?? 0
            let from = after ?? acknowledged
            let rows = try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE recipient = ? AND id > ? AND state IN ('pending', 'delivered') ORDER BY id LIMIT ?",
                                        arguments: [recipient, from, limit]).map(Self.storedForward)
            return (rows, acknowledged)
        }
    }

    public func acknowledgeInbox(recipient: String, upTo requested: Int64, audit: @Sendable (StoredForward) -> AuditEntry) async throws -> InboxAcknowledgement {
        try await pool.write { db in
            let previous = try Int64.fetchOne(db, sql: "SELECT acknowledged FROM inbox_cursor WHERE recipient = ?", arguments: [recipient]) ?? 0
            // Ids are shared by all recipients and grow with every forward: a cursor past the newest
            // forward this recipient was offered would silently skip its next one. Dead forwards are
            // not offered (the inbox hides them) but may be retried, so they do not count.
            let newest = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM forward WHERE recipient = ? AND state != 'dead'", arguments: [recipient]) ?? 0
            let upTo = min(requested, newest)
            guard upTo > previous else { return InboxAcknowledgement(acknowledged: previous, delivered: 0) }
            try db.execute(sql: "INSERT INTO inbox_cursor (recipient, acknowledged) VALUES (?, ?) ON CONFLICT(recipient) DO UPDATE SET acknowledged = excluded.acknowledged",
                           arguments: [recipient, upTo])
            let pulled = try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE recipient = ? AND id > ? AND id <= ? AND state = 'pending'",
                                          arguments: [recipient, previous, upTo]).map(Self.storedForward)
            for f in pulled {
                try db.execute(sql: "UPDATE forward SET state = 'delivered', delivered_at = ? WHERE id = ?", arguments: [Date().timeIntervalSince1970, f.id])
                _ = try Self.append(db, audit(f))
            }
            return InboxAcknowledgement(acknowledged: upTo, delivered: pulled.count)
        }
    }

    public func outboxCounts() async throws -> OutboxCounts {
        try await pool.read { db in
            var counts = OutboxCounts(pending: 0, dead: 0, delivered: 0)
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM forward GROUP BY state") {
                switch row["state"] as String {
                case "pending": counts.pending = row["n"]
                case "dead": counts.dead = row["n"]
                case "delivered": counts.delivered = row["n"]
                case "held": counts.held = row["n"]
                default: break
                }
            }
            return counts
        }
    }

    public func heldForwards(recipient: String, limit: Int) async throws -> [StoredForward] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE recipient = ? AND state = 'held' ORDER BY id LIMIT ?",
                             arguments: [recipient, limit]).map(Self.storedForward)
        }
    }

    public func resolveHeld(publicID: String, recipient: String,
                            _ resolve: @Sendable (StoredForward, any ForwardLookup) throws -> HeldResolution) async throws -> HeldResolution? {
        try await pool.write { db in
            guard let held = try Row.fetchOne(db, sql: "SELECT \(Self.forwardColumns) FROM forward WHERE public_id = ? AND recipient = ? AND state = 'held'",
                                              arguments: [publicID, recipient]).map(Self.storedForward) else { return nil }
            let resolution = try resolve(held, SQLiteForwardLookup(db: db))
            guard resolution.state == .routed || resolution.state == .closed else { return resolution }
            let now = Date().timeIntervalSince1970
            try db.execute(sql: "UPDATE forward SET state = ?, delivered_at = ? WHERE id = ?", arguments: [resolution.state.rawValue, now, held.id])
            if let audit = resolution.audit { _ = try Self.append(db, audit) }
            if let replacement = resolution.replacement { try Self.enqueue(db, replacement, at: now) }
            return resolution
        }
    }
}
