import Foundation

/// The fields linkage compares and the levels of agreement each can reach, best first.
public enum ComparisonField: String, CaseIterable, Sendable, Codable {
    case givenName, familyName, dateOfBirth, postcode, address, uprn

    public var levels: [ComparisonLevel] {
        switch self {
        case .givenName: [.exact, .swapped, .variant, .part, .close, .similar, .phonetic, .different]
        case .familyName: [.exact, .swapped, .part, .close, .similar, .phonetic, .different]
        case .dateOfBirth: [.exact, .swapped, .oneDigit, .different]
        case .postcode: [.exact, .close, .sector, .district, .different]
        case .address: [.exact, .close, .partial, .different]
        case .uprn: [.exact, .different]
        }
    }

    /// The short name used in explanations ("given=exact").
    public var short: String {
        switch self {
        case .givenName: "given"
        case .familyName: "family"
        case .dateOfBirth: "dob"
        case .postcode: "postcode"
        case .address: "address"
        case .uprn: "uprn"
        }
    }
}

/// How well one field of two records agrees.
public enum ComparisonLevel: String, Sendable, Codable {
    /// Equal after normalisation (postcode: the same unit).
    case exact
    /// Names: given and family exchanged. Date of birth: day and month exchanged.
    case swapped
    /// Given names in one known-variant group (MOHAMMED / MUHAMMAD, ALEX / ALEXANDER).
    case variant
    /// Names sharing a part: one given in part (OKONKWO-MARSH / MARSH, MARY JANE / JANE).
    case part
    /// One edit apart (a letter inserted, deleted, changed or two neighbours swapped).
    case close
    /// Names more than one edit apart whose keyed bigrams still mostly agree (Dice at least 0.6).
    case similar
    /// Same phonetic code.
    case phonetic
    /// Dates one digit apart.
    case oneDigit = "one-digit"
    /// Postcodes in one sector ("NW6 4"), or one district ("NW6").
    case sector, district
    /// Addresses with the same house number or the same street, not both.
    case partial
    case different
    /// One side or both do not have the field: weighs nothing.
    case missing
}

/// Fellegi–Sunter match weights: for each field and level, m (how often two records of the same
/// child agree at that level) and u (how often two records of different children do). A level
/// weighs log2(m/u); a record pair's score is the sum over fields. Read from
/// Policies/linkage.yaml, where each field states why its figures are what they are, with the
/// thresholds a DPO can read: at or above `join` a record joins the child; between `review` and
/// `join` the pair waits for a steward; below `review` it is a new child.
public struct LinkageModel: Sendable {
    public struct Level: Sendable {
        public let m: Double
        public let u: Double
        public var weight: Double { log2(m / u) }
    }
    public struct Field: Sendable {
        public let levels: [ComparisonLevel: Level]
        /// For exact agreement of names: u is the value's own frequency among stored records
        /// (never below `minimumU`), so two SMITHs weigh less than two OKONKWO-MARSHes.
        public let termFrequency: Bool
        public let minimumU: Double
        public let reason: String
    }

    public let join: Double
    public let review: Double
    public let fields: [ComparisonField: Field]
    /// Addresses agreeing (exactly or closely) where the postcodes agree too: m and u given that
    /// the postcodes agree, so the address adds what it says beyond the postcode (Policies/
    /// linkage.yaml, `address: within-postcode`).
    public let addressWithinPostcode: Level
    public let file: String

    /// Given and family names exchanged, the crosswise comparison at `level`: the exchange's own
    /// weight (`swapped`, both crosswise names exact) less what the level loses against exact
    /// straight agreement, so an exchange with a typo weighs as much less as a typo does.
    public func crossedWeight(_ field: ComparisonField, _ level: ComparisonLevel) -> Double {
        let exchanged = weight(field, .swapped)
        if level == .exact || level == .swapped { return exchanged }
        return exchanged - (weight(field, .exact) - weight(field, level))
    }

    public func weight(_ field: ComparisonField, _ level: ComparisonLevel, frequency: Double? = nil) -> Double {
        guard level != .missing, let f = fields[field], let l = f.levels[level] else { return 0 }
        if level == .exact, f.termFrequency, let frequency {
            return log2(l.m / max(f.minimumU, frequency))
        }
        return l.weight
    }

    /// Reads Policies/linkage.yaml. Every field, every level of it, m and u in (0, 1), m > u for
    /// exact agreement and m < u for disagreement; join > review.
    static let withinPostcodeKey = "within-postcode"

    public static func load(_ file: YAMLFile) throws(SightlineError) -> LinkageModel {
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["thresholds", "fields"])
        let thresholdsNode = try root.required("thresholds", in: rootNode)
        let thresholds = try thresholdsNode.dictionary(allowedKeys: ["join", "review"])
        func number(_ node: YAMLNode) throws(SightlineError) -> Double {
            let text = try node.string()
            guard let v = Double(text), v.isFinite else { throw node.error("expected a number") }
            return v
        }
        let join = try number(try thresholds.required("join", in: thresholdsNode))
        let review = try number(try thresholds.required("review", in: thresholdsNode))
        guard join > review else { throw thresholdsNode.error("join must be above review: between them pairs wait for a steward") }
        let fieldsNode = try root.required("fields", in: rootNode)
        var fields: [ComparisonField: Field] = [:]
        var withinPostcode: Level?
        for (name, node) in try fieldsNode.mapping() {
            guard let field = ComparisonField(rawValue: name) else {
                throw node.keyError("unknown field; linkage compares \(ComparisonField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let allowed = Set(field.levels.map(\.rawValue) + ["reason", "term-frequency-min-u"] + (field == .address ? [Self.withinPostcodeKey] : []))
            let d = try node.dictionary(allowedKeys: allowed)
            let reason = try d.required("reason", in: node).string()
            guard reason.count >= 20 else { throw node.error("reason must say why these figures (at least a sentence)") }
            var levels: [ComparisonLevel: Level] = [:]
            for level in field.levels {
                let levelNode = try d.required(level.rawValue, in: node)
                let pair = try levelNode.dictionary(allowedKeys: ["m", "u"])
                let m = try number(try pair.required("m", in: levelNode)), u = try number(try pair.required("u", in: levelNode))
                guard m > 0, m < 1, u > 0, u < 1 else { throw levelNode.error("m and u are probabilities strictly between 0 and 1") }
                guard level != .exact || m > u else { throw levelNode.error("exact agreement must be likelier for the same child (m > u)") }
                guard level != .different || m < u else { throw levelNode.error("disagreement must be likelier for different children (m < u)") }
                levels[level] = Level(m: m, u: u)
            }
            var minimumU = 0.0
            if let tf = d["term-frequency-min-u"] {
                minimumU = try number(tf)
                guard minimumU > 0, minimumU < 1 else { throw tf.error("term-frequency-min-u is a probability") }
            }
            fields[field] = Field(levels: levels, termFrequency: minimumU > 0, minimumU: minimumU, reason: reason)
            if field == .address {
                let levelNode = try d.required(Self.withinPostcodeKey, in: node)
                let pair = try levelNode.dictionary(allowedKeys: ["m", "u"])
                let m = try number(try pair.required("m", in: levelNode)), u = try number(try pair.required("u", in: levelNode))
                guard m > 0, m < 1, u > 0, u < 1, m > u else {
                    throw levelNode.error("m and u are probabilities strictly between 0 and 1, m above u: agreement within a postcode is evidence")
                }
                withinPostcode = Level(m: m, u: u)
            }
        }
        for field in ComparisonField.allCases where fields[field] == nil {
            throw fieldsNode.error("no weights for \(field.rawValue); every compared field needs them")
        }
        guard let withinPostcode else { throw fieldsNode.error("no weights for address") }
        return LinkageModel(join: join, review: review, fields: fields, addressWithinPostcode: withinPostcode, file: file.path)
    }
}
