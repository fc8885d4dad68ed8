import Foundation

/// Children recorded as young carers by one agency (a GP practice's carers register, or an
/// earlier school) but not by the school they are on roll at now.
struct YoungCarersReport {
    let input: ReportInput

    func page() -> ReportPage {
        var page = ReportPage()
        for (subject, records) in input.subjects {
            let current = records.filter { $0.kind == .schoolEnrolment && $0.isCurrent(from: "onRollFrom", to: "offRollOn", on: input.today)
                && input.isLASchool($0.source) }
            guard !current.isEmpty, !current.contains(where: { $0.bool("youngCarer") == true }) else { continue }
            let currentSources = Set(current.map(\.source))
            let recordedBy = records.filter { $0.bool("youngCarer") == true && !currentSources.contains($0.source) }
            guard !recordedBy.isEmpty else { continue }
            page.rows.append(ReportRow(subjectID: subject, values: [
                "school": .string(current.map(\.source).sorted().joined(separator: ",")),
                "recordedBy": .array(Set(recordedBy.map { "\($0.kind.rawValue) from \($0.source)" }).sorted().map { .string($0) }),
                "lastRecorded": input.instant(recordedBy.map(\.observedAt).max()!),
                "uncertain": .bool(input.uncertain.contains(subject)),
            ]))
        }
        return page
    }

    static func finish(_ page: ReportPage) -> ReportResult {
        let rows = page.rows.sorted { $0.subjectID < $1.subjectID }
        return ReportResult(rows: rows, summary: ["children": .number(Double(rows.count))])
    }
}
