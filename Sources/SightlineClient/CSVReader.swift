import Foundation

/// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF, a header row. A UTF-8 byte order
/// mark (as some MIS exports write) is skipped.
public struct CSVTable: Sendable {
    public let header: [String]
    /// Rows with their 1-based line number in the file (the header is line 1).
    public let rows: [(line: Int, cells: [String])]

    public init(text: String) throws(ClientError) {
        var records: [(Int, [String])] = []
        var field = ""
        var row: [String] = []
        var inQuotes = false
        var line = 1
        var rowStart = 1
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return scalars.next()
        }
        var first = true
        while let c = next() {
            if first { first = false; if c == "\u{FEFF}" { continue } }
            if inQuotes {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty: inQuotes = true
            case ",": row.append(field); field = ""
            case "\r": continue
            case "\n":
                row.append(field); field = ""
                records.append((rowStart, row)); row = []
                line += 1; rowStart = line
            default: field.unicodeScalars.append(c)
            }
        }
        if inQuotes { throw ClientError("line \(rowStart): a quoted field is not closed") }
        if !field.isEmpty || !row.isEmpty { row.append(field); records.append((rowStart, row)) }
        records.removeAll { $0.1.count == 1 && $0.1[0].trimmingCharacters(in: .whitespaces).isEmpty }
        guard let head = records.first else { throw ClientError("the file is empty; expected a header row") }
        header = head.1.map { $0.trimmingCharacters(in: .whitespaces) }
        rows = records.dropFirst().map { (line: $0.0, cells: $0.1) }
    }
}

/// A client-side problem, with a message that names the fix.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
