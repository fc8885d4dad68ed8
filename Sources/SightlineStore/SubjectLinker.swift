import Foundation
import GRDB
import SightlineCore

/// Decides which subject (child) a new record belongs to, inside the submission's transaction.
///
/// - Strong keys (NHS number, UPN, NI number) join on their own.
/// - Name + date of birth joins only when the candidate has no strong identifier of the same
///   kind that differs from the record's (two children can share a name and birthday; they
///   cannot share an NHS number). Otherwise the name + date of birth key is marked ambiguous
///   and only name + date of birth + postcode district may join.
/// - A strong key whose subject has a different date of birth is a conflict: the record becomes
///   its own subject, and the pair is flagged as uncertain rather than merged blindly.
/// - A record whose keys reach several compatible subjects merges them into the oldest.
/// - Two subjects that each already hold a strong identifier are never merged automatically, even
///   when one record carries both (child A's NHS number and child B's UPN): that record is one
///   agency's claim, and one typo would otherwise join two children's histories for good. The
///   record joins the subject its strongest identifier reaches (NHS number, then UPN, then NI
///   number: the NHS number is the national identifier and the hardest to get wrong; a UPN is
///   issued, and sometimes re-issued, by schools), so it is not a phantom third child; every other
///   such subject is recorded as a conflict with it, so both are `uncertain` in reports until a
///   steward decides. Subjects without a strong identifier still merge into the survivor.
struct SubjectLinker {
    let db: Database
    let time: Double

    struct Decision {
        var subject: Int64
        /// The key basis that joined the record to an existing subject, or "new".
        var linkedBy: String
        var merges: [SubjectMerge] = []
        var conflicts: [SubjectConflict] = []
    }

    func link(_ record: PseudonymisedRecord) throws -> Decision {
        let find = try db.cachedStatement(sql: "SELECT subject_id FROM linkage_key WHERE digest = ?")
        let isAmbiguous = try db.cachedStatement(sql: "SELECT 1 FROM ambiguous_key WHERE digest = ?")
        var candidates: [(subject: Int64, basis: LinkageKey.Basis)] = []
        var conflicts: [SubjectConflict] = []
        var ambiguousNow: [LinkageKey] = []
        for key in record.linkageKeys {
            if !key.basis.isStrong, try Bool.fetchOne(isAmbiguous, arguments: [key.digest]) == true { continue }
            guard let subject = try Int64.fetchOne(find, arguments: [key.digest]) else { continue }
            if candidates.contains(where: { $0.subject == subject }) { continue }
            if key.basis.isStrong {
                if let dob = record.birthDateKey, try hasOtherBirthDate(subject, dob) {
                    conflicts.append(SubjectConflict(subjectA: subject, subjectB: 0, reason: "\(key.basis.rawValue)-matches-different-date-of-birth"))
                    continue
                }
            } else if try hasDifferentStrongIdentifier(subject, than: record.linkageKeys) {
                ambiguousNow.append(key)
                continue
            }
            candidates.append((subject, key.basis))
        }
        for key in ambiguousNow {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO ambiguous_key (digest, basis, marked_at) VALUES (?, ?, ?)")
                .execute(arguments: [key.digest, key.basis.rawValue, time])
        }

        var decision: Decision
        var identified: [(subject: Int64, basis: LinkageKey.Basis)] = []
        if candidates.count > 1 {
            for c in candidates where try holdsStrongIdentifier(c.subject) { identified.append(c) }
        }
        if identified.count > 1 {
            let joined = identified.min { (Self.strength($0.basis), $0.subject) < (Self.strength($1.basis), $1.subject) }!
            decision = Decision(subject: joined.subject, linkedBy: joined.basis.rawValue)
            for other in identified where other.subject != joined.subject {
                let pair = SubjectConflict(subjectA: min(joined.subject, other.subject), subjectB: max(joined.subject, other.subject),
                                           reason: "record-names-two-identified-subjects")
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO subject_conflict (subject_a, subject_b, reason, found_at) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [pair.subjectA, pair.subjectB, pair.reason, time])
                decision.conflicts.append(pair)
            }
            let identifiedSubjects = Set(identified.map(\.subject))
            for other in candidates where !identifiedSubjects.contains(other.subject) {
                try merge(other.subject, into: joined.subject)
                decision.merges.append(SubjectMerge(from: other.subject, into: joined.subject, basis: other.basis.rawValue))
            }
        } else if let survivor = candidates.min(by: { $0.subject < $1.subject }) {
            decision = Decision(subject: survivor.subject, linkedBy: survivor.basis.rawValue)
            for other in candidates where other.subject != survivor.subject {
                try merge(other.subject, into: survivor.subject)
                decision.merges.append(SubjectMerge(from: other.subject, into: survivor.subject, basis: other.basis.rawValue))
            }
        } else {
            try db.cachedStatement(sql: "INSERT INTO subject (created_at) VALUES (?)").execute(arguments: [time])
            decision = Decision(subject: db.lastInsertedRowID, linkedBy: "new")
        }
        for var conflict in conflicts {
            conflict.subjectB = decision.subject
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO subject_conflict (subject_a, subject_b, reason, found_at) VALUES (?, ?, ?, ?)")
                .execute(arguments: [conflict.subjectA, conflict.subjectB, conflict.reason, time])
            decision.conflicts.append(conflict)
        }
        // Keys the subject did not have yet are added, so later records link through any of them;
        // a key that already names another (conflicting) subject keeps pointing there.
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO linkage_key (digest, basis, subject_id) VALUES (?, ?, ?)")
        for key in record.linkageKeys { try insert.execute(arguments: [key.digest, key.basis.rawValue, decision.subject]) }
        return decision
    }

    /// NHS number first: the order in which a record's identifiers choose the subject it joins.
    static func strength(_ basis: LinkageKey.Basis) -> Int {
        switch basis {
        case .nhsNumber: 0
        case .upn: 1
        case .niNumber: 2
        case .nameBirthDateAndDistrict: 3
        case .nameAndBirthDate: 4
        }
    }

    /// Does the subject already hold an NHS number, UPN or NI number?
    func holdsStrongIdentifier(_ subject: Int64) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM linkage_key WHERE subject_id = ? AND basis IN ('nhs', 'upn', 'ni') LIMIT 1"),
                          arguments: [subject]) == true
    }

    func hasOtherBirthDate(_ subject: Int64, _ dob: Data) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM record WHERE subject_id = ? AND dob_key IS NOT NULL AND dob_key != ? LIMIT 1"),
                          arguments: [subject, dob]) == true
    }

    /// Does `subject` hold an NHS number / UPN / NI number that differs from the record's one of the same kind?
    func hasDifferentStrongIdentifier(_ subject: Int64, than keys: [LinkageKey]) throws -> Bool {
        let strong = keys.filter(\.basis.isStrong)
        guard !strong.isEmpty else { return false }
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT basis, digest FROM linkage_key WHERE subject_id = ? AND basis IN ('nhs', 'upn', 'ni')"),
                                    arguments: [subject])
        for key in strong {
            let same = rows.filter { ($0["basis"] as String) == key.basis.rawValue }
            if !same.isEmpty && !same.contains(where: { ($0["digest"] as Data) == key.digest }) { return true }
        }
        return false
    }

    /// Moves everything of `from` to `into`. Pseudonyms already issued for `from` keep resolving,
    /// now to `into`.
    func merge(_ from: Int64, into: Int64) throws {
        for sql in ["UPDATE record SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE linkage_key SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE issued_pseudonym SET subject_id = ? WHERE subject_id = ?",
                    "UPDATE subject_conflict SET subject_a = ? WHERE subject_a = ?",
                    "UPDATE subject_conflict SET subject_b = ? WHERE subject_b = ?"] {
            try db.cachedStatement(sql: sql).execute(arguments: [into, from])
        }
        try db.cachedStatement(sql: "DELETE FROM subject_conflict WHERE subject_a = subject_b").execute()
        try db.cachedStatement(sql: "INSERT INTO subject_merge (from_subject, into_subject, merged_at) VALUES (?, ?, ?)")
            .execute(arguments: [from, into, time])
        try db.cachedStatement(sql: "DELETE FROM subject WHERE id = ?").execute(arguments: [from])
    }
}

public struct SubjectMerge: Sendable, Codable, Equatable {
    public let from: Int64
    public let into: Int64
    public let basis: String
}

public struct SubjectConflict: Sendable, Codable, Equatable {
    public var subjectA: Int64
    public var subjectB: Int64
    public let reason: String
}
