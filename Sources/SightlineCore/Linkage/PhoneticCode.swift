/// A phonetic code for names (American Soundex, with H and W transparent): "MOHAMMED",
/// "MUHAMMAD" and "MOHAMED" share M530, "AISHA" and "AYESHA" share A200. Coarse by design: it
/// is one comparison level among several, weighed by how often it agrees by chance, and only
/// ever kept as a keyed digest.
public enum PhoneticCode {
    public static func soundex(_ normalisedName: String) -> String? {
        let letters = Array(normalisedName.uppercased().unicodeScalars.filter { $0.value >= 65 && $0.value <= 90 })
        guard let first = letters.first else { return nil }
        func digit(_ s: Unicode.Scalar) -> Character? {
            switch s {
            case "B", "F", "P", "V": "1"
            case "C", "G", "J", "K", "Q", "S", "X", "Z": "2"
            case "D", "T": "3"
            case "L": "4"
            case "M", "N": "5"
            case "R": "6"
            default: nil  // vowels, Y, H, W
            }
        }
        var code = String(Character(first))
        var last = digit(first)
        for s in letters.dropFirst() {
            let d = digit(s)
            if s == "H" || s == "W" { continue }   // transparent: do not separate equal codes
            if let d, d != last { code.append(d); if code.count == 4 { break } }
            last = d
        }
        while code.count < 4 { code.append("0") }
        return code
    }
}
