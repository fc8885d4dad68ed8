import Foundation

/// One stored record of a candidate subject, as linkage sees it: keyed material only.
public struct CandidateRecord: Sendable {
    public let subject: Int64
    public let source: String
    public let kind: RecordKind
    public let referenceKey: Data
    public let material: ComparisonMaterial
    public init(subject: Int64, source: String, kind: RecordKind, referenceKey: Data, material: ComparisonMaterial) {
        self.subject = subject; self.source = source; self.kind = kind; self.referenceKey = referenceKey; self.material = material
    }
}

/// A record pair's agreement, field by field, and its total weight.
public struct LinkScore: Sendable, Equatable {
    public var total: Double
    public var levels: [ComparisonField: ComparisonLevel]
    /// "given=exact,family=close,dob=exact,postcode=sector" (fields both records have).
    public var explanation: String {
        ComparisonField.allCases.compactMap { f in levels[f].flatMap { $0 == .missing ? nil : "\(f.short)=\($0.rawValue)" } }
            .joined(separator: ",")
    }
    public static let strong = LinkScore(total: .infinity, levels: [:])
}

/// A pair that waits for a steward: the new record's subject and a candidate.
public struct ReviewPair: Sendable, Equatable {
    public let candidate: Int64
    public let score: LinkScore
    public let reason: String
}

/// Which subject a record belongs to. The store applies it; nothing here touches storage.
public enum LinkDecision: Sendable, Equatable {
    /// Join `subject`; `basis` is "nhs", "upn", "reference" or "score". Pairs in `review` are
    /// other subjects that could be the same child and need a person to say.
    case join(subject: Int64, basis: String, score: LinkScore, review: [ReviewPair])
    /// A new subject; `review` holds candidates that scored between the thresholds.
    case newSubject(review: [ReviewPair])
}

/// The rules that decide which child a record is about, as pure code: candidates and their keyed
/// material in, a decision value out. Ingestion and `POST /v1/match` both use it.
///
/// - An NHS number or UPN shared with a subject joins it, unless the dates of birth disagree
///   (then the pair is reviewed). A record whose strong identifiers reach two subjects joins
///   one and sends the other to review: two subjects that each hold a strong identifier are
///   never merged automatically.
/// - A subject holding a different NHS number or UPN is a different child.
/// - The same source's record under the same reference is the same child (a resubmitted row).
///   An enrolment or GP registration under another reference of the same source is a different
///   child: a practice does not register a child twice, so twins registered together stay two
///   children however alike their other details are.
/// - Otherwise the Fellegi–Sunter score against the subject's best-matching record decides:
///   join at or above `model.join`, review between the thresholds, new below; except that given
///   names differing outright, with the family name and date of birth agreeing, are never joined
///   on the score (twins): such a pair waits for the steward.
public struct SubjectMatcher: Sendable {
    public let model: LinkageModel
    public init(model: LinkageModel) { self.model = model }

    public struct Record: Sendable {
        public let material: ComparisonMaterial
        public let source: String
        public let kind: RecordKind
        public let referenceKey: Data
        public init(material: ComparisonMaterial, source: String, kind: RecordKind, referenceKey: Data) {
            self.material = material; self.source = source; self.kind = kind; self.referenceKey = referenceKey
        }
    }

    /// `strongHits`: subjects the store found through a shared NHS number or UPN key, with its basis.
    public func decide(_ record: Record, candidates: [CandidateRecord], strongHits: [Int64: String] = [:],
                       frequency: (UInt64) -> Double? = { _ in nil }) -> LinkDecision {
        var bySubject = Dictionary(grouping: candidates, by: \.subject)
        for subject in strongHits.keys where bySubject[subject] == nil { bySubject[subject] = [] }
        var strong: [(subject: Int64, basis: String)] = []
        var scored: [(subject: Int64, score: LinkScore)] = []
        var reviews: [ReviewPair] = []
        for (subject, records) in bySubject.sorted(by: { $0.key < $1.key }) {
            if records.contains(where: { Self.differentStrong(record.material, $0.material) }) { continue }
            let sameSource = records.filter { $0.source == record.source && $0.kind == record.kind }
            if sameSource.contains(where: { $0.referenceKey == record.referenceKey }) {
                strong.append((subject, "reference"))
                continue
            }
            let sharedBasis = strongHits[subject] ?? records.lazy.compactMap({ Self.sharedStrong(record.material, $0.material) }).first
            // The same agency's other registration without a shared NHS number or UPN: another child
            // (twins registered together). A re-registration under the same NHS number is the same child.
            if sharedBasis == nil, Self.oneRecordPerChild.contains(record.kind), !sameSource.isEmpty { continue }
            if let basis = sharedBasis {
                let best = records.map { compare(record.material, $0.material, frequency: frequency) }.max { $0.total < $1.total }
                    ?? LinkScore(total: 0, levels: [:])
                if best.levels[.dateOfBirth] == .different {
                    reviews.append(ReviewPair(candidate: subject, score: best, reason: "\(basis)-matches-different-date-of-birth"))
                } else {
                    strong.append((subject, basis))
                }
                continue
            }
            guard let (best, other) = records.map({ (compare(record.material, $0.material, frequency: frequency), $0) }).max(by: { $0.0.total < $1.0.total })
            else { continue }
            if Self.possibleTwin(best, record.material, other.material), best.total >= model.review {
                reviews.append(ReviewPair(candidate: subject, score: best, reason: "possible-twin-given-names-differ"))
                continue
            }
            scored.append((subject, best))
        }
        scored.sort { $0.score.total > $1.score.total || ($0.score.total == $1.score.total && $0.subject < $1.subject) }
        if let first = strong.min(by: { Self.rank($0.basis) < Self.rank($1.basis) || (Self.rank($0.basis) == Self.rank($1.basis) && $0.subject < $1.subject) }) {
            for other in strong where other.subject != first.subject {
                reviews.append(ReviewPair(candidate: other.subject, score: .strong, reason: "record-bridges-subjects-with-strong-identifiers"))
            }
            for s in scored where s.score.total >= model.join {
                reviews.append(ReviewPair(candidate: s.subject, score: s.score, reason: "scores-above-join-beside-a-strong-link"))
            }
            return .join(subject: first.subject, basis: first.basis, score: .strong, review: reviews)
        }
        if let best = scored.first, best.score.total >= model.join {
            for s in scored.dropFirst() where s.score.total >= model.join {
                reviews.append(ReviewPair(candidate: s.subject, score: s.score, reason: "two-subjects-score-above-join"))
            }
            return .join(subject: best.subject, basis: "score", score: best.score, review: reviews)
        }
        for s in scored where s.score.total >= model.review {
            reviews.append(ReviewPair(candidate: s.subject, score: s.score, reason: "score-between-thresholds"))
        }
        return .newSubject(review: reviews)
    }

    /// Below this Dice coefficient of their keyed bigrams, two given names share too little to be
    /// one name mistyped (AMARA / CHIDI 0.0, MAKAGLA / MIKAELA 0.5).
    static let twinNameDice = 0.4

    /// Given names that differ outright where the family name and the date of birth agree: as
    /// likely twins as one child's records (twins share a household, so the address says nothing
    /// between them). Never joined on the score, however high: the steward decides.
    static func possibleTwin(_ score: LinkScore, _ a: ComparisonMaterial, _ b: ComparisonMaterial) -> Bool {
        guard score.levels[.dateOfBirth] == .exact, let ga = a.given, let gb = b.given else { return false }
        switch score.levels[.givenName] {
        case .different?:
            guard dice(ga.bigrams, gb.bigrams) < Self.twinNameDice else { return false }
        case .part?:
            // MARY-JANE and MARY-KATE share a part but neither is the other given in part: as
            // likely twins as one child. MARY-JANE and JANE is one child's name given in part.
            let pa = Set(ga.parts), pb = Set(gb.parts)
            guard pa.count >= 2, pb.count >= 2, !pa.isSubset(of: pb), !pb.isSubset(of: pa) else { return false }
        default:
            return false
        }
        switch score.levels[.familyName] {
        case .exact?, .part?, .close?, .similar?: return true
        default: return false
        }
    }

    /// Kinds of which an agency holds one record per child: a school's enrolment, a practice's
    /// registration. Attendance, tenancies, notifications and registers come many to a child.
    public static let oneRecordPerChild: Set<RecordKind> = [.schoolEnrolment, .gpRegistration]

    static func rank(_ basis: String) -> Int { basis == "reference" ? 0 : basis == "nhs" ? 1 : 2 }

    static func sharedStrong(_ a: ComparisonMaterial, _ b: ComparisonMaterial) -> String? {
        if let x = a.nhs, x == b.nhs { return "nhs" }
        if let x = a.upn, x == b.upn { return "upn" }
        return nil
    }

    static func differentStrong(_ a: ComparisonMaterial, _ b: ComparisonMaterial) -> Bool {
        if let x = a.nhs, let y = b.nhs, x != y { return true }
        if let x = a.upn, let y = b.upn, x != y { return true }
        return false
    }

    // MARK: comparison

    public func compare(_ a: ComparisonMaterial, _ b: ComparisonMaterial, frequency: (UInt64) -> Double? = { _ in nil }) -> LinkScore {
        var levels: [ComparisonField: ComparisonLevel] = [:]
        let given = Self.name(a.given, b.given, family: false)
        let family = Self.name(a.family, b.family, family: true)
        levels[.givenName] = given
        levels[.familyName] = family
        levels[.dateOfBirth] = Self.birthDate(a.birthDate, b.birthDate)
        levels[.postcode] = Self.place(a.postcode, b.postcode)
        levels[.address] = Self.address(a.address, b.address)
        levels[.uprn] = a.uprn == nil || b.uprn == nil ? .missing : a.uprn == b.uprn ? .exact : .different
        var total = 0.0
        // Postcode, address and UPRN all say "the same dwelling": one household's children share all
        // three, so their agreement counts once (the strongest), while disagreements add up. The
        // address agreeing within an agreeing postcode adds what it says beyond the postcode: which
        // of the unit's dozen or so dwellings.
        var placeAgreement = 0.0
        for (field, level) in levels where field != .givenName && field != .familyName {
            let w = model.weight(field, level)
            if Self.placeFields.contains(field), w > 0 { placeAgreement = max(placeAgreement, w) } else { total += w }
        }
        if let p = levels[.postcode], p == .exact || p == .close, let d = levels[.address], d == .exact || d == .close {
            placeAgreement += model.addressWithinPostcode.weight
        }
        var names = model.weight(.givenName, given, frequency: given == .exact ? a.given.flatMap { frequency($0.exact) } : nil)
            + model.weight(.familyName, family, frequency: family == .exact ? a.family.flatMap { frequency($0.exact) } : nil)
        // Given and family exchanged: both names agree crosswise, exactly or at a lesser level (an
        // exchange and a typo), and better than they agree straight.
        if given != .exact || family != .exact, let ag = a.given, let af = a.family, let bg = b.given, let bf = b.family {
            let g = Self.name(ag, bf, family: true), f = Self.name(af, bg, family: true)
            if g != .different, f != .different {
                let crossed = model.crossedWeight(.givenName, g) + model.crossedWeight(.familyName, f)
                if crossed > names {
                    names = crossed
                    levels[.givenName] = .swapped; levels[.familyName] = .swapped
                }
            }
        }
        return LinkScore(total: total + names + placeAgreement, levels: levels)
    }

    /// 2|A∩B| / (|A|+|B|) over sorted token lists; 0 when either is empty.
    static func dice(_ a: [UInt64], _ b: [UInt64]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var i = 0, j = 0, shared = 0
        while i < a.count, j < b.count {
            if a[i] == b[j] { shared += 1; i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        return 2 * Double(shared) / Double(a.count + b.count)
    }

    static let placeFields: Set<ComparisonField> = [.postcode, .address, .uprn]

    static func intersects(_ a: [UInt64], _ b: [UInt64]) -> Bool {
        guard !a.isEmpty, !b.isEmpty else { return false }
        for x in a where b.contains(x) { return true }
        return false
    }

    static func name(_ a: ComparisonMaterial.Name?, _ b: ComparisonMaterial.Name?, family: Bool) -> ComparisonLevel {
        guard let a, let b else { return .missing }
        if a.exact == b.exact { return .exact }
        if !family, intersects(a.variants, b.variants) { return .variant }
        if intersects(a.parts, b.parts) { return .part }
        if intersects(a.neighbourhood, b.neighbourhood) { return .close }
        if dice(a.bigrams, b.bigrams) >= 0.6 { return .similar }
        if a.phonetic == b.phonetic { return .phonetic }
        return .different
    }

    static func birthDate(_ a: ComparisonMaterial.BirthDate?, _ b: ComparisonMaterial.BirthDate?) -> ComparisonLevel {
        guard let a, let b else { return .missing }
        if a.exact == b.exact { return .exact }
        if let s = a.swapped, s == b.exact { return .swapped }
        if a.masked.count == 8, b.masked.count == 8, (0..<8).contains(where: { a.masked[$0] == b.masked[$0] }) { return .oneDigit }
        return .different
    }

    static func place(_ a: ComparisonMaterial.Place?, _ b: ComparisonMaterial.Place?) -> ComparisonLevel {
        guard let a, let b else { return .missing }
        if a.unit == b.unit { return .exact }
        if intersects(a.neighbourhood, b.neighbourhood) { return .close }
        if a.sector == b.sector { return .sector }
        if a.district == b.district { return .district }
        return .different
    }

    static func address(_ a: ComparisonMaterial.Address?, _ b: ComparisonMaterial.Address?) -> ComparisonLevel {
        guard let a, let b else { return .missing }
        if a.exact == b.exact { return .exact }
        let sameNumber = a.number != nil && a.number == b.number
        let sameStreet = a.street != nil && a.street == b.street
        if sameNumber && (sameStreet || intersects(a.streetNeighbourhood, b.streetNeighbourhood)) { return .close }
        if sameNumber || sameStreet { return .partial }
        return .different
    }
}
