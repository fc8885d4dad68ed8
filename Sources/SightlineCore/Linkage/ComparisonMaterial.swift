import Crypto
import Foundation

/// What fuzzy comparison needs of one record's identifiers, derived while the raw values are in
/// memory at ingestion and kept only in this keyed form. Every value is the first 8 bytes of
/// HMAC-SHA256 under the link key with a domain of its own; nothing here can be turned back into
/// a name, a date or a postcode without that key. At rest the whole material is sealed (AES-GCM),
/// so the database shows neither tokens nor how often they repeat (see docs/linkage-threat-model.md).
///
/// "One edit apart" is decided without the letters: the keyed deletion neighbourhood of a name
/// (the name with each letter in turn deleted) shares a token with another name's exactly when
/// the two differ by one insertion, deletion, substitution or swap of neighbouring letters.
public struct ComparisonMaterial: Sendable, Equatable {
    public struct Name: Sendable, Equatable {
        /// One domain for given and family names, so that names given the wrong way round are seen to agree crosswise.
        public var exact: UInt64
        public var phonetic: UInt64
        /// The name with each letter deleted in turn: one edit apart <=> a shared token.
        public var neighbourhood: [UInt64]
        /// Each part of the name as written ("OKONKWO-MARSH": OKONKWO, MARSH; "MARSH": MARSH), so
        /// that a name given in part shares a token with the whole. (Material stored before
        /// 2026-12-01 has parts for multi-part names only, and compares as it did.)
        public var parts: [UInt64]
        /// Known-variant groups (given names: MOHAMMED ~ MUHAMMAD, ALEX ~ ALEXANDER).
        public var variants: [UInt64]
        /// Keyed bigrams of the name padded with ^ and $: their Dice coefficient grades spellings
        /// more than one edit apart. Sealed with the rest, so their frequencies are never visible.
        public var bigrams: [UInt64] = []
    }
    public struct BirthDate: Sendable, Equatable {
        public var exact: UInt64
        /// The date with day and month exchanged, when that is a date too.
        public var swapped: UInt64?
        /// YYYYMMDD with digit i masked, i = 0...7: one digit apart <=> the same token at one i.
        public var masked: [UInt64]
    }
    public struct Place: Sendable, Equatable {
        public var unit: UInt64
        public var sector: UInt64
        public var district: UInt64
        public var neighbourhood: [UInt64]
    }
    public struct Address: Sendable, Equatable {
        public var exact: UInt64
        public var number: UInt64?
        public var street: UInt64?
        public var streetNeighbourhood: [UInt64]
    }

    public var given: Name?
    public var family: Name?
    public var birthDate: BirthDate?
    public var postcode: Place?
    public var address: Address?
    public var uprn: UInt64?
    public var nhs: UInt64?
    public var upn: UInt64?

    public init() {}
}

/// Derives comparison material and blocking keys from validated identifiers, with the link key.
public struct ComparisonKeyer: Sendable {
    private let hmac: PreparedHMAC
    /// Tokens (compared in memory, sealed at rest) come from SipHash-2-4 under a 128-bit sub-key:
    /// a PRF for short inputs, about seventy per record; the indexed blocking keys stay HMAC-SHA256.
    private let sip: SipHash24

    public init(linkKey: SymmetricKey) {
        var h = HMAC<SHA256>(key: linkKey)
        // A sub-key of its own: tokens can never equal a linkage key or a reference key.
        h.update(data: Data("sightline-comparison-v1".utf8))
        let subKey = Data(h.finalize())
        hmac = PreparedHMAC(key: SymmetricKey(data: subKey))
        var t = HMAC<SHA256>(key: SymmetricKey(data: subKey))
        t.update(data: Data("sightline-comparison-tokens-siphash-2-4".utf8))
        sip = SipHash24(key: Array(Data(t.finalize()).prefix(16)))
    }

    /// The state after a token's domain and its separator: every token of the domain starts there.
    @inline(__always) func start(_ domain: StaticString) -> SipHasher {
        var h = sip.hasher()
        domain.withUTF8Buffer { h.append($0) }
        h.append(0)
        return h
    }

    func token(_ domain: StaticString, _ value: String) -> UInt64 {
        var h = start(domain)
        var value = value
        value.withUTF8 { h.append($0) }
        return h.finalize()
    }

    /// The tokens of `s` and of `s` with each character deleted in turn, sorted and unique; the
    /// same as hashing each of `deletions(s)`, without building the strings (ASCII, the usual
    /// case; other text takes the string path).
    func deletionTokens(_ domain: StaticString, _ s: String) -> [UInt64] {
        var s = s
        return s.withUTF8 { bytes -> [UInt64] in
            guard bytes.allSatisfy({ $0 < 0x80 }) else {
                return Self.sortedUnique(Self.deletions(String(decoding: bytes, as: UTF8.self)).map { token(domain, $0) })
            }
            let base = start(domain)
            var out: [UInt64] = []
            out.reserveCapacity(bytes.count + 1)
            var whole = base
            whole.append(bytes)
            out.append(whole.finalize())
            if bytes.count > 1 {
                for i in 0..<bytes.count {
                    var h = base
                    h.append(bytes[..<i]); h.append(bytes[(i + 1)...])
                    out.append(h.finalize())
                }
            }
            return Self.sortedUnique(out)
        }
    }

    /// Keyed bigrams of `s` padded with ^ and $, sorted and unique (the same as hashing each of
    /// `bigrams(s)`).
    func bigramTokens(_ s: String) -> [UInt64] {
        var s = s
        return s.withUTF8 { bytes -> [UInt64] in
            guard bytes.allSatisfy({ $0 < 0x80 }) else {
                return Self.sortedUnique(Self.bigrams(String(decoding: bytes, as: UTF8.self)).map { token("name-bigram", $0) })
            }
            let base = start("name-bigram")
            let n = bytes.count
            @inline(__always) func padded(_ j: Int) -> UInt8 { j == 0 ? UInt8(ascii: "^") : j == n + 1 ? UInt8(ascii: "$") : bytes[j - 1] }
            var out: [UInt64] = []
            out.reserveCapacity(n + 1)
            for j in 0...n {
                var h = base
                h.append(padded(j)); h.append(padded(j + 1))
                out.append(h.finalize())
            }
            return Self.sortedUnique(out)
        }
    }

    static func sortedUnique(_ values: [UInt64]) -> [UInt64] {
        var v = values
        v.sort()
        var kept = 0
        for i in v.indices where i == 0 || v[i] != v[kept - 1] {
            v[kept] = v[i]; kept += 1
        }
        v.removeLast(v.count - kept)
        return v
    }

    /// The date of birth's exact token ("YYYY-MM-DD") and its eight masked tokens (YYYYMMDD with
    /// digit i replaced by "*"), from one buffer of digits.
    func birthDateTokens(_ d: CivilDate) -> (exact: UInt64, masked: [UInt64]) {
        guard (0...9999).contains(d.year) else {
            let digits = Array(d.description.filter(\.isNumber))
            return (token("dob", d.description), (0..<8).map { i in var c = digits; c[i] = "*"; return token("dob-mask", String(c)) })
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(8)
        for (value, width) in [(d.year, 4), (d.month, 2), (d.day, 2)] {
            var divisor = width == 4 ? 1000 : 10
            while divisor > 0 { digits.append(UInt8(ascii: "0") + UInt8(value / divisor % 10)); divisor /= 10 }
        }
        return digits.withUnsafeBufferPointer { b in
            var exact = start("dob")
            exact.append(b[0..<4]); exact.append(UInt8(ascii: "-")); exact.append(b[4..<6]); exact.append(UInt8(ascii: "-")); exact.append(b[6..<8])
            let base = start("dob-mask")
            var masked: [UInt64] = []
            masked.reserveCapacity(8)
            for i in 0..<8 {
                var h = base
                h.append(b[..<i]); h.append(UInt8(ascii: "*")); h.append(b[(i + 1)...])
                masked.append(h.finalize())
            }
            return (exact.finalize(), masked)
        }
    }

    func blockingKey(_ domain: StaticString, _ value: String) -> BlockingKey {
        var h = hmac
        h.update(domain); h.update(1); h.update(value)
        return BlockingKey(h.code(length: 16))
    }

    static func deletions(_ s: String) -> [String] {
        let chars = Array(s)
        guard chars.count > 1 else { return [s] }
        var out = [s]
        for i in chars.indices { var c = chars; c.remove(at: i); out.append(String(c)) }
        return out
    }

    func name(_ normalised: String, phonetic code: String?, parts: [String], variants: [String], domain: StaticString) -> ComparisonMaterial.Name {
        ComparisonMaterial.Name(
            exact: token(domain, normalised),
            phonetic: token("phonetic", code ?? normalised),
            neighbourhood: deletionTokens("name-deletion", normalised),
            parts: Self.sortedUnique(parts.map { token("name-part", $0) }),
            variants: variants.map { token("name-variant", $0) },
            bigrams: bigramTokens(normalised))
    }

    static func bigrams(_ s: String) -> [String] {
        let chars = ["^"] + s.map(String.init) + ["$"]
        return (0..<(chars.count - 1)).map { chars[$0] + chars[$0 + 1] }
    }

    /// Street line normalised for comparison: upper case letters and digits, common abbreviations
    /// expanded, "Flat 2," and similar prefixes dropped.
    static let dwellingPrefixes: Set<String> = ["FLAT", "APARTMENT", "APT", "UNIT"]
    static let streetAbbreviations = ["RD": "ROAD", "ST": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "GDNS": "GARDENS", "CL": "CLOSE",
                                      "CRES": "CRESCENT", "DR": "DRIVE", "LN": "LANE", "PL": "PLACE", "SQ": "SQUARE", "TER": "TERRACE",
                                      "CT": "COURT", "GRN": "GREEN", "GR": "GROVE", "PK": "PARK", "HSE": "HOUSE", "WY": "WAY"]

    static func addressParts(_ line: String) -> (exact: String, number: String?, street: String?) {
        let folded = line.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).uppercased()
        var words = folded.split { !($0.isLetter || $0.isNumber) }.map(String.init)
        if let i = words.firstIndex(where: dwellingPrefixes.contains), i + 1 < words.count {
            words.removeSubrange(i...(i + 1))
        }
        words = words.map { streetAbbreviations[$0] ?? $0 }
        let number = words.first { $0.first?.isNumber == true }
        let street = words.filter { $0.first?.isNumber != true }.joined(separator: " ")
        return (words.joined(separator: " "), number, street.isEmpty ? nil : street)
    }

    /// What material and blocking keys both derive from the identifiers, worked out once a record.
    struct Shared {
        let address: (exact: String, number: String?, street: String?)?
        let givenPhonetic: String?
        let familyPhonetic: String?
        init(_ ids: SubjectIdentifiers) {
            address = ids.address.map(ComparisonKeyer.addressParts)
            givenPhonetic = ids.givenName.flatMap(PhoneticCode.soundex)
            familyPhonetic = ids.familyName.flatMap(PhoneticCode.soundex)
        }
    }

    public func material(_ ids: SubjectIdentifiers) -> ComparisonMaterial { material(ids, Shared(ids)) }

    func material(_ ids: SubjectIdentifiers, _ shared: Shared) -> ComparisonMaterial {
        var m = ComparisonMaterial()
        if let g = ids.givenName {
            m.given = name(g, phonetic: shared.givenPhonetic, parts: ids.givenNameParts, variants: NameVariants.groupsAllowingOneEdit(of: g), domain: "name")
        }
        if let f = ids.familyName { m.family = name(f, phonetic: shared.familyPhonetic, parts: ids.familyNameParts, variants: [], domain: "name") }
        if let d = ids.dateOfBirth {
            let tokens = birthDateTokens(d)
            m.birthDate = ComparisonMaterial.BirthDate(
                exact: tokens.exact,
                swapped: d.day != d.month ? CivilDate(year: d.year, month: d.day, day: d.month).map { token("dob", $0.description) } : nil,
                masked: tokens.masked)
        }
        if let p = ids.postcode {
            let compact = p.outward + p.inward
            m.postcode = ComparisonMaterial.Place(unit: token("postcode", p.normalised), sector: token("sector", p.sector),
                                                  district: token("district", p.district),
                                                  neighbourhood: deletionTokens("postcode-deletion", compact))
        }
        if let parts = shared.address {
            m.address = ComparisonMaterial.Address(
                exact: token("address", parts.exact), number: parts.number.map { token("address-number", $0) },
                street: parts.street.map { token("street", $0) },
                streetNeighbourhood: parts.street.map { deletionTokens("street-deletion", $0) } ?? [])
        }
        if let u = ids.uprn { m.uprn = token("uprn", u) }
        if let n = ids.nhsNumber { m.nhs = token("nhs", n.digits) }
        if let u = ids.upn { m.upn = token("upn", u.value) }
        return m
    }

    /// Keys that find candidates: several, each robust to a different fault, so that one typo
    /// or a swapped day and month never hides the child. Multi-field, so that how often a key
    /// repeats says little about any one value.
    public func blockingKeys(_ ids: SubjectIdentifiers, forQuery: Bool = false) -> [BlockingKey] {
        let keys = blockingKeys(ids, Shared(ids))
        return forQuery ? keys.query : keys.stored
    }

    /// `stored`: the keys a record is found by; `query`: those and, first among the rest, the keys
    /// of its date of birth with day and month exchanged, to look candidates up with. One side of
    /// a swapped pair looking up both dates is enough, so the swapped keys are never stored.
    func blockingKeys(_ ids: SubjectIdentifiers, _ shared: Shared) -> (stored: [BlockingKey], query: [BlockingKey]) {
        var keys: [BlockingKey] = []
        keys.reserveCapacity(16)
        let gp = shared.givenPhonetic, fp = shared.familyPhonetic
        // Values are built by concatenation ("K500|2014-03-02"): the same bytes as before, without
        // interpolation's generic description path.
        func dateKeys(_ d: CivilDate, into keys: inout [BlockingKey]) {
            let date = d.description
            if let fp { keys.append(blockingKey("fp+dob", fp + "|" + date)) }
            if let gp { keys.append(blockingKey("gp+dob", gp + "|" + date)) }
            for part in ids.familyNameParts where ids.familyNameParts.count > 1 { keys.append(blockingKey("fpart+dob", part + "|" + date)) }
            if let p = ids.postcode { keys.append(blockingKey("dob+sector", date + "|" + p.sector)) }
        }
        if let d = ids.dateOfBirth { dateKeys(d, into: &keys) }
        let names = gp.flatMap { g in fp.map { f in g < f ? g + "|" + f : f + "|" + g } }
        if let d = ids.dateOfBirth, let names {
            keys.append(blockingKey("names+year", names + "|" + String(d.year)))
            keys.append(blockingKey("names+monthday", names + "|" + String(d.month) + "-" + String(d.day)))
        }
        if let names, let p = ids.postcode { keys.append(blockingKey("names+unit", names + "|" + p.normalised)) }
        if let u = ids.uprn { keys.append(blockingKey("uprn", u)) }
        if let line = shared.address?.exact, let p = ids.postcode { keys.append(blockingKey("address+district", line + "|" + p.district)) }
        var swapped: [BlockingKey] = []
        if let d = ids.dateOfBirth, d.day != d.month, let s = CivilDate(year: d.year, month: d.day, day: d.month) { dateKeys(s, into: &swapped) }
        // Unique, in order of first appearance (the same key can come from two rules only by chance).
        var seen = Set<BlockingKey>()
        let stored = keys.filter { seen.insert($0).inserted }
        return (stored, stored + swapped.filter { seen.insert($0).inserted })
    }

    /// Material and blocking keys together, deriving the shared parts (address line, phonetic
    /// codes) and every key once.
    public func derive(_ ids: SubjectIdentifiers) -> (material: ComparisonMaterial, stored: [BlockingKey], query: [BlockingKey]) {
        let shared = Shared(ids)
        let keys = blockingKeys(ids, shared)
        return (material(ids, shared), keys.stored, keys.query)
    }
}

public struct BlockingKey: Hashable, Sendable {
    public let digest: Data
    public init(_ digest: Data) { self.digest = digest }
}

// MARK: - Binary form (sealed at rest)

extension ComparisonMaterial {
    /// A compact, versioned binary form: written once per record, read for every comparison.
    public func encoded() -> Data {
        var out = Data([2])
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func list(_ vs: [UInt64]) { out.append(UInt8(min(vs.count, 255))); for v in vs.prefix(255) { u64(v) } }
        func opt(_ v: UInt64?) { if let v { out.append(1); u64(v) } else { out.append(0) } }
        func name(_ n: Name?) {
            guard let n else { out.append(0); return }
            out.append(1); u64(n.exact); u64(n.phonetic); list(n.neighbourhood); list(n.parts); list(n.variants); list(n.bigrams)
        }
        name(given); name(family)
        if let d = birthDate { out.append(1); u64(d.exact); opt(d.swapped); list(d.masked) } else { out.append(0) }
        if let p = postcode { out.append(1); u64(p.unit); u64(p.sector); u64(p.district); list(p.neighbourhood) } else { out.append(0) }
        if let a = address { out.append(1); u64(a.exact); opt(a.number); opt(a.street); list(a.streetNeighbourhood) } else { out.append(0) }
        opt(uprn); opt(nhs); opt(upn)
        return out
    }

    /// Reads `encoded()`; nil for anything else (never traps on bad bytes).
    public init?(encoded data: Data) {
        var reader = ByteReader(bytes: [UInt8](data))
        guard let version = reader.byte(), version == 1 || version == 2 else { return nil }
        self.init()
        func name() -> Name?? {
            guard let flag = reader.byte() else { return .none }
            if flag == 0 { return .some(nil) }
            guard let e = reader.u64(), let p = reader.u64(), let nb = reader.list(), let parts = reader.list(), let v = reader.list() else { return .none }
            var bigrams: [UInt64] = []
            if version >= 2 { guard let b = reader.list() else { return .none }; bigrams = b }
            return .some(Name(exact: e, phonetic: p, neighbourhood: nb, parts: parts, variants: v, bigrams: bigrams))
        }
        guard case .some(let g) = name(), case .some(let f) = name() else { return nil }
        given = g; family = f
        guard let dFlag = reader.byte() else { return nil }
        if dFlag == 1 {
            guard let e = reader.u64(), case .some(let s) = reader.optional(), let masked = reader.list() else { return nil }
            birthDate = BirthDate(exact: e, swapped: s, masked: masked)
        }
        guard let pFlag = reader.byte() else { return nil }
        if pFlag == 1 {
            guard let u = reader.u64(), let s = reader.u64(), let d = reader.u64(), let nb = reader.list() else { return nil }
            postcode = Place(unit: u, sector: s, district: d, neighbourhood: nb)
        }
        guard let aFlag = reader.byte() else { return nil }
        if aFlag == 1 {
            guard let e = reader.u64(), case .some(let n) = reader.optional(), case .some(let s) = reader.optional(), let nb = reader.list() else { return nil }
            address = Address(exact: e, number: n, street: s, streetNeighbourhood: nb)
        }
        guard case .some(let u) = reader.optional(), case .some(let n) = reader.optional(), case .some(let p) = reader.optional() else { return nil }
        uprn = u; nhs = n; upn = p
        guard reader.atEnd else { return nil }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var position = 0
    var atEnd: Bool { position == bytes.count }
    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }
    mutating func u64() -> UInt64? {
        guard position + 8 <= bytes.count else { return nil }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[position + i]) }
        position += 8
        return v
    }
    /// .some(nil) for an absent value, .none for bad bytes.
    mutating func optional() -> UInt64?? {
        guard let flag = byte() else { return .none }
        if flag == 0 { return .some(nil) }
        guard let v = u64() else { return .none }
        return .some(v)
    }
    mutating func list() -> [UInt64]? {
        guard let n = byte() else { return nil }
        var out: [UInt64] = []
        out.reserveCapacity(Int(n))
        for _ in 0..<n { guard let v = u64() else { return nil }; out.append(v) }
        return out
    }
}

extension ComparisonMaterial {
    /// Whether two records carry the same identifiers as far as every stored key is concerned:
    /// the strong keys (NHS number, UPN) and all blocking keys derive from exactly these values.
    public func sameKeys(as other: ComparisonMaterial) -> Bool {
        given?.exact == other.given?.exact && family?.exact == other.family?.exact && family?.parts == other.family?.parts
            && birthDate?.exact == other.birthDate?.exact && postcode?.unit == other.postcode?.unit
            && address?.exact == other.address?.exact && uprn == other.uprn && nhs == other.nhs && upn == other.upn
    }
}
