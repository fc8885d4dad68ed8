import Foundation

/// Persistent (10%+) and severe (50%+) absence in each pupil's latest attendance period, per
/// child, and counts per school with small numbers suppressed (threshold from the policy).
struct AbsenceReport {
    let input: ReportInput

    /// Tallies: "pupils|", "persistent|" and "severe|" followed by the school.
    func page() -> ReportPage {
        var page = ReportPage()
        for (subject, records) in input.subjects {
            let periods = records.filter { $0.kind == .schoolAttendance && ($0.int("sessionsPossible") ?? 0) > 0 }
            guard let latest = periods.max(by: { ($0.string("periodEnd") ?? "", $0.source) < ($1.string("periodEnd") ?? "", $1.source) }),
                  input.isLASchool(latest.source),
                  let possible = latest.int("sessionsPossible"), let attended = latest.int("sessionsAttended") else { continue }
            let rate = Double(possible - attended) / Double(possible)
            let band = rate >= 0.5 ? "severe" : rate >= 0.1 ? "persistent" : nil
            page.tallies["pupils|" + latest.source, default: 0] += 1
            if band != nil { page.tallies["persistent|" + latest.source, default: 0] += 1 }
            if band == "severe" { page.tallies["severe|" + latest.source, default: 0] += 1 }
            guard let band else { continue }
            page.rows.append(ReportRow(subjectID: subject, values: [
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
        return page
    }

    static func finish(_ page: ReportPage, settings: ReportSettings) -> ReportResult {
        let rows = page.rows.sorted { ($0.priority, -($0.values["absenceRate"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0), $0.subjectID)
                  < ($1.priority, -($1.values["absenceRate"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 0), $1.subjectID) }
        let threshold = settings.suppressBelow
        let sources = Set(page.tallies.keys.compactMap { $0.hasPrefix("pupils|") ? String($0.dropFirst("pupils|".count)) : nil })
        let schools: [JSONValue] = sources.sorted().map { source in
            func n(_ what: String) -> Int { page.tallies[what + "|" + source] ?? 0 }
            return .object(["school": .string(source),
                            "pupils": Suppression.count(n("pupils"), below: threshold),
                            "persistent": Suppression.count(n("persistent"), below: threshold),
                            "severe": Suppression.count(n("severe"), below: threshold)])
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
