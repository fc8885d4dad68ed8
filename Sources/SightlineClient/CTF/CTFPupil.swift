/// One `<Pupil>` of a CTF as it was read: the text of the elements Sightline uses, unconverted.
/// Lives only while its records are made; nothing of it is logged or kept.
public struct CTFPupil: Sendable {
    /// 1-based position among the file's pupils, and the XML line its `<Pupil>` starts on.
    public let index: Int
    public let line: Int

    public var upn: String?
    public var surname: String?
    public var forename: String?
    public var dob: String?

    /// `Address/BS7666Address`: secondary and primary addressable object names, street, UPRN.
    public var saon: String?
    public var paon: String?
    public var street: String?
    public var uprn: String?
    /// `Address/AddressLines/AddressLine1`, for an address not in BS7666 form.
    public var addressLine1: String?
    public var postcode: String?

    public struct SchoolSpell: Sendable {
        public var school = CTFSchool()
        public var entryDate: String?
        public var leavingDate: String?
        public var leavingReason: String?
    }
    /// `SchoolHistory/School`.
    public var schools: [SchoolSpell] = []

    public struct YearData: Sendable {
        public var year: String?
        public var school = CTFSchool()
        public var possible: String?
        public var authorised: String?
        public var unauthorised: String?
        public var startDate: String?
    }
    /// `Attendance/YearData`.
    public var years: [YearData] = []

    /// `SENhistory/SEN`: start date and provision (N, K or E).
    public var sen: [(startDate: String?, provision: String?)] = []
    /// `FSMhistory/FSMinstance`: start and end of each period of free-school-meal eligibility.
    public var fsm: [(start: String?, end: String?)] = []

    /// What could not be read (an element's text too long, too many entries), by element path:
    /// such a pupil becomes no records.
    public var problems: [(element: String, reason: String)] = []

    public init(index: Int, line: Int) { self.index = index; self.line = line }

    /// "pupil 17": put before every reason given about this pupil.
    public var position: String { "pupil \(index)" }
}
