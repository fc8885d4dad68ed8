import Foundation

/// HMAC-SHA256(link key, domain || 0x00 || normalised value): the only form in which an
/// identifier is kept. Never leaves the gateway.
public struct LinkageKey: Hashable, Sendable, Codable {
    /// Which identifier (or combination) the key was made from.
    public enum Basis: String, Codable, Sendable, CaseIterable {
        case nhsNumber = "nhs"
        case upn = "upn"
        case niNumber = "ni"
        /// normalised given name + family name + date of birth
        case nameAndBirthDate = "name-dob"
        /// as above, plus postcode district: a stricter key for ambiguous names
        case nameBirthDateAndDistrict = "name-dob-district"

        /// Identifiers that name one child on their own. Two of the same basis that differ mean
        /// two children, whatever their names say.
        public var isStrong: Bool { self == .nhsNumber || self == .upn || self == .niNumber }
    }

    public let basis: Basis
    public let digest: Data  // 32 bytes

    public init(basis: Basis, digest: Data) {
        self.basis = basis; self.digest = digest
    }

    public var hex: String { digest.hexString }
}

extension Data {
    public var hexString: String {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(count * 2)
        for b in self { out.append(table[Int(b >> 4)]); out.append(table[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = Data(capacity: chars.count / 2)
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let hi = v(chars[i]), let lo = v(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo); i += 2
        }
        self = out
    }
}
