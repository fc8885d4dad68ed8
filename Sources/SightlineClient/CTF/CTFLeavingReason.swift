/// A CTF's `SchoolHistory/School/LeavingReason` as the design's `offRollReason`.
///
/// MIS write either the ground for deleting the pupil's name from the admission register, as the
/// letter of regulation 8(1) of the Education (Pupil Registration) (England) Regulations 2006
/// ("8(1)(h)", "8(h)", "8h"), or their own description. Grounds read: (a), (b) registered at, or
/// moved to, another school -> other-school; (d) education otherwise than at school -> ehe;
/// (f) no longer living where the school can be reached -> moved-away; (h) 20 school days'
/// absence, whereabouts unknown after enquiries -> cme; (m) permanently excluded ->
/// permanent-exclusion; any other ground or description -> other. A CME transfer (destination
/// unknown) makes every leaver `cme`, whatever the ground says.
enum CTFLeavingReason {
    static func offRollReason(_ text: String?, cmeTransfer: Bool) -> String? {
        if cmeTransfer { return "cme" }
        guard let text, !text.isEmpty else { return nil }
        let compact = String(text.lowercased().filter { !$0.isWhitespace && $0 != "(" && $0 != ")" && $0 != "." })
        if compact.hasPrefix("8"), let ground = ground(compact.dropFirst()) { return ground }
        let words = text.lowercased()
        if words.contains("home educ") || words.contains("otherwise than at school") { return "ehe" }
        if words.contains("missing") || words.contains("whereabouts") || words == "cme" { return "cme" }
        if words.contains("exclu") && words.contains("perman") { return "permanent-exclusion" }
        if words.contains("another school") || words.contains("other school") || words.contains("transfer") { return "other-school" }
        if words.contains("moved away") || words.contains("moved out") || words.contains("abroad") || words.contains("emigrat") { return "moved-away" }
        return "other"
    }

    /// "1h" or "h" (what follows the 8 of "8(1)(h)" once brackets are gone) to a reason.
    private static func ground(_ rest: Substring) -> String? {
        let letter = rest.hasPrefix("1") && rest.count == 2 ? rest.dropFirst() : rest
        guard letter.count == 1, let c = letter.first, c.isLetter else { return nil }
        switch c {
        case "a", "b": return "other-school"
        case "d": return "ehe"
        case "f": return "moved-away"
        case "h": return "cme"
        case "m": return "permanent-exclusion"
        default: return "other"
        }
    }
}
