import Testing
@testable import SightlineCore

@Suite("Postcode")
struct PostcodeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let text, normalised, district, sector: String
        var testDescription: String { text }
    }

    @Test("valid postcodes give the right district and sector", arguments: [
        Case(text: "NW6 4DP", normalised: "NW6 4DP", district: "NW6", sector: "NW6 4"),
        Case(text: "nw64dp", normalised: "NW6 4DP", district: "NW6", sector: "NW6 4"),
        Case(text: "W10 5AB", normalised: "W10 5AB", district: "W10", sector: "W10 5"),
        Case(text: "EC1A 1BB", normalised: "EC1A 1BB", district: "EC1A", sector: "EC1A 1"),
        Case(text: "M1 1AE", normalised: "M1 1AE", district: "M1", sector: "M1 1"),
        Case(text: "B33 8TH", normalised: "B33 8TH", district: "B33", sector: "B33 8"),
    ])
    func valid(_ c: Case) throws {
        let postcode = try #require(Postcode(c.text))
        #expect(postcode.normalised == c.normalised)
        #expect(postcode.district == c.district)
        #expect(postcode.sector == c.sector)
    }

    @Test("invalid postcodes are refused", arguments: [
        "NW6 4CP",   // C is never used in the inward code
        "NW6 4DI", "NW6 4KP", "123 ABC", "", "NW6", "NW6 DP4", "NWW6 4DP", "N 4DP", "NW6 4DPX",
    ])
    func invalid(_ text: String) {
        #expect(Postcode(text) == nil)
    }
}
