/// The elements of a CTF that Sightline reads and where each one's text goes: the one list of
/// them (`CTFReader` reads by it; element paths are below `<Header>` and below `<Pupil>`).
enum CTFElements {
    typealias Assign<Target> = @Sendable (inout Target, String?) -> Void

    static let header: [String: Assign<CTFHeader>] = [
        "CTFversion": { $0.version = $1 },
        "DateTime": { $0.dateTime = $1 },
        "SourceSchool/LEA": { $0.source.lea = $1 },
        "SourceSchool/Estab": { $0.source.estab = $1 },
        "SourceSchool/URN": { $0.source.urn = $1 },
        "DestSchool/LEA": { $0.destination.lea = $1 },
        "DestSchool/Estab": { $0.destination.estab = $1 },
        "DestSchool/URN": { $0.destination.urn = $1 },
    ]

    static let pupil: [String: Assign<CTFPupil>] = [
        "UPN": { $0.upn = $1 },
        "Surname": { $0.surname = $1 },
        "Forename": { $0.forename = $1 },
        "DOB": { $0.dob = $1 },
        "Address/BS7666Address/SAON": { $0.saon = $1 },
        "Address/BS7666Address/PAON": { $0.paon = $1 },
        "Address/BS7666Address/Street": { $0.street = $1 },
        "Address/BS7666Address/UniquePropertyReferenceNumber": { $0.uprn = $1 },
        "Address/AddressLines/AddressLine1": { $0.addressLine1 = $1 },
        "Address/PostCode": { $0.postcode = $1 },
        "SENhistory/SEN/StartDate": { $0.sen[$0.sen.count - 1].startDate = $1 },
        "SENhistory/SEN/SENprovision": { $0.sen[$0.sen.count - 1].provision = $1 },
        "FSMhistory/FSMinstance/FSMstartDate": { $0.fsm[$0.fsm.count - 1].start = $1 },
        "FSMhistory/FSMinstance/FSMendDate": { $0.fsm[$0.fsm.count - 1].end = $1 },
        "Attendance/YearData/Year": { $0.years[$0.years.count - 1].year = $1 },
        "Attendance/YearData/LEA": { $0.years[$0.years.count - 1].school.lea = $1 },
        "Attendance/YearData/Estab": { $0.years[$0.years.count - 1].school.estab = $1 },
        "Attendance/YearData/SessionsPossible": { $0.years[$0.years.count - 1].possible = $1 },
        "Attendance/YearData/SessionsAuthorised": { $0.years[$0.years.count - 1].authorised = $1 },
        "Attendance/YearData/SessionsUnauthorised": { $0.years[$0.years.count - 1].unauthorised = $1 },
        "Attendance/YearData/AttendanceStartDate": { $0.years[$0.years.count - 1].startDate = $1 },
        "SchoolHistory/School/LEA": { $0.schools[$0.schools.count - 1].school.lea = $1 },
        "SchoolHistory/School/Estab": { $0.schools[$0.schools.count - 1].school.estab = $1 },
        "SchoolHistory/School/URN": { $0.schools[$0.schools.count - 1].school.urn = $1 },
        "SchoolHistory/School/EntryDate": { $0.schools[$0.schools.count - 1].entryDate = $1 },
        "SchoolHistory/School/LeavingDate": { $0.schools[$0.schools.count - 1].leavingDate = $1 },
        "SchoolHistory/School/LeavingReason": { $0.schools[$0.schools.count - 1].leavingReason = $1 },
    ]

    /// The repeated parts of a pupil: where one starts, a new entry begins (up to a limit); the
    /// elements above whose paths run through it fill the latest.
    struct Entry: Sendable {
        let count: @Sendable (CTFPupil) -> Int
        let add: @Sendable (inout CTFPupil) -> Void
    }

    static let entries: [String: Entry] = [
        "SchoolHistory/School": Entry(count: { $0.schools.count }, add: { $0.schools.append(.init()) }),
        "Attendance/YearData": Entry(count: { $0.years.count }, add: { $0.years.append(.init()) }),
        "SENhistory/SEN": Entry(count: { $0.sen.count }, add: { $0.sen.append((nil, nil)) }),
        "FSMhistory/FSMinstance": Entry(count: { $0.fsm.count }, add: { $0.fsm.append((nil, nil)) }),
    ]

    /// Every element name on those paths, so that a path is only built where it can matter.
    static let names: Set<String> = {
        let paths = Array(header.keys) + Array(pupil.keys) + Array(entries.keys)
        return Set(paths.flatMap { path in path.split(separator: "/").map { String($0) } } + ["Pupil"])
    }()
}
