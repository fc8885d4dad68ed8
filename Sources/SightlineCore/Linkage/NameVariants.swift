/// Placeholder until the variant table lands: no groups.
public enum NameVariants {
    public static func groups(of normalisedName: String) -> [String] { [] }
}
