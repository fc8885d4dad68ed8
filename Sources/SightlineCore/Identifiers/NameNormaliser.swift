import Foundation

/// Normalises personal names for linkage, so "Zoë  O'Brien-Smith" and "zoe obrien smith" agree.
///
/// Folding: Unicode compatibility decomposition, diacritics and case removed; punctuation
/// (apostrophes, hyphens, full stops) and all spacing removed. The result is only ever fed into a
/// keyed HMAC; it is never stored or shown.
public enum NameNormaliser {
    public static func normalise(_ name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil)
        var out = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars where CharacterSet.letters.contains(scalar) {
            out.append(scalar)
        }
        return String(out).lowercased()
    }
}
