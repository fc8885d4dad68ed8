import Crypto
import Foundation

/// The link keys as a chain. The first key keys every identifier, as before any rotation; each
/// later key wraps the result: digest' = HMAC(k_i, "link-wrap" || 0 || digest) cut to the same
/// length, token' = SipHash(k_i's sub-key, token). Equal inputs stay equal, so linkage survives a
/// rotation without the raw values (the gateway never had them after ingestion), and the
/// gateway can wrap every stored digest in place, in batches, while it serves.
///
/// Why wrapping rather than re-keying: re-keying needs the identifiers again, which no agency
/// will resend for records of years past. What wrapping buys after a leak of an old key: every
/// stored value is now a function of the new key too, so a copy of the database together with
/// the old key no longer lets anyone test a guessed NHS number. What it does not buy: the new
/// chain still starts from the old key, so someone holding the old key AND the new one is where
/// they would have been; keep the key file as secret as before.
public struct LinkKeyChain: Sendable {
    /// One rotation's wrap: how a value derived under the chain so far becomes its successor.
    public struct Step: Sendable {
        public let keyID: String
        let digestHMAC: PreparedHMAC
        let tokenHash: SipHash24

        init(_ key: NamedKey) {
            keyID = key.id
            digestHMAC = PreparedHMAC(key: key.key).prefixed("link-wrap", separator: 0)
            var t = HMAC<SHA256>(key: key.key)
            t.update(data: Data("sightline-link-wrap-tokens-siphash-2-4".utf8))
            tokenHash = SipHash24(key: Array(Data(t.finalize()).prefix(16)))
        }

        public func digest(_ d: Data) -> Data {
            var h = digestHMAC
            d.withUnsafeBytes { h.update($0) }
            return h.code(length: d.count)
        }

        public func token(_ t: UInt64) -> UInt64 {
            var h = tokenHash.hasher()
            withUnsafeBytes(of: t.littleEndian) { h.append($0.bindMemory(to: UInt8.self)) }
            return h.finalize()
        }

        public func material(_ m: ComparisonMaterial) -> ComparisonMaterial { m.mappingTokens(token) }
    }

    /// The key that keys identifiers.
    public let root: NamedKey
    /// One step per later key, oldest first.
    public let steps: [Step]

    public init(_ keys: [NamedKey]) {
        precondition(!keys.isEmpty, "a link key chain has at least one key")
        root = keys[0]
        steps = keys.dropFirst().map(Step.init)
    }

    /// 0 before any rotation; one more for each link key rotation.
    public var generation: Int { steps.count }
    public var currentKeyID: String { steps.last?.keyID ?? root.id }
    /// The last rotation's step, which the gateway applies to what is still stored in the form before it.
    public var lastStep: Step? { steps.last }

    /// The chain without its last step: the form values had before the latest rotation.
    public var previous: LinkKeyChain? {
        guard !steps.isEmpty else { return nil }
        return LinkKeyChain(root: root, steps: Array(steps.dropLast()))
    }

    private init(root: NamedKey, steps: [Step]) { self.root = root; self.steps = steps }

    public func wrap(_ d: Data) -> Data { steps.reduce(d) { $1.digest($0) } }
    public func wrap(_ t: UInt64) -> UInt64 { steps.reduce(t) { $1.token($0) } }
    public func wrap(_ m: ComparisonMaterial) -> ComparisonMaterial {
        steps.isEmpty ? m : m.mappingTokens { t in steps.reduce(t) { $1.token($0) } }
    }
}

extension ComparisonMaterial {
    /// This material with every token replaced by `f(token)`; lists that are kept sorted and
    /// unique stay so, and the masked date tokens keep their positions.
    public func mappingTokens(_ f: (UInt64) -> UInt64) -> ComparisonMaterial {
        func sorted(_ v: [UInt64]) -> [UInt64] { ComparisonKeyer.sortedUnique(v.map(f)) }
        func name(_ n: Name?) -> Name? {
            n.map { Name(exact: f($0.exact), phonetic: f($0.phonetic), neighbourhood: sorted($0.neighbourhood), parts: sorted($0.parts),
                         variants: $0.variants.map(f), bigrams: sorted($0.bigrams)) }
        }
        var m = ComparisonMaterial()
        m.given = name(given)
        m.family = name(family)
        m.birthDate = birthDate.map { BirthDate(exact: f($0.exact), swapped: $0.swapped.map(f), masked: $0.masked.map(f)) }
        m.postcode = postcode.map { Place(unit: f($0.unit), sector: f($0.sector), district: f($0.district), neighbourhood: sorted($0.neighbourhood)) }
        m.address = address.map { Address(exact: f($0.exact), number: $0.number.map(f), street: $0.street.map(f), streetNeighbourhood: sorted($0.streetNeighbourhood)) }
        m.uprn = uprn.map(f)
        m.nhs = nhs.map(f)
        m.upn = upn.map(f)
        return m
    }
}
