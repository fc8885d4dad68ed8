import Testing
@testable import SightlineCore

@Suite("NHS number")
struct NHSNumberTests {
    @Test("DOMAIN.md valid vectors", arguments: ["9434765919", "6541003238", "9912003888", "9990000018"])
    func validVectors(_ text: String) throws {
        let number = try #require(NHSNumber(text))
        #expect(number.digits == text)
    }

    @Test("a check value of 10 is never issued, so 9990000000 is invalid")
    func checkValueTen() {
        #expect(NHSNumber("9990000000") == nil)
        // Not "check digit 0": the check value for 999000000 is 10, which means no valid number.
        #expect(NHSNumber.checkDigit(of: [9, 9, 9, 0, 0, 0, 0, 0, 0, 0]) == nil)
    }

    @Test("a wrong check digit is refused", arguments: ["9434765918", "6541003239", "9912003880", "9990000019"])
    func wrongCheckDigit(_ text: String) {
        #expect(NHSNumber(text) == nil)
    }

    @Test("spaces and dashes as written on letters and forms are accepted",
          arguments: ["943 476 5919", "943-476-5919", " 943 476 5919 ", "943-476 5919"])
    func separatorsAccepted(_ text: String) throws {
        #expect(try #require(NHSNumber(text)).digits == "9434765919")
    }

    @Test("wrong length, letters and other characters are refused",
          arguments: ["943476591", "94347659190", "943 476 591", "94347659A9", "ABCDEFGHIJ", "943.476.5919", "943_476_5919", ""])
    func malformedRefused(_ text: String) {
        #expect(NHSNumber(text) == nil)
    }
}
