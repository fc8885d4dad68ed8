import Foundation
import SightlineCore

/// How a CSV export's columns become a record (ops/mappings/*.yaml). Value types come from the
/// record kind's schema in SightlineCore, so a mapping only says which column holds what.
public struct ColumnMapping: Sendable {
    public enum Source: Sendable {
        case column(String)
        /// "{Adno}#{Period Start}": column names in braces.
        case template(String, columns: [String])
    }
    public struct Target: Sendable {
        public let path: String  // "localRef", "identifiers.upn", "fields.onRollFrom"
        public let source: Source
        public let values: [String: String]?
        public let dateFormat: String?
    }

    public let kind: RecordKind
    public let dateFormat: String
    public let targets: [Target]

    static let topLevel: Set<String> = ["localRef", "observedAt"]

    public static func load(path: String) throws(SightlineError) -> ColumnMapping {
        let file = try YAMLFile(path: path, code: .mapping)
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["kind", "date-format", "columns"])
        let kindNode = try root.required("kind", in: rootNode)
        guard let kind = RecordKind(rawValue: try kindNode.string()) else {
            throw kindNode.error("unknown record kind; expected one of \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let dateFormat = try root["date-format"]?.string() ?? "yyyy-MM-dd"
        var targets: [Target] = []
        for (path, node) in try root.required("columns", in: rootNode).mapping() {
            let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
            switch parts.first {
            case "identifiers" where parts.count == 2 && RecordValidator.identifierNames.contains(parts[1]): break
            case "fields" where parts.count == 2 && kind.schema.field(parts[1]) != nil: break
            case let p? where parts.count == 1 && topLevel.contains(p): break
            default:
                throw node.keyError("not a record path; use localRef, observedAt, identifiers.<\(RecordValidator.identifierNames.sorted().joined(separator: "|"))> or fields.<\(kind.schema.fieldNames.joined(separator: "|"))>")
            }
            if node.isScalar {
                targets.append(Target(path: path, source: .column(try node.string()), values: nil, dateFormat: nil))
                continue
            }
            let d = try node.dictionary(allowedKeys: ["column", "template", "values", "date-format"])
            let source: Source
            if let c = d["column"] { source = .column(try c.string()) }
            else if let t = d["template"] {
                let template = try t.string()
                let names = template.split(separator: "{", omittingEmptySubsequences: false).dropFirst()
                    .compactMap { part in part.contains("}") ? part.split(separator: "}", omittingEmptySubsequences: false).first.map(String.init) : nil }
                guard !names.isEmpty, !names.contains(where: \.isEmpty) else { throw t.error("a template names columns in braces, e.g. \"{Adno}#{Period Start}\"") }
                source = .template(template, columns: names)
            } else { throw node.error("give column: NAME or template: \"{A}-{B}\"") }
            var values: [String: String]? = nil
            if let v = d["values"] {
                var map: [String: String] = [:]
                for (from, to) in try v.mapping() { map[from] = try to.string() }
                values = map
            }
            targets.append(Target(path: path, source: source, values: values, dateFormat: try d["date-format"]?.string()))
        }
        guard targets.contains(where: { $0.path == "localRef" }) else { throw rootNode.error("columns must map localRef (the agency's own reference for the row)") }
        return ColumnMapping(kind: kind, dateFormat: dateFormat, targets: targets)
    }

    /// Checks that every mapped column is in the header; names the missing ones.
    public func check(header: [String]) throws(ClientError) {
        let present = Set(header)
        var missing: [String] = []
        for t in targets {
            switch t.source {
            case .column(let c): if !present.contains(c) { missing.append(c) }
            case .template(_, let cs): missing += cs.filter { !present.contains($0) }
            }
        }
        if !missing.isEmpty {
            throw ClientError("the CSV header lacks column(s) \(missing.map { "'\($0)'" }.joined(separator: ", ")) that the mapping for \(kind.rawValue) names; the header has: \(header.joined(separator: ", "))")
        }
    }

    /// One CSV row as a record value, or the problem (field path and reason, never the cell value).
    public func record(cells: [String], header: [String], line: Int, observedAt: String) -> Result<JSONValue, RecordRejection> {
        var index: [String: Int] = [:]
        for (i, h) in header.enumerated() where index[h] == nil { index[h] = i }
        func cell(_ name: String) -> String {
            guard let i = index[name], i < cells.count else { return "" }
            return cells[i].trimmingCharacters(in: .whitespaces)
        }
        var draft = RecordDraft(kind: kind, observedAt: observedAt)
        for t in targets {
            var raw: String
            switch t.source {
            case .column(let c): raw = cell(c)
            case .template(let template, let columns):
                raw = template
                for c in columns { raw = raw.replacingOccurrences(of: "{\(c)}", with: cell(c)) }
                if columns.allSatisfy({ cell($0).isEmpty }) { raw = "" }
            }
            if raw.isEmpty { continue }
            if let values = t.values {
                guard let mapped = values[raw] else {
                    return .failure(RecordRejection(line: line, field: t.path, reason: "value not in the mapping's values list (\(values.keys.sorted().joined(separator: ", ")))", localRef: draft.localRef))
                }
                raw = mapped
            }
            let converted: Result<JSONValue, ConversionProblem>
            let parts = t.path.split(separator: ".", maxSplits: 1).map(String.init)
            let format = t.dateFormat ?? dateFormat
            switch t.path {
            case "localRef": converted = .success(.string(raw))
            case "observedAt": converted = ValueConversion.instant(raw, dateFormat: format)
            case "identifiers.dateOfBirth": converted = ValueConversion.date(raw, format: format)
            default:
                if parts[0] == "fields", let spec = kind.schema.field(parts[1]) {
                    converted = ValueConversion.convert(raw, to: spec.type, dateFormat: format)
                } else {
                    converted = .success(.string(raw))
                }
            }
            switch converted {
            case .failure(let problem): return .failure(RecordRejection(line: line, field: t.path, reason: problem.reason, localRef: draft.localRef))
            case .success(let value): _ = draft.set(t.path, value)
            }
        }
        return .success(draft.value)
    }
}

struct ConversionProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Converts CSV cell text to the JSON type a schema field wants.
enum ValueConversion {
    static func convert(_ raw: String, to type: FieldSpec.FieldType, dateFormat: String) -> Result<JSONValue, ConversionProblem> {
        switch type {
        case .date: return date(raw, format: dateFormat)
        case .instant: return instant(raw, dateFormat: dateFormat)
        case .boolean:
            switch raw.lowercased() {
            case "y", "yes", "true", "1": return .success(.bool(true))
            case "n", "no", "false", "0": return .success(.bool(false))
            default: return .failure(ConversionProblem("expected Y/N, yes/no, true/false or 1/0"))
            }
        case .integer:
            guard let i = Int(raw) else { return .failure(ConversionProblem("expected a whole number")) }
            return .success(.number(Double(i)))
        case .oneOf, .odsPracticeCode: return .success(.string(raw))
        }
    }

    /// "dd/MM/yyyy" style patterns (dd, MM, yyyy and separators) to ISO "YYYY-MM-DD".
    static func date(_ raw: String, format: String) -> Result<JSONValue, ConversionProblem> {
        let f = Array(format), r = Array(raw)
        guard f.count == r.count else { return .failure(ConversionProblem("not a date in the form \(format)")) }
        var y = "", m = "", d = ""
        for (fc, rc) in zip(f, r) {
            switch fc {
            case "y": y.append(rc)
            case "M": m.append(rc)
            case "d": d.append(rc)
            default: if fc != rc { return .failure(ConversionProblem("not a date in the form \(format)")) }
            }
        }
        guard y.count == 4, let year = Int(y), let month = Int(m), let day = Int(d),
              let date = CivilDate(year: year, month: month, day: day) else {
            return .failure(ConversionProblem("not a date in the form \(format)"))
        }
        return .success(.string(date.description))
    }

    static func instant(_ raw: String, dateFormat: String) -> Result<JSONValue, ConversionProblem> {
        if Instant.parse(raw) != nil { return .success(.string(raw)) }
        if case .success(.string(let d)) = date(raw, format: dateFormat) { return .success(.string(d + "T00:00:00Z")) }
        return .failure(ConversionProblem("not a date-time (ISO 8601) or a date in the form \(dateFormat)"))
    }
}
