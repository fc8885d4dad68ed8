/// A Unique Pupil Number: check letter, LA code (3), establishment (4), year (2), serial (3).
///
/// A temporary UPN ends in a letter in place of the last serial digit; that letter scores its
/// index in the check alphabet (it is not 0, as some implementations wrongly assume).
public struct UPN: Hashable, Sendable {
    public let value: String
    /// True for a temporary UPN (final character a letter).
    public var isTemporary: Bool { value.utf8.last.map { $0 >= UInt8(ascii: "A") } ?? false }

    static let alphabet = Array("ABCDEFGHJKLMNPQRTUVWXYZ".utf8)  // I, O and S are never used

    public init?(_ text: String) {
        let chars = Array(text.uppercased().utf8.filter { $0 != UInt8(ascii: " ") })
        guard chars.count == 13, let check = UPN.alphabet.firstIndex(of: chars[0]) else { return nil }
        var sum = 0
        for position in 2...13 {
            let ch = chars[position - 1]
            let value: Int
            if ch >= UInt8(ascii: "0") && ch <= UInt8(ascii: "9") {
                value = Int(ch - UInt8(ascii: "0"))
            } else if position == 13, let index = UPN.alphabet.firstIndex(of: ch) {
                value = index
            } else {
                return nil
            }
            sum += position * value
        }
        guard sum % 23 == check else { return nil }
        self.value = String(decoding: chars, as: UTF8.self)
    }

    /// The three-digit DfE LA code embedded in the UPN.
    public var laCode: String { String(value.dropFirst().prefix(3)) }
}
