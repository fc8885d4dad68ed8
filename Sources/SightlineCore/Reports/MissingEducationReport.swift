import Foundation

/// Children of compulsory school age who live in the LA (by a current GP registration, tenancy
/// or LA register), are on no school roll, and are not on an elective-home-education or
/// children-not-in-school register. The headline question of the product.
///
/// Edge cases, decided:
/// - Compulsory school age is taken as Year 1 to Year 11 on the report date (from the month of
///   birth). Reception is not compulsory; after Year 11 education duties differ.
/// - A pupil taken off roll "to another school" whose new school has not submitted yet is listed
///   as `transfer-unconfirmed`: the CME team should confirm the move, not assume it.
/// - A deregistered GP registration or an ended tenancy is no evidence of living here now.
/// - A household that moved out of area (latest tenancy) is not listed: the receiving LA is
///   responsible, and the tenancy says where it is known.
/// - Residence is the district of the most recent current evidence; out-of-area districts are
///   not listed.
/// - A child an agency has said, answering an enquiry, attends school elsewhere or moved to
///   another LA stays listed as `enquiry-answered` with the answer, until a newer record arrives.
struct MissingEducationReport {
    let input: ReportInput

    func page() -> ReportPage {
        var page = ReportPage()
        let districts = Set(input.la.districts)
        for (subject, records) in input.subjects {
            guard let row = evaluate(subject, records, districts: districts) else { continue }
            page.tallies[row.values["status"]?.stringValue ?? "", default: 0] += 1
            page.rows.append(row)
        }
        return page
    }

    /// Tallies are counts by status.
    static func finish(_ page: ReportPage) -> ReportResult {
        let rows = page.rows.sorted { ($0.priority, $0.subjectID) < ($1.priority, $1.subjectID) }
        return ReportResult(rows: rows, summary: ["children": .number(Double(rows.count)),
                                                  "byStatus": .object(page.tallies.mapValues { .number(Double($0)) })])
    }

    func evaluate(_ subject: Int64, _ records: [SubjectRecord], districts: Set<String>) -> ReportRow? {
        let today = input.today
        let attributes = SubjectAttributes(records: records)
        guard let yearGroup = attributes.schoolYearGroup(on: today), (1...11).contains(yearGroup) else { return nil }

        let enrolments = records.filter { $0.kind == .schoolEnrolment }
        if enrolments.contains(where: { $0.isCurrent(from: "onRollFrom", to: "offRollOn", on: today) }) { return nil }
        let registers = records.filter { $0.kind == .laRegister && $0.isCurrent(from: "from", to: "to", on: today) }
        if registers.contains(where: { ["ehe", "cnis"].contains($0.string("register") ?? "") }) { return nil }

        let tenancies = records.filter { $0.kind == .housingTenancy }
        if let latest = tenancies.max(by: { ($0.date("tenancyFrom") ?? CivilDate(year: 1900, month: 1, day: 1)!) < ($1.date("tenancyFrom") ?? CivilDate(year: 1900, month: 1, day: 1)!) }),
           latest.bool("movedOutOfArea") == true { return nil }

        var evidence: [SubjectRecord] = []
        var reasons: [String] = []
        for r in records {
            switch r.kind {
            case .gpRegistration where r.isCurrent(from: "registeredFrom", to: "deregisteredOn", on: today):
                evidence.append(r)
                reasons.append("registered with GP practice \(r.string("practice") ?? "?") since \(r.string("registeredFrom") ?? "?")")
            case .housingTenancy where r.isCurrent(from: "tenancyFrom", to: "tenancyTo", on: today) && r.bool("movedOutOfArea") != true:
                evidence.append(r)
                reasons.append("tenancy since \(r.string("tenancyFrom") ?? "?")")
            case .laRegister where r.isCurrent(from: "from", to: "to", on: today):
                evidence.append(r)
                reasons.append("on the LA \(r.string("register") ?? "?") register since \(r.string("from") ?? "?")")
            default: break
            }
        }
        guard let district = Residence.latestDistrict(of: evidence), districts.contains(district) else { return nil }

        let status: String
        let priority: Int
        // The latest enrolment that ended; a pending admission (starting after today) has no end
        // and says nothing about where the child was.
        if let last = enrolments.filter({ $0.date("offRollOn") != nil }).max(by: { $0.date("offRollOn")! < $1.date("offRollOn")! }),
           let off = last.string("offRollOn") {
            let why = last.string("offRollReason") ?? "no reason given"
            reasons.append("off roll at \(last.source) on \(off) (\(why)); no current enrolment received")
            (status, priority) = why == "other-school" ? ("transfer-unconfirmed", 2) : ("off-roll", 1)
        } else {
            reasons.append("no school has recorded this child on roll")
            (status, priority) = ("never-on-roll", 0)
        }
        // An agency answered an enquiry that the child is accounted for, and nothing newer has
        // arrived since: the row says so, and sorts after the children nobody has explained.
        var answer: [String: JSONValue] = [:]
        var (shown, order) = (status, priority)
        // Only answers newer than every record count; one that raises a concern (or says the child
        // is not known) keeps the row where it was, whatever another agency said.
        let latestRecord = records.map(\.observedAt).max() ?? .distantPast
        let current = (input.enquiryAnswers[subject] ?? []).filter { $0.at >= latestRecord }
        let accounting = current.last { EnquiryAnswerStatus(rawValue: $0.status)?.accountsForChild == true }
        if let a = accounting, !current.contains(where: { !(EnquiryAnswerStatus(rawValue: $0.status)?.accountsForChild ?? false) && $0.status != EnquiryAnswerStatus.leftTheCountry.rawValue }) {
            (shown, order) = ("enquiry-answered", 3)
            answer = ["enquiryAnswer": .string(a.status), "answeredOn": input.instant(a.at)]
            reasons.append("an agency answered an enquiry: \(a.status)")
        } else if let concern = current.last(where: { $0.status == EnquiryAnswerStatus.safeguardingConcern.rawValue }) {
            answer = ["enquiryAnswer": .string(concern.status), "answeredOn": input.instant(concern.at)]
            reasons.append("an agency answered an enquiry: safeguarding-concern")
        }
        var lastSeen: [String: JSONValue] = [:]
        for (kind, rs) in Dictionary(grouping: records, by: \.kind) {
            lastSeen[kind.sourceRole.rawValue] = input.instant(rs.map(\.observedAt).max()!)
        }
        return ReportRow(subjectID: subject, values: answer.merging([
            "status": .string(shown),
            "schoolYearGroup": .number(Double(yearGroup)),
            "postcodeDistrict": .string(district),
            "reasons": .array(reasons.map { .string($0) }),
            "lastSeen": .object(lastSeen),
            "uncertain": .bool(input.uncertain.contains(subject)),
        ]) { a, _ in a }, priority: order)
    }
}
