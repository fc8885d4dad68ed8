import Foundation

/// A calendar date with no time zone (a date of birth, an on-roll date), ISO 8601 "YYYY-MM-DD".
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1900...2200).contains(year), (1...12).contains(month),
              (1...CivilDate.daysIn(month: month, year: year)).contains(day) else { return nil }
        self.year = year; self.month = month; self.day = day
    }

    /// Parses exactly "YYYY-MM-DD"; rejects impossible dates such as 2026-02-30.
    public init?(iso text: String) {
        let u = Array(text.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
              let y = CivilDate.number(u[0..<4]), let m = CivilDate.number(u[5..<7]),
              let d = CivilDate.number(u[8..<10]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The UTC calendar date of an instant.
    public init(_ date: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        year = c.year!; month = c.month!; day = c.day!
    }

    // Hand-formatted: String(format:) went through Foundation on every record (~4% of ingest).
    public var description: String { "\(Self.padded(year, 4))-\(Self.padded(month, 2))-\(Self.padded(day, 2))" }

    /// "2014-03": year and month of birth, a coarser attribute than the date.
    public var yearMonth: String { "\(Self.padded(year, 4))-\(Self.padded(month, 2))" }

    static func padded(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// Whole years from this date to `other` (an age on a date).
    public func years(until other: CivilDate) -> Int {
        var years = other.year - year
        if (other.month, other.day) < (month, day) { years -= 1 }
        return years
    }

    /// The English school year group on `date`: Reception is 0, Year 1 is 1, ... Year 13 is 13.
    /// A child's cohort is fixed by age on the 31 August before the school year begins.
    public func schoolYearGroup(on date: CivilDate) -> Int {
        let academicYearStart = date.month >= 9 ? date.year : date.year - 1
        let ageOn31August = years(until: CivilDate(year: academicYearStart, month: 8, day: 31)!)
        return ageOn31August - 4
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        var n = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(b - UInt8(ascii: "0"))
        }
        return n
    }
}

/// ISO 8601 instants ("2026-09-08T08:30:00Z", optional fractional seconds, offset or Z).
public enum Instant {
    public static func parse(_ text: String) -> Date? {
        guard text.count >= 20, text.count <= 35, fieldsAreInRange(text) else { return nil }
        if let d = try? Date.ISO8601FormatStyle().parse(text) { return d }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    /// The parser rolls 2026-02-30 over into March and 25:30 into the next day; a date nobody
    /// wrote must be refused instead.
    static func fieldsAreInRange(_ text: String) -> Bool {
        let u = Array(text.utf8)
        guard u.count >= 19, u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"), u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"),
              CivilDate(iso: String(decoding: u[0..<10], as: UTF8.self)) != nil else { return false }
        func two(_ i: Int) -> Int? {
            guard u[i] >= 48, u[i] <= 57, u[i + 1] >= 48, u[i + 1] <= 57 else { return nil }
            return Int(u[i] - 48) * 10 + Int(u[i + 1] - 48)
        }
        guard let h = two(11), let m = two(14), let s = two(17) else { return false }
        return h < 24 && m < 60 && s < 60
    }

    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
