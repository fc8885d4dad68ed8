import Crypto
import Foundation
import Testing
@testable import SightlineCore

/// The byte-level token paths must give exactly the tokens of the string definitions they
/// replace: stored material from earlier versions has to keep comparing equal.
@Suite("Comparison tokens")
struct ComparisonKeyerTests {
    let keyer = ComparisonKeyer(linkKey: SymmetricKey(data: Data(repeating: 7, count: 32)))

    /// The definitions, spelt out with strings: what the fast paths must equal.
    func reference(_ domain: StaticString, _ values: [String]) -> [UInt64] { Array(Set(values.map { keyer.token(domain, $0) })).sorted() }

    static let names = ["", "a", "ab", "okafor", "okonkwomarsh", "aaaa", "anna", "zoë", "José", "müller", "ñ", "李", "x\u{301}y",
                        "NW64AB", "HIGH STREET", "ST JOHNS WOOD ROAD", "oo", "abcabcabc"]

    @Test("deletion neighbourhoods equal the string definition", arguments: names)
    func deletions(_ s: String) {
        #expect(keyer.deletionTokens("name-deletion", s) == reference("name-deletion", ComparisonKeyer.deletions(s)))
        #expect(keyer.deletionTokens("street-deletion", s) == reference("street-deletion", ComparisonKeyer.deletions(s)))
    }

    @Test("bigrams equal the string definition", arguments: names)
    func bigrams(_ s: String) {
        #expect(keyer.bigramTokens(s) == reference("name-bigram", ComparisonKeyer.bigrams(s)))
    }

    @Test("date tokens equal the string definition")
    func dates() throws {
        for (y, m, d) in [(2014, 3, 7), (2008, 12, 31), (2026, 1, 1), (1999, 10, 10), (2010, 2, 28)] {
            let date = try #require(CivilDate(year: y, month: m, day: d))
            let digits = Array(String(format: "%04d%02d%02d", y, m, d))
            let tokens = keyer.birthDateTokens(date)
            #expect(tokens.exact == keyer.token("dob", date.description))
            #expect(tokens.masked == (0..<8).map { i in var c = digits; c[i] = "*"; return keyer.token("dob-mask", String(c)) })
        }
    }

    @Test("sortedUnique sorts and drops repeats")
    func sortedUnique() {
        #expect(ComparisonKeyer.sortedUnique([]) == [])
        #expect(ComparisonKeyer.sortedUnique([5, 1, 5, 3, 1, 1]) == [1, 3, 5])
        #expect(ComparisonKeyer.sortedUnique([9]) == [9])
    }
}

@Suite("Prepared HMAC")
struct PreparedHMACTests {
    @Test("gives HMAC<SHA256>'s codes for short, block-sized and long keys and messages")
    func equalsSwiftCrypto() {
        for keyLength in [0, 16, 32, 63, 64, 65, 100] {
            let key = SymmetricKey(data: Data((0..<keyLength).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }))
            for message in ["", "a", "nhs\u{0}9434765919", String(repeating: "x", count: 200), "zoë|2014-03-02"] {
                var h = PreparedHMAC(key: key)
                h.update(message)
                #expect(Data(h.finalize()) == Data(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)), "\(keyLength) \(message.prefix(10))")
            }
            // A prefixed state continues like one fed the prefix and separator first.
            var whole = PreparedHMAC(key: key)
            whole.update("fp+dob"); whole.update(1); whole.update("K500|2014-03-02")
            var prefixed = PreparedHMAC(key: key).prefixed("fp+dob", separator: 1)
            prefixed.update("K500|2014-03-02")
            #expect(prefixed.code() == whole.code() && whole.code(length: 16) == whole.code().prefix(16))
        }
    }
}

@Suite("Blocking keys")
struct BlockingKeyCompatibilityTests {
    /// The keys as the first probabilistic release computed them (swift-crypto's HMAC over the
    /// interpolated strings): keys already stored must still be found.
    @Test("the same digests as the string and swift-crypto definition")
    func sameDigestsAsBefore() throws {
        let linkKey = SymmetricKey(data: Data(repeating: 9, count: 32))
        let keyer = ComparisonKeyer(linkKey: linkKey)
        var sub = HMAC<SHA256>(key: linkKey)
        sub.update(data: Data("sightline-comparison-v1".utf8))
        let subKey = SymmetricKey(data: Data(sub.finalize()))
        func old(_ domain: String, _ value: String) -> Data {
            var h = HMAC<SHA256>(key: subKey)
            h.update(data: Data(domain.utf8)); h.update(data: [1]); h.update(data: Data(value.utf8))
            return Data(h.finalize()).prefix(16)
        }
        var ids = SubjectIdentifiers()
        ids.givenName = "amara"; ids.familyName = "okonkwomarsh"; ids.familyNameParts = ["okonkwo", "marsh"]
        ids.dateOfBirth = CivilDate(year: 2014, month: 3, day: 2)
        ids.postcode = Postcode("NW6 4AB")
        ids.uprn = "100021234567"; ids.address = "12 High St"
        let d = try #require(ids.dateOfBirth), s = try #require(CivilDate(year: 2014, month: 2, day: 3)), p = try #require(ids.postcode)
        let gp = "A560", fp = "O252"
        var expected: Set<Data> = []
        for date in [d, s] {
            expected.formUnion([old("fp+dob", "\(fp)|\(date)"), old("gp+dob", "\(gp)|\(date)"), old("fpart+dob", "okonkwo|\(date)"),
                                old("fpart+dob", "marsh|\(date)"), old("dob+sector", "\(date)|\(p.sector)")])
        }
        expected.formUnion([old("names+year", "\(gp)|\(fp)|2014"), old("names+monthday", "\(gp)|\(fp)|3-2"), old("names+unit", "\(gp)|\(fp)|\(p.normalised)"),
                            old("uprn", "100021234567"), old("address+district", "12 HIGH STREET|NW6")])
        #expect(PhoneticCode.soundex("amara") == gp && PhoneticCode.soundex("okonkwomarsh") == fp)
        #expect(Set(keyer.blockingKeys(ids, forQuery: true).map(\.digest)) == expected)
        let derived = keyer.derive(ids)
        #expect(derived.query == keyer.blockingKeys(ids, forQuery: true) && derived.material == keyer.material(ids))
        // Stored: the record's own date only; the swapped date's keys are for looking up.
        #expect(derived.stored == keyer.blockingKeys(ids, forQuery: false) && derived.stored.count < derived.query.count)
        #expect(Set(derived.stored).isSubset(of: Set(derived.query)))
    }
}
