/// The part a participant plays in the partnership; the path segment after the trust domain.
public enum Role: String, CaseIterable, Codable, Sendable, Comparable {
    /// `steward`: the LA's data-quality officer, who works the linkage review queue.
    case school, nhs, police, housing, la, partner, steward, auditor

    /// Roles that submit records about children.
    public static let submitters: Set<Role> = [.school, .nhs, .police, .housing, .la]

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}
