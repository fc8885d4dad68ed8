import Testing
@testable import SightlineCore

@Suite("Name normalisation for linkage")
struct NameNormaliserTests {
    @Test("spellings of one name normalise to the same text", arguments: [
        ["Zoë", "zoe", "ZOE", "Zoe\u{0308}"],
        ["O'Brien", "obrien", "O’Brien", "O Brien"],
        ["Smith-Jones", "smith jones", "SMITHJONES", "Smith - Jones"],
        ["De Souza", "desouza", "de souza", "DeSouza"],
        ["ＳＭＩＴＨ", "smith", "Ｓｍｉｔｈ"],
        ["Renée-Smith", "renee smith"],
        ["Ó Súilleabháin", "osuilleabhain"],
    ])
    func sameName(_ spellings: [String]) {
        let normalised = Set(spellings.map(NameNormaliser.normalise))
        #expect(normalised.count == 1, "\(spellings) gave \(normalised)")
    }

    @Test("the result is lower-case letters only")
    func lettersOnly() {
        #expect(NameNormaliser.normalise("  Zoë  O'Brien-Smith. ") == "zoeobriensmith")
    }

    @Test("different names stay different")
    func differentNames() {
        #expect(NameNormaliser.normalise("Zoe") != NameNormaliser.normalise("Zara"))
        #expect(NameNormaliser.normalise("N'Diaye") != NameNormaliser.normalise("N'Diye"))
    }
}
