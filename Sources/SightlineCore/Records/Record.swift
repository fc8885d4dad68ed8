import Foundation

/// A record that passed its kind's schema and the identifier checks. Holds raw identifiers only
/// in memory, on the way to pseudonymisation; it is never stored or logged as it is.
public struct ValidatedRecord: Sendable {
    public let kind: RecordKind
    public let localRef: String
    public let observedAt: Date
    public let identifiers: SubjectIdentifiers
    public let fields: [String: JSONValue]
}

/// Validated, normalised identifiers of the child a record is about.
public struct SubjectIdentifiers: Sendable {
    public var nhsNumber: NHSNumber?
    public var upn: UPN?
    public var niNumber: NINumber?
    /// Normalised (folded) names; see `NameNormaliser`.
    public var givenName: String?
    public var familyName: String?
    public var dateOfBirth: CivilDate?
    public var postcode: Postcode?
    /// First line of the address (house number or name, street), as given; compared in keyed form only.
    public var address: String?
    /// Unique Property Reference Number, 1-12 digits, without leading zeros.
    public var uprn: String?
    /// Each part of a multi-part name, normalised ("Okonkwo-Marsh": okonkwo, marsh).
    public var givenNameParts: [String] = []
    public var familyNameParts: [String] = []

    public init() {}

    public var hasNameAndBirthDate: Bool { givenName != nil && familyName != nil && dateOfBirth != nil }

    /// The combinations of identifiers a record may carry, strongest first. A record with none of
    /// them could never be linked to a child with confidence, and is refused:
    /// - an NHS number or a UPN: each names one child;
    /// - family name and date of birth, with a given name, postcode, address or UPRN: enough to
    ///   score against candidates (a record without a given name links only when the rest agrees);
    /// - given name and date of birth with a postcode, address or UPRN, without a family name
    ///   (a record that lost its surname): links only when the rest agrees;
    /// - given and family name with a postcode, address or UPRN, without a date of birth: links
    ///   only on a place that agrees, and weighs less.
    public var acceptedCombination: String? {
        if nhsNumber != nil { return "nhs" }
        if upn != nil { return "upn" }
        let place = postcode != nil || address != nil || uprn != nil
        if familyName != nil && dateOfBirth != nil && (givenName != nil || place) { return "family+dob" }
        if givenName != nil && dateOfBirth != nil && place { return "given+dob+place" }
        if givenName != nil && familyName != nil && place { return "names+place" }
        return nil
    }
}

/// Why a record (or one of its fields) was refused. Never carries the offending value: a value
/// may be an identifier, and errors end up in logs and receipts.
public struct RecordRejection: Error, Codable, Sendable, Equatable {
    /// 1-based line of NDJSON, or 1-based position in a JSON array.
    public var line: Int
    /// Dotted path of the field at fault, e.g. "identifiers.nhsNumber"; "" for the whole record.
    public var field: String
    public var reason: String
    /// The record's `localRef` when it could be read (the agency's own reference, to find the row).
    public var localRef: String?

    public init(line: Int, field: String, reason: String, localRef: String? = nil) {
        self.line = line; self.field = field; self.reason = reason; self.localRef = localRef
    }
}
