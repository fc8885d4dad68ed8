import Foundation

/// Children permanently excluded, or suspended for more than five days (provision is due from
/// the sixth), once the policy's number of school days has passed and no new enrolment at
/// another school has been recorded since the exclusion (a late one still ends the concern). Children on a
/// child-in-need or child-protection register come first.
struct ExclusionsReport {
    let input: ReportInput

    func page() -> ReportPage {
        var page = ReportPage()
        let today = input.today
        for (subject, records) in input.subjects {
            let exclusions = records.filter { r in
                guard r.kind == .schoolExclusion, let category = r.string("category") else { return false }
                return category == "permanent" || (category == "suspension" && (r.int("days") ?? 0) > 5)
            }
            guard let latest = exclusions.max(by: { ($0.date("startDate") ?? today) < ($1.date("startDate") ?? today) }),
                  input.isLASchool(latest.source), let start = latest.date("startDate") else { continue }
            let deadline = SchoolDays.adding(input.settings.schoolDays, to: start)
            guard deadline <= today else { continue }
            let enrolledSince = records.contains { r in
                r.kind == .schoolEnrolment && (r.date("onRollFrom").map { $0 > start } ?? false) && r.source != latest.source
            }
            guard !enrolledSince else { continue }
            let registers = records.filter { $0.kind == .laRegister && $0.isCurrent(from: "from", to: "to", on: today) }
                .compactMap { $0.string("register") }.filter { ["cin", "cp"].contains($0) }
            page.rows.append(ReportRow(subjectID: subject, values: [
                "category": .string(latest.string("category") ?? ""),
                "school": .string(latest.source),
                "startDate": .string(start.description),
                "days": latest.fields["days"] ?? .null,
                "provisionDueBy": .string(deadline.description),
                "registers": .array(registers.sorted().map { .string($0) }),
                "uncertain": .bool(input.uncertain.contains(subject)),
            ], priority: registers.contains("cp") ? 0 : registers.isEmpty ? 2 : 1))
        }
        return page
    }

    static func finish(_ page: ReportPage, settings: ReportSettings) -> ReportResult {
        let rows = page.rows.sorted { ($0.priority, $0.values["startDate"]?.stringValue ?? "", $0.subjectID) < ($1.priority, $1.values["startDate"]?.stringValue ?? "", $1.subjectID) }
        return ReportResult(rows: rows, summary: ["children": .number(Double(rows.count)), "schoolDays": .number(Double(settings.schoolDays))])
    }
}

/// School days as weekdays (bank holidays and term dates are not modelled).
public enum SchoolDays {
    public static func adding(_ days: Int, to start: CivilDate) -> CivilDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = calendar.date(from: DateComponents(year: start.year, month: start.month, day: start.day))!
        var remaining = days
        while remaining > 0 {
            date = calendar.date(byAdding: .day, value: 1, to: date)!
            let weekday = calendar.component(.weekday, from: date)
            if weekday != 1 && weekday != 7 { remaining -= 1 }
        }
        return CivilDate(date)
    }
}
