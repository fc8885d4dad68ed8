import Foundation
import Testing
@testable import SightlineCore

@Suite("Civil dates")
struct CivilDateTests {
    func date(_ text: String) throws -> CivilDate { try #require(CivilDate(iso: text)) }

    @Test("ISO dates parse and print back")
    func parses() throws {
        let d = try date("2014-03-02")
        #expect((d.year, d.month, d.day) == (2014, 3, 2))
        #expect(d.description == "2014-03-02")
        #expect(d.yearMonth == "2014-03")
    }

    @Test("impossible or loosely written dates are refused",
          arguments: ["2026-02-30", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01", "2026-01-1", "26-01-01",
                      "2026/01/01", "2026-01-01T00:00:00Z", " 2026-01-01", "", "abcd-ef-gh"])
    func refused(_ text: String) {
        #expect(CivilDate(iso: text) == nil)
    }

    @Test("29 February exists only in leap years")
    func leapYears() {
        #expect(CivilDate(iso: "2024-02-29") != nil)
        #expect(CivilDate(iso: "2000-02-29") != nil)
        #expect(CivilDate(iso: "2100-02-29") == nil)
        #expect(CivilDate(iso: "2026-02-29") == nil)
    }

    @Test("years(until:) counts whole years, the birthday itself included")
    func yearsUntil() throws {
        let born = try date("2014-03-02")
        #expect(born.years(until: try date("2026-03-01")) == 11)
        #expect(born.years(until: try date("2026-03-02")) == 12)
        #expect(born.years(until: try date("2014-03-02")) == 0)
        let leapling = try date("2012-02-29")
        #expect(leapling.years(until: try date("2013-02-28")) == 0)
        #expect(leapling.years(until: try date("2013-03-01")) == 1)
    }

    @Test("dates order chronologically")
    func ordering() throws {
        #expect(try date("2025-12-31") < date("2026-01-01"))
        #expect(try date("2026-01-31") < date("2026-02-01"))
        #expect(try !(date("2026-02-01") < date("2026-02-01")))
    }

    @Test("a cohort runs from 1 September to 31 August")
    func schoolYearGroup() throws {
        let on = try date("2026-11-20")
        let oldestInYear7 = try date("2014-09-01")
        let youngestInYear7 = try date("2015-08-31")
        let youngestInYear8 = try date("2014-08-31")
        #expect(oldestInYear7.schoolYearGroup(on: on) == 7)
        #expect(youngestInYear7.schoolYearGroup(on: on) == 7)
        #expect(youngestInYear8.schoolYearGroup(on: on) == 8)
    }

    @Test("the year group changes on 1 September, not on 1 January or a birthday")
    func yearGroupAcrossTheYear() throws {
        let child = try date("2014-09-01")
        #expect(child.schoolYearGroup(on: try date("2026-08-31")) == 6)
        #expect(child.schoolYearGroup(on: try date("2026-09-01")) == 7)
        #expect(child.schoolYearGroup(on: try date("2027-01-15")) == 7)
        #expect(child.schoolYearGroup(on: try date("2027-08-31")) == 7)
        #expect(try date("2021-09-01").schoolYearGroup(on: try date("2026-09-08")) == 0, "Reception")
        #expect(try date("2022-08-31").schoolYearGroup(on: try date("2026-09-08")) == 0, "Reception")
        #expect(try date("2021-08-31").schoolYearGroup(on: try date("2026-09-08")) == 1)
    }

    @Test("the UTC date of an instant")
    func fromInstant() throws {
        let late = try #require(Instant.parse("2026-03-01T23:30:00-02:00"))
        #expect(CivilDate(late).description == "2026-03-02")
    }
}

@Suite("Instants")
struct InstantTests {
    @Test("ISO 8601 instants with a zone are read", arguments: [
        ("2026-09-08T08:30:00Z", "2026-09-08T08:30:00Z"),
        ("2026-09-08T09:30:00+01:00", "2026-09-08T08:30:00Z"),
        ("2026-09-08T08:30:00.250Z", "2026-09-08T08:30:00Z"),
    ])
    func parses(_ text: String, _ utc: String) throws {
        #expect(Instant.format(try #require(Instant.parse(text))) == utc)
    }

    @Test("instants without a zone, or not ISO 8601, are refused", arguments: [
        "2026-09-08T08:30:00", "2026-09-08T08:30:00.000", "2026-09-08", "08/09/2026 08:30", "2026-13-01T10:00:00Z",
        "2026-09-08 08:30:00Z", "",
    ])
    func refused(_ text: String) {
        #expect(Instant.parse(text) == nil)
    }

    @Test("impossible instants are refused, not rolled over into the next day, hour or minute",
          arguments: ["2026-02-30T10:00:00Z", "2026-09-08T25:30:00Z", "2026-09-08T08:61:00Z", "2026-09-08T08:30:61Z"])
    func impossibleRefused(_ text: String) {
        #expect(Instant.parse(text) == nil)
    }
}
