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
