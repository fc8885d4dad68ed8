/// A National Insurance number: two prefix letters, six digits, suffix A-D. No check character.
public struct NINumber: Hashable, Sendable {
    public let value: String

    private static let neverInPrefix: Set<Character> = ["D", "F", "I", "Q", "U", "V"]
    private static let unusedPrefixes: Set<String> = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"]

    public init?(_ text: String) {
        let chars = Array(text.uppercased().filter { $0 != " " })
        guard chars.count == 9 else { return nil }
        let first = chars[0], second = chars[1]
        guard first.isASCII, first.isLetter, second.isASCII, second.isLetter,
              !NINumber.neverInPrefix.contains(first), !NINumber.neverInPrefix.contains(second),
              second != "O", !NINumber.unusedPrefixes.contains(String([first, second])),
              chars[2...7].allSatisfy({ $0.isASCII && $0.isNumber }),
              "ABCD".contains(chars[8])
        else { return nil }
        value = String(chars)
    }
}
