/// An NHS number: ten digits, the last a modulus-11 check digit.
///
/// A check value of 10 is never issued, so such numbers are invalid rather than "check digit 0".
public struct NHSNumber: Hashable, Sendable {
    /// The ten digits, no spaces.
    public let digits: String

    /// Accepts "9434765919", "943 476 5919" or "943-476-5919".
    public init?(_ text: String) {
        var digits: [UInt8] = []
        digits.reserveCapacity(10)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte - UInt8(ascii: "0"))
            case UInt8(ascii: " "), UInt8(ascii: "-"): continue
            default: return nil
            }
        }
        guard digits.count == 10, NHSNumber.checkDigit(of: digits) == digits[9] else { return nil }
        self.digits = String(decoding: digits.map { $0 + UInt8(ascii: "0") }, as: UTF8.self)
    }

    /// The modulus-11 check digit for the first nine digits, or nil when the check value is 10.
    static func checkDigit(of digits: [UInt8]) -> UInt8? {
        var total = 0
        for i in 0..<9 { total += Int(digits[i]) * (10 - i) }
        var check = 11 - (total % 11)
        if check == 11 { check = 0 }
        return check == 10 ? nil : UInt8(check)
    }
}
