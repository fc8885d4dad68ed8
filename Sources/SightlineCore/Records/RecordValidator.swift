import Foundation

/// Checks one decoded record against its kind's schema and the identifier rules.
///
/// Returns the first problem found for a record (with its field path), so an agency can fix the
/// row; other records are unaffected.
public struct RecordValidator: Sendable {
    /// "Now", injected so that "not in the future" checks are testable.
    public var now: Date
    /// Lengths are limits in UTF-8 bytes, never in characters: one character followed by a
    /// million combining accents is one character.
    public static let maxLocalRefLength = 64
    public static let maxNameLength = 100
    static let topLevelKeys: Set<String> = ["kind", "localRef", "observedAt", "identifiers", "fields"]
    public static let identifierNames: Set<String> = ["nhsNumber", "upn", "niNumber", "givenName", "familyName", "dateOfBirth", "postcode",
                                                      "address", "uprn"]
    public static let maxAddressLength = 200
    static var identifierKeys: Set<String> { identifierNames }

    public init(now: Date = Date()) { self.now = now }

    public func validate(_ value: JSONValue, line: Int) -> Result<ValidatedRecord, RecordRejection> {
        guard case .object(let object) = value else {
            return .failure(.init(line: line, field: "", reason: "a record must be a JSON object, found \(value.typeName)"))
        }
        let localRef = object["localRef"]?.stringValue
        // Echoed in the receipt only when it is a plausible reference of the agency's own.
        let safeRef = localRef.flatMap { Self.localRefProblem($0) == nil ? $0 : nil }
        func reject(_ field: String, _ reason: String) -> Result<ValidatedRecord, RecordRejection> {
            .failure(.init(line: line, field: field, reason: reason, localRef: safeRef))
        }
        // Unknown keys are counted, never named: a key is text the client chose, and a key named
        // "9434765919" must not reach the receipt, the logs or the append-only audit log.
        let unknownTop = object.keys.filter { !Self.topLevelKeys.contains($0) }.count
        if unknownTop > 0 {
            return reject("", Self.unknownKeys(unknownTop, "top-level key", expected: ["kind", "localRef", "observedAt", "identifiers", "fields"]))
        }
        guard let kindText = object["kind"]?.stringValue else { return reject("kind", "missing or not a string") }
        guard let kind = RecordKind(rawValue: kindText) else {
            return reject("kind", "unknown record kind; expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let localRef, !localRef.isEmpty else { return reject("localRef", "missing or not a string") }
        if let problem = Self.localRefProblem(localRef) { return reject("localRef", problem) }
        guard let observedText = object["observedAt"]?.stringValue else { return reject("observedAt", "missing or not a string") }
        guard let observedAt = Instant.parse(observedText) else { return reject("observedAt", "not an ISO 8601 date-time with a time zone, e.g. 2026-09-08T08:30:00Z") }
        guard observedAt <= now.addingTimeInterval(86_400) else { return reject("observedAt", "more than a day in the future") }

        guard case .object(let rawIdentifiers)? = object["identifiers"] else { return reject("identifiers", "missing or not an object") }
        let identifiers: SubjectIdentifiers
        switch validateIdentifiers(rawIdentifiers) {
        case .success(let ids): identifiers = ids
        case .failure(let problem): return reject(problem.field.isEmpty ? "identifiers" : "identifiers." + problem.field, problem.reason)
        }

        let rawFields: [String: JSONValue]
        switch object["fields"] {
        case .object(let f)?: rawFields = f
        case nil, .null?: rawFields = [:]
        case let other?: return reject("fields", "must be an object, found \(other.typeName)")
        }
        switch validateFields(rawFields, schema: kind.schema) {
        case .success(let fields):
            return .success(ValidatedRecord(kind: kind, localRef: localRef, observedAt: observedAt, identifiers: identifiers, fields: fields))
        case .failure(let problem):
            return reject(problem.field.isEmpty ? "fields" : "fields." + problem.field, problem.reason)
        }
    }

    public struct Problem: Error, Sendable { public let field: String; public let reason: String }

    public func validateIdentifiers(_ raw: [String: JSONValue]) -> Result<SubjectIdentifiers, Problem> {
        let unknown = raw.keys.filter { !Self.identifierKeys.contains($0) }.count
        if unknown > 0 {
            return .failure(Problem(field: "", reason: Self.unknownKeys(unknown, "identifier", expected: Self.identifierKeys.sorted())))
        }
        var ids = SubjectIdentifiers()
        func text(_ key: String) -> Result<String?, Problem> {
            switch raw[key] {
            case nil, .null?: return .success(nil)
            case .string(let s)?:
                let trimmed = s.trimmingCharacters(in: .whitespaces)
                return .success(trimmed.isEmpty ? nil : trimmed)
            case let other?: return .failure(Problem(field: key, reason: "must be a string, found \(other.typeName)"))
            }
        }
        do {
            if let s = try text("nhsNumber").get() {
                guard let n = NHSNumber(s) else { return .failure(Problem(field: "nhsNumber", reason: "not a valid NHS number: 10 digits with a modulus-11 check digit")) }
                ids.nhsNumber = n
            }
            if let s = try text("upn").get() {
                guard let u = UPN(s) else { return .failure(Problem(field: "upn", reason: "not a valid UPN: 13 characters whose check letter matches")) }
                ids.upn = u
            }
            if let s = try text("niNumber").get() {
                guard let n = NINumber(s) else { return .failure(Problem(field: "niNumber", reason: "not a valid National Insurance number")) }
                ids.niNumber = n
            }
            for key in ["givenName", "familyName"] {
                guard let s = try text(key).get() else { continue }
                guard s.utf8.count <= Self.maxNameLength else { return .failure(Problem(field: key, reason: "longer than \(Self.maxNameLength) bytes of UTF-8")) }
                let n = NameNormaliser.normalise(s)
                guard !n.isEmpty else { return .failure(Problem(field: key, reason: "contains no letters")) }
                let parts = s.split { $0 == " " || $0 == "-" }.map { NameNormaliser.normalise(String($0)) }.filter { !$0.isEmpty }
                if key == "givenName" { ids.givenName = n; ids.givenNameParts = parts } else { ids.familyName = n; ids.familyNameParts = parts }
            }
            if let s = try text("dateOfBirth").get() {
                guard let d = CivilDate(iso: s) else { return .failure(Problem(field: "dateOfBirth", reason: "not a date in the form YYYY-MM-DD")) }
                let today = CivilDate(now)
                guard d <= today else { return .failure(Problem(field: "dateOfBirth", reason: "is in the future")) }
                guard d.years(until: today) <= 25 else { return .failure(Problem(field: "dateOfBirth", reason: "more than 25 years ago; Sightline holds records of children and young people")) }
                ids.dateOfBirth = d
            }
            if let s = try text("postcode").get() {
                guard let p = Postcode(s) else { return .failure(Problem(field: "postcode", reason: "not a UK postcode such as SW1A 1AA")) }
                ids.postcode = p
            }
            if let s = try text("address").get() {
                guard s.utf8.count <= Self.maxAddressLength else { return .failure(Problem(field: "address", reason: "longer than \(Self.maxAddressLength) bytes of UTF-8")) }
                guard s.contains(where: \.isLetter) else { return .failure(Problem(field: "address", reason: "the first line of an address has a street or house name")) }
                ids.address = s
            }
            switch raw["uprn"] {
            case nil, .null?: break
            case .string(let s)?:
                guard let u = Self.uprn(s) else { return .failure(Problem(field: "uprn", reason: "not a UPRN: 1 to 12 digits")) }
                ids.uprn = u
            case .number(let n)?:
                guard n >= 1, n < 1e12, n == n.rounded(), let u = Self.uprn(String(Int64(n))) else { return .failure(Problem(field: "uprn", reason: "not a UPRN: 1 to 12 digits")) }
                ids.uprn = u
            case let other?: return .failure(Problem(field: "uprn", reason: "must be a string of digits, found \(other.typeName)"))
            }
        } catch {
            return .failure(error)
        }
        guard ids.acceptedCombination != nil else {
            return .failure(Problem(field: "", reason: "cannot identify a child: needs nhsNumber or upn; or familyName + dateOfBirth with givenName, postcode, address or uprn; or givenName + dateOfBirth or givenName + familyName, with postcode, address or uprn"))
        }
        return .success(ids)
    }

    func validateFields(_ raw: [String: JSONValue], schema: RecordSchema) -> Result<[String: JSONValue], Problem> {
        var out: [String: JSONValue] = [:]
        for (name, value) in raw {
            if case .null = value { continue }
            guard let spec = schema.field(name) else {
                let unknown = raw.keys.filter { schema.field($0) == nil }.count
                return .failure(Problem(field: "", reason: Self.unknownKeys(unknown, "field", expected: schema.fieldNames) + " for this kind"))
            }
            if let reason = Self.typeProblem(value, spec.type, now: now) {
                return .failure(Problem(field: name, reason: reason))
            }
            out[name] = Self.canonical(value, spec.type)
        }
        for spec in schema.fields where spec.required && out[spec.name] == nil {
            return .failure(Problem(field: spec.name, reason: "required"))
        }
        for check in schema.checks {
            switch check {
            case .notBefore(let later, let earlier):
                if let a = out[later]?.stringValue.flatMap(CivilDate.init(iso:)),
                   let b = out[earlier]?.stringValue.flatMap(CivilDate.init(iso:)), a < b {
                    return .failure(Problem(field: later, reason: "is before \(earlier)"))
                }
            case .atMost(let small, let big):
                if case .number(let a)? = out[small], case .number(let b)? = out[big], a > b {
                    return .failure(Problem(field: small, reason: "is greater than \(big)"))
                }
            case .requiresWith(let field, let other):
                if out[field] != nil && out[other] == nil {
                    return .failure(Problem(field: field, reason: "given without \(other)"))
                }
            }
        }
        return .success(out)
    }

    static func typeProblem(_ value: JSONValue, _ type: FieldSpec.FieldType, now: Date) -> String? {
        switch (type, value) {
        case (.date, .string(let s)):
            guard let d = CivilDate(iso: s) else { return "not a date in the form YYYY-MM-DD" }
            return d.year < 1990 || d > CivilDate(now.addingTimeInterval(366 * 86_400)) ? "date out of range" : nil
        case (.instant, .string(let s)):
            return Instant.parse(s) == nil ? "not an ISO 8601 date-time with a time zone" : nil
        case (.boolean, .bool):
            return nil
        case (.integer(let range), .number(let n)):
            guard n == n.rounded(), let i = Int(exactly: n) else { return "must be a whole number" }
            return range.contains(i) ? nil : "must be between \(range.lowerBound) and \(range.upperBound)"
        case (.oneOf(let allowed), .string(let s)):
            return allowed.contains(s) ? nil : "must be one of \(allowed.joined(separator: ", "))"
        case (.odsPracticeCode, .string(let s)):
            return isODSPracticeCode(s) ? nil : "must be a GP practice ODS code: one letter and five digits, such as Y01045"
        case (.date, _), (.instant, _), (.oneOf, _), (.odsPracticeCode, _):
            return "must be a string, found \(value.typeName)"
        case (.boolean, _):
            return "must be true or false, found \(value.typeName)"
        case (.integer, _):
            return "must be a whole number, found \(value.typeName)"
        }
    }

    /// One stored form per value: instants in UTC "Z" form, organisation codes upper case.
    static func canonical(_ value: JSONValue, _ type: FieldSpec.FieldType) -> JSONValue {
        switch (type, value) {
        case (.instant, .string(let s)): return Instant.parse(s).map { .string(Instant.format($0)) } ?? value
        case (.odsPracticeCode, .string(let s)): return .string(s.uppercased())
        default: return value
        }
    }

    /// "2 unknown identifiers; expected one of ...": a count, never the keys' text.
    static func unknownKeys(_ count: Int, _ what: String, expected: [String]) -> String {
        "\(count) unknown \(what)\(count == 1 ? "" : "s") (not named: keys are not echoed); expected \(expected.joined(separator: ", "))"
    }

    /// Why a localRef cannot be kept, or nil. It is the agency's own reference for its record:
    /// bounded, printable, and never the child's NHS number or UPN (those are identifiers, which
    /// are pseudonymised; a reference is sealed and handed back to the agency as it was).
    public static func localRefProblem(_ ref: String) -> String? {
        guard ref.utf8.count <= maxLocalRefLength else { return "longer than \(maxLocalRefLength) bytes of UTF-8" }
        guard ref.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }) else {
            return "contains a control character"
        }
        if looksLikeStrongIdentifier(ref) {
            return "is an NHS number or UPN; use the agency's own reference (admission number, case number), identifiers go in identifiers"
        }
        return nil
    }

    /// A valid NHS number or UPN, however spaced: refused wherever an identifier does not belong.
    public static func looksLikeStrongIdentifier(_ text: String) -> Bool {
        guard text.utf8.count <= 32 else { return false }
        let compact = String(text.unicodeScalars.filter { $0 != " " && $0 != "-" })
        return NHSNumber(compact) != nil || UPN(compact.uppercased()) != nil
    }

    /// A GP practice's ODS code: one letter and five digits (A81001, Y12345).
    static func isODSPracticeCode(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 6 else { return false }
        let first = u[0] | 0x20
        return first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z") && u[1...].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// "000012345678" -> "12345678": digits only, 1-12 of them, not all zeros.
    static func uprn(_ text: String) -> String? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard (1...12).contains(t.utf8.count), t.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let stripped = String(t.drop { $0 == "0" })
        return stripped.isEmpty ? nil : stripped
    }
}
