import Foundation

/// Where a child lives, as far as the gateway can tell, and so which LA the child belongs to.
///
/// Decided: residence is the postcode district of the most recent record (by `observedAt`) that
/// gives one; a newer address from any agency supersedes an older one. A child none of whose
/// records gives a postcode has an unknown residence: nothing places them outside an LA, so the
/// caller decides what "unknown" allows (partners' views allow it; reports need a district).
/// The missing-education report applies the same rule to its current evidence only.
public enum Residence {
    /// The district of the most recent record that gives one, or nil.
    public static func latestDistrict(of records: some Sequence<SubjectRecord>) -> String? {
        latestRecord(of: records)?.postcodeDistrict
    }

    /// The most recent record that gives a district.
    public static func latestRecord(of records: some Sequence<SubjectRecord>) -> SubjectRecord? {
        records.filter { $0.postcodeDistrict != nil }.max { $0.observedAt < $1.observedAt }
    }
}

extension GatewayConfig.LocalAuthority {
    public func covers(district: String) -> Bool { districts.contains(district) }

    /// True only when the records place the child in a district outside this LA; an unknown
    /// residence is not outside.
    public func placesOutside(_ records: some Sequence<SubjectRecord>) -> Bool {
        guard let district = Residence.latestDistrict(of: records) else { return false }
        return !covers(district: district)
    }
}
