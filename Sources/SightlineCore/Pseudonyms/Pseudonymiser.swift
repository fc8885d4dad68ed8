import Crypto
import Foundation

/// Turns validated records into their pseudonymised form: linkage keys, coarse attributes and
/// the fields that survive ingress minimisation. Raw identifiers go no further than this type.
public struct Pseudonymiser: Sendable {
    // HMAC with the key already absorbed: copying the prepared state costs nothing per record,
    // instead of re-deriving the inner and outer pads for every identifier.
    private let linkHMAC: PreparedHMAC
    private let recipientHMAC: PreparedHMAC
    public let linkKeyID: String
    /// Keyed comparison material and blocking keys for probabilistic linkage.
    public let comparison: ComparisonKeyer

    public init(keys: KeyMaterial) {
        comparison = ComparisonKeyer(linkKey: keys.linkKey)
        linkHMAC = PreparedHMAC(key: keys.linkKey)
        recipientHMAC = PreparedHMAC(key: keys.recipientKey)
        linkKeyID = keys.linkKeyID
    }

    func mac(_ base: PreparedHMAC, domain: String, _ value: String) -> Data {
        var h = base.prefixed(domain, separator: 0)
        h.update(value)
        return h.code()
    }

    public func linkageKey(_ basis: LinkageKey.Basis, _ normalisedValue: String) -> LinkageKey {
        LinkageKey(basis: basis, digest: mac(linkHMAC, domain: basis.rawValue, normalisedValue))
    }

    /// Every linkage key the identifiers support, strongest first.
    public func linkageKeys(for ids: SubjectIdentifiers) -> [LinkageKey] {
        var keys: [LinkageKey] = []
        if let n = ids.nhsNumber { keys.append(linkageKey(.nhsNumber, n.digits)) }
        if let u = ids.upn { keys.append(linkageKey(.upn, u.value)) }
        if let n = ids.niNumber { keys.append(linkageKey(.niNumber, n.value)) }
        return keys
    }

    /// A keyed digest of a source's own reference for a record (to recognise a resubmitted row).
    public func referenceKey(source: ParticipantIdentity, localRef: String) -> Data {
        mac(linkHMAC, domain: "ref", "\(source.shortName)|\(localRef)")
    }

    /// What a recipient sees: HMAC(recipient key, subject id || recipient). Two recipients see
    /// different pseudonyms for one child and cannot join their data outside the gateway.
    public func recipientPseudonym(subjectID: Int64, recipient: ParticipantIdentity) -> String {
        let d = mac(recipientHMAC, domain: "recipient", "\(subjectID)|\(recipient.shortName)")
        return "ps_" + d.prefix(16).hexString
    }

    public func pseudonymise(_ record: ValidatedRecord, source: ParticipantIdentity, keptFields: Set<String>) -> PseudonymisedRecord {
        let ids = record.identifiers
        var fields: [String: JSONValue] = [:]
        var dropped: [String] = []
        for (name, value) in record.fields {
            if keptFields.contains(name) { fields[name] = value } else { dropped.append(name) }
        }
        let derived = comparison.derive(ids)
        return PseudonymisedRecord(
            kind: record.kind,
            referenceKey: referenceKey(source: source, localRef: record.localRef),
            observedAt: record.observedAt,
            linkageKeys: linkageKeys(for: ids),
            birthYearMonth: ids.dateOfBirth?.yearMonth,
            birthDateKey: ids.dateOfBirth.map { mac(linkHMAC, domain: "dob", $0.description) },
            postcodeDistrict: ids.postcode?.district,
            fields: fields,
            droppedFields: dropped.sorted(),
            material: derived.material,
            blockingKeys: derived.stored.map(\.digest), candidateKeys: derived.query.map(\.digest))
    }
}

/// A record as it may be stored: no identifier values, only keys and coarse attributes.
public struct PseudonymisedRecord: Sendable {
    public init(kind: RecordKind, referenceKey: Data, observedAt: Date, linkageKeys: [LinkageKey], birthYearMonth: String?,
                birthDateKey: Data?, postcodeDistrict: String?, fields: [String: JSONValue], droppedFields: [String],
                material: ComparisonMaterial = .init(), blockingKeys: [Data] = [], candidateKeys: [Data]? = nil) {
        self.kind = kind; self.referenceKey = referenceKey; self.observedAt = observedAt; self.linkageKeys = linkageKeys
        self.birthYearMonth = birthYearMonth; self.birthDateKey = birthDateKey; self.postcodeDistrict = postcodeDistrict
        self.fields = fields; self.droppedFields = droppedFields; self.material = material; self.blockingKeys = blockingKeys
        self.candidateKeys = candidateKeys ?? blockingKeys
    }

    public let kind: RecordKind
    public let referenceKey: Data
    public let observedAt: Date
    public let linkageKeys: [LinkageKey]
    /// "2014-03": year and month of birth.
    public let birthYearMonth: String?
    /// Keyed digest of the full date of birth: lets linkage notice "same UPN, different date of
    /// birth" without storing the date. Never used to join records on its own.
    public let birthDateKey: Data?
    /// "NW6": postcode district.
    public let postcodeDistrict: String?
    public let fields: [String: JSONValue]
    /// Field names removed at ingress because no purpose uses them.
    public let droppedFields: [String]
    /// The source's own reference, sealed (AES-GCM): opened only where a forward must name the
    /// child in the source's terms (a school's admission number for Operation Encompass) and for
    /// the LA's steward, who asks an agency about its own record when a link is in doubt.
    public var sealedReference: Data? = nil
    /// Keyed comparison material (in memory) and its sealed form (at rest).
    public let material: ComparisonMaterial
    public var sealedMaterial: Data? = nil
    /// `fields` as canonical JSON, made off the writer's thread (the ingest plan) when it can be.
    public var encodedFields: String? = nil
    /// Keyed blocking keys: how later records find this one's subject as a candidate.
    public let blockingKeys: [Data]
    /// The keys to find candidates with: `blockingKeys` and those of the date with day and month exchanged.
    public let candidateKeys: [Data]
}
