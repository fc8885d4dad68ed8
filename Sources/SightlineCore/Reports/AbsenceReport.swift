import Foundation

/// Persistent (10%+) and severe (50%+) absence in each pupil's latest attendance period, per
/// child, and counts per school with small numbers suppressed (threshold from the policy).
struct AbsenceReport {
    let input: ReportInput

    func run() -> ReportResult {
        var rows: [ReportRow] = []
        var perSchool: [String: (pupils: Int, persistent: Int, severe: Int)] = [:]
        for (subject, records) in input.subjects {
            let periods = records.filter { $0.kind == .schoolAttendance && ($0.int("sessionsPossible") ?? 0) > 0 }
            guard let latest = periods.max(by: { ($0.string("periodEnd") ?? "", $0.source) < ($1.string("periodEnd") ?? "", $1.source) }),
                  input.isLASchool(latest.source),
                  let possible = latest.int("sessionsPossible"), let attended = latest.int("sessionsAttended") else { continue }
            let rate = Double(possible - attended) / Double(possible)
            let band = rate >= 0.5 ? "severe" : rate >= 0.1 ? "persistent" : nil
            var school = perSchool[latest.source] ?? (0, 0, 0)
            school.pupils += 1
            if band != nil { school.persistent += 1 }
            if band == "severe" { school.severe += 1 }
            perSchool[latest.source] = school
            guard let band else { continue }
            rows.append(ReportRow(subjectID: subject, values: [
                "band": .string(band),
                "school": .string(latest.source),
                "periodStart": latest.fields["periodStart"] ?? .null,
                "periodEnd": latest.fields["periodEnd"] ?? .null,
                "sessionsPossible": .number(Double(possible)),
                "sessionsAttended": .number(Double(attended)),
                "sessionsUnauthorised": latest.fields["sessionsUnauthorised"] ?? .null,
                "absenceRate": .number((rate * 1000).rounded() / 1000),
                "uncertain": .bool(input.uncertain.contains(subject)),
            ], priority: band == "severe" ? 0 : 1))
        }
        rows.sort { ($0.priority, -($0.values["absenceRate"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0), $0.subjectID)
                  < ($1.priority, -($1.values["absenceRate"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0), $1.subjectID) }
        let threshold = input.settings.suppressBelow
        let schools: [JSONValue] = perSchool.keys.sorted().map { source in
            let s = perSchool[source]!
            return .object(["school": .string(source),
                            "pupils": Suppression.count(s.pupils, below: threshold),
                            "persistent": Suppression.count(s.persistent, below: threshold),
                            "severe": Suppression.count(s.severe, below: threshold)])
        }
        return ReportResult(rows: rows, summary: ["perSchool": .array(schools), "suppressBelow": .number(Double(threshold))])
    }
}

/// Small counts in aggregates are not shown: they can identify a child.
public enum Suppression {
    public static func count(_ n: Int, below threshold: Int) -> JSONValue {
        n > 0 && n < threshold ? .string("<\(threshold)") : .number(Double(n))
    }
}
