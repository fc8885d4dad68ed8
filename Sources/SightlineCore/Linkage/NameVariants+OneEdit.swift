import Foundation

extension NameVariants {
    /// Every name of the table and each of its one-letter deletions -> the table names it came
    /// from: a name one edit from a table name (a letter added, dropped, changed, or two
    /// neighbours swapped) shares a key with it.
    static let oneEditIndex: [String: [String]] = {
        var out: [String: Set<String>] = [:]
        for name in index.keys {
            for key in ComparisonKeyer.deletions(name) { out[key, default: []].insert(name) }
        }
        return out.mapValues { $0.sorted() }
    }()

    /// The groups of a normalised given name; for a name the table does not hold, the groups of
    /// the table names one edit from it, when there are at most two such names. A typo and a
    /// short form together ("Edwaard" at the school, "Teddy" at the GP) then still meet as
    /// variants, where otherwise the two names would differ outright (and read as twins).
    /// Names of fewer than four letters are taken as they are: one edit turns "Al" into "Ali".
    public static func groupsAllowingOneEdit(of normalisedName: String) -> [String] {
        let exact = groups(of: normalisedName)
        guard exact.isEmpty, normalisedName.count >= 4 else { return exact }
        var near = Set<String>()
        // The name itself among the keys finds a table name it is a deletion of (a letter too few).
        for key in ComparisonKeyer.deletions(normalisedName) { near.formUnion(oneEditIndex[key] ?? []) }
        guard !near.isEmpty, near.count <= 2 else { return [] }
        return Array(Set(near.flatMap { groups(of: $0) })).sorted()
    }
}
