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
    public let recipientKeyID: String
    /// Once the recipient key has been rotated, a child a recipient already knows keeps the
    /// pseudonym it was given (`stablePseudonym`); only children new to it get the new key's.
    public let recipientKeyRotated: Bool
    /// Keyed comparison material and blocking keys for probabilistic linkage, under the first
    /// link key; `chain` wraps what it derives (`LinkKeyChain`).
    public let comparison: ComparisonKeyer
    /// The link keys: the first keys identifiers, each later one wraps.
    public let chain: LinkKeyChain
    /// While the gateway still holds subjects in the form before the last link rotation, every
    /// lookup asks for both forms (`LookupKeys.legacy`).
    public let lookUpLegacyForms: Bool

    public init(keys: KeyMaterial, lookUpLegacyForms: Bool = false) {
        chain = LinkKeyChain(keys.linkChain)
        comparison = ComparisonKeyer(linkKey: chain.root.key)
        linkHMAC = PreparedHMAC(key: chain.root.key)
        recipientHMAC = PreparedHMAC(key: keys.recipientKey)
        linkKeyID = keys.linkKeyID
        recipientKeyID = keys.recipientKeyID
        recipientKeyRotated = !keys.history.recipient.isEmpty
        self.lookUpLegacyForms = lookUpLegacyForms && chain.generation > 0
    }

    func mac(_ base: PreparedHMAC, domain: String, _ value: String) -> Data {
        var h = base.prefixed(domain, separator: 0)
        h.update(value)
        return h.code()
    }

    /// A link-keyed digest: under the first key, wrapped by each later one.
    func linkMAC(domain: String, _ value: String) -> Data { chain.wrap(mac(linkHMAC, domain: domain, value)) }

    public func linkageKey(_ basis: LinkageKey.Basis, _ normalisedValue: String) -> LinkageKey {
        LinkageKey(basis: basis, digest: linkMAC(domain: basis.rawValue, normalisedValue))
    }

    /// What a lookup by identifiers (a match, an erasure, a subject access) asks the store for:
    /// comparison material and keys in the current form and, during a link key migration, the
    /// keys in the form before it as well.
    public struct LookupKeys: Sendable {
        public let material: ComparisonMaterial
        public let linkageKeys: [LinkageKey]
        public let candidateKeys: [Data]
        /// The same keys in the form before the last rotation; empty unless a migration runs.
        public let legacyLinkageKeys: [LinkageKey]
        public let legacyCandidateKeys: [Data]
        public var allLinkageKeys: [LinkageKey] { linkageKeys + legacyLinkageKeys }
        public var allStrongDigests: [Data] { allLinkageKeys.filter(\.basis.isStrong).map(\.digest) }
        public var allCandidateKeys: [Data] { candidateKeys + legacyCandidateKeys }
    }

    public func lookupKeys(for ids: SubjectIdentifiers) -> LookupKeys {
        let base = baseLinkageKeys(for: ids)
        let derived = comparison.derive(ids)
        let baseCandidates = derived.query.map(\.digest)
        let legacy = lookUpLegacyForms ? chain.previous : nil
        return LookupKeys(
            material: chain.wrap(derived.material),
            linkageKeys: base.map { LinkageKey(basis: $0.basis, digest: chain.wrap($0.digest)) },
            candidateKeys: baseCandidates.map(chain.wrap),
            legacyLinkageKeys: legacy.map { l in base.map { LinkageKey(basis: $0.basis, digest: l.wrap($0.digest)) } } ?? [],
            legacyCandidateKeys: legacy.map { l in baseCandidates.map(l.wrap) } ?? [])
    }

    func baseLinkageKeys(for ids: SubjectIdentifiers) -> [LinkageKey] {
        var keys: [LinkageKey] = []
        if let n = ids.nhsNumber { keys.append(LinkageKey(basis: .nhsNumber, digest: mac(linkHMAC, domain: LinkageKey.Basis.nhsNumber.rawValue, n.digits))) }
        if let u = ids.upn { keys.append(LinkageKey(basis: .upn, digest: mac(linkHMAC, domain: LinkageKey.Basis.upn.rawValue, u.value))) }
        if let n = ids.niNumber { keys.append(LinkageKey(basis: .niNumber, digest: mac(linkHMAC, domain: LinkageKey.Basis.niNumber.rawValue, n.value))) }
        return keys
    }

    /// Every linkage key the identifiers support, strongest first.
    public func linkageKeys(for ids: SubjectIdentifiers) -> [LinkageKey] {
        baseLinkageKeys(for: ids).map { LinkageKey(basis: $0.basis, digest: chain.wrap($0.digest)) }
    }

    /// A keyed digest of a source's own reference for a record (to recognise a resubmitted row).
    public func referenceKey(source: ParticipantIdentity, localRef: String) -> Data {
        linkMAC(domain: "ref", "\(source.shortName)|\(localRef)")
    }

    /// What a recipient sees: HMAC(recipient key, subject id || recipient). Two recipients see
    /// different pseudonyms for one child and cannot join their data outside the gateway.
    public func recipientPseudonym(subjectID: Int64, recipient: ParticipantIdentity) -> String {
        let d = mac(recipientHMAC, domain: "recipient", "\(subjectID)|\(recipient.shortName)")
        return "ps_" + d.prefix(16).hexString
    }

    /// The pseudonym `recipient` sees for a subject, given those already issued to it for that
    /// subject (oldest first): the current key's if it was issued or nothing was; otherwise the
    /// latest issued under an earlier key, so that a recipient key rotation changes nothing a
    /// partner holds. Before any rotation it is always the current key's, as it always was.
    public func stablePseudonym(subjectID: Int64, recipient: ParticipantIdentity, issued: [String]) -> String {
        let current = recipientPseudonym(subjectID: subjectID, recipient: recipient)
        guard recipientKeyRotated, !issued.contains(current), let latest = issued.last else { return current }
        return latest
    }

    public func pseudonymise(_ record: ValidatedRecord, source: ParticipantIdentity, keptFields: Set<String>) -> PseudonymisedRecord {
        let ids = record.identifiers
        var fields: [String: JSONValue] = [:]
        var dropped: [String] = []
        for (name, value) in record.fields {
            if keptFields.contains(name) { fields[name] = value } else { dropped.append(name) }
        }
        let derived = comparison.derive(ids)
        let base = baseLinkageKeys(for: ids)
        let baseReference = mac(linkHMAC, domain: "ref", "\(source.shortName)|\(record.localRef)")
        var out = PseudonymisedRecord(
            kind: record.kind,
            referenceKey: chain.wrap(baseReference),
            observedAt: record.observedAt,
            linkageKeys: base.map { LinkageKey(basis: $0.basis, digest: chain.wrap($0.digest)) },
            birthYearMonth: ids.dateOfBirth?.yearMonth,
            birthDateKey: ids.dateOfBirth.map { linkMAC(domain: "dob", $0.description) },
            postcodeDistrict: ids.postcode?.district,
            fields: fields,
            droppedFields: dropped.sorted(),
            material: chain.wrap(derived.material),
            blockingKeys: derived.stored.map { chain.wrap($0.digest) }, candidateKeys: derived.query.map { chain.wrap($0.digest) })
        out.linkGeneration = chain.generation
        if lookUpLegacyForms, let legacy = chain.previous {
            out.legacy = PseudonymisedRecord.LegacyForms(
                strongKeys: base.filter(\.basis.isStrong).map { legacy.wrap($0.digest) },
                candidateKeys: derived.query.map { legacy.wrap($0.digest) },
                referenceKey: legacy.wrap(baseReference))
        }
        return out
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
    /// The link key generation these keys were made under (`LinkKeyChain.generation`): the store
    /// refuses to commit keys of a generation that is no longer current.
    public var linkGeneration = 0
    /// During a link key migration: the same keys in the form before the last rotation, to find
    /// subjects not yet migrated.
    public struct LegacyForms: Sendable {
        public let strongKeys: [Data]
        public let candidateKeys: [Data]
        public let referenceKey: Data
    }
    public var legacy: LegacyForms? = nil
}
