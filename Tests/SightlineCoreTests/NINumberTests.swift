import Testing
@testable import SightlineCore

@Suite("National Insurance number")
struct NINumberTests {
    @Test("valid numbers, with spaces or in lower case", arguments: ["AB123456C", "AB 12 34 56 C", "ab123456c", "OA123456D"])
    func valid(_ text: String) throws {
        let ni = try #require(NINumber(text))
        #expect(ni.value == text.uppercased().replacingOccurrences(of: " ", with: ""))
    }

    @Test("D, F, I, Q, U and V are never in the prefix", arguments: ["D", "F", "I", "Q", "U", "V"])
    func forbiddenPrefixLetters(_ letter: String) {
        #expect(NINumber("\(letter)A123456C") == nil, "\(letter) first")
        #expect(NINumber("A\(letter)123456C") == nil, "\(letter) second")
    }

    @Test("O is never the second letter")
    func oSecond() {
        #expect(NINumber("AO123456C") == nil)
    }

    @Test("unused prefixes are refused", arguments: ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"])
    func unusedPrefixes(_ prefix: String) {
        #expect(NINumber("\(prefix)123456C") == nil)
    }

    @Test("the suffix is A to D", arguments: ["AB123456E", "AB123456Z", "AB1234567", "AB123456"])
    func badSuffix(_ text: String) {
        #expect(NINumber(text) == nil)
    }

    @Test("six digits are required", arguments: ["AB12345C", "AB1234567C", "AB12E456C"])
    func badDigits(_ text: String) {
        #expect(NINumber(text) == nil)
    }
}
