/// A UK postcode: outward code (area + district) and inward code (sector digit + unit).
public struct Postcode: Hashable, Sendable {
    /// "NW6"
    public let outward: String
    /// "4DP"
    public let inward: String

    /// "NW6 4DP"
    public var normalised: String { outward + " " + inward }
    /// The district, about 10,000 addresses: the outward code.
    public var district: String { outward }
    /// The sector, about 3,000 addresses: "NW6 4".
    public var sector: String { outward + " " + String(inward.prefix(1)) }

    public init?(_ text: String) {
        let compact = Array(text.uppercased().unicodeScalars.filter { $0 != " " }.map(Character.init))
        guard (5...7).contains(compact.count) else { return nil }
        let inward = compact.suffix(3), outward = compact.prefix(compact.count - 3)
        // Inward: digit, then two letters (C, I, K, M, O, V are never used there).
        let inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"
        guard let sectorDigit = inward.first, sectorDigit.isASCII, sectorDigit.isNumber,
              inward.dropFirst().allSatisfy({ inwardLetters.contains($0) })
        else { return nil }
        // Outward: area of one or two letters, then a digit, then an optional digit or letter.
        let letters = outward.prefix { $0.isASCII && $0.isLetter }
        let rest = outward.dropFirst(letters.count)
        guard (1...2).contains(letters.count), let d = rest.first, d.isASCII, d.isNumber,
              rest.count <= 2,
              rest.dropFirst().allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter) })
        else { return nil }
        self.outward = String(outward)
        self.inward = String(inward)
    }
}
