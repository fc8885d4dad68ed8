import Testing
@testable import SightlineCore

@Suite("Unique Pupil Number")
struct UPNTests {
    static let alphabet = Array("ABCDEFGHJKLMNPQRTUVWXYZ")

    /// The check letter for a UPN body, computed independently of `UPN`. With `finalLetterAsZero`
    /// it makes the mistake DOMAIN.md warns about: scoring a temporary UPN's final letter as 0.
    static func checkLetter(_ upn: String, finalLetterAsZero: Bool = false) -> Character {
        let chars = Array(upn)
        var sum = 0
        for position in 2...13 {
            let ch = chars[position - 1]
            let value = ch.wholeNumberValue ?? (finalLetterAsZero ? 0 : alphabet.firstIndex(of: ch)!)
            sum += position * value
        }
        return alphabet[sum % 23]
    }

    @Test("DOMAIN.md valid vectors, permanent and temporary",
          arguments: ["H801200001001", "B801200005001", "A950000178301", "H243278544154", "P207000016049",
                      "G80120000101A", "W80120000101B"])
    func validVectors(_ text: String) throws {
        let upn = try #require(UPN(text))
        #expect(upn.value == text)
    }

    @Test("DOMAIN.md invalid vectors", arguments: ["Z801200001001", "A801200005001", "R247962919251"])
    func invalidVectors(_ text: String) {
        #expect(UPN(text) == nil)
    }

    @Test("P207000016049 is right: no other check letter is accepted for that body")
    func vendorHelpExample() {
        #expect(UPN("P207000016049") != nil)
        for letter in Self.alphabet where letter != "P" {
            #expect(UPN("\(letter)207000016049") == nil, "check letter \(letter)")
        }
    }

    @Test("temporary UPNs are recognised as such")
    func temporary() throws {
        #expect(try #require(UPN("G80120000101A")).isTemporary)
        #expect(try #require(UPN("W80120000101B")).isTemporary)
        #expect(try #require(UPN("H801200001001")).isTemporary == false)
    }

    @Test("a temporary UPN's final letter scores its alphabet index, not 0")
    func finalLetterScoresItsIndex() {
        // A is index 0, so G80120000101A comes out the same either way; B (index 1) shows the difference.
        #expect(Self.checkLetter("G80120000101A") == "G")
        #expect(Self.checkLetter("G80120000101A", finalLetterAsZero: true) == "G")
        #expect(Self.checkLetter("W80120000101B") == "W")
        #expect(Self.checkLetter("W80120000101B", finalLetterAsZero: true) == "G")
        #expect(UPN("W80120000101B") != nil)
        #expect(UPN("G80120000101B") == nil, "scoring the final B as 0 would make this valid")
    }

    @Test("lower case is accepted and normalised to upper case",
          arguments: [("h801200001001", "H801200001001"), ("w80120000101b", "W80120000101B"), ("p207000016049", "P207000016049")])
    func lowerCase(_ input: String, _ normalised: String) throws {
        #expect(try #require(UPN(input)).value == normalised)
    }

    @Test("I, O and S are never check letters nor final letters",
          arguments: ["I801200001001", "O801200001001", "S801200001001", "G80120000101I", "G80120000101O", "G80120000101S"])
    func unusedLettersRefused(_ text: String) {
        #expect(UPN(text) == nil)
    }

    @Test("wrong length or a letter in a digit position is refused",
          arguments: ["H80120000100", "H8012000010011", "H8012000A1001", "8801200001001", ""])
    func malformedRefused(_ text: String) {
        #expect(UPN(text) == nil)
    }

    @Test("the LA code is characters 2 to 4")
    func laCode() throws {
        #expect(try #require(UPN("H801200001001")).laCode == "801")
        #expect(try #require(UPN("A950000178301")).laCode == "950")
    }
}
