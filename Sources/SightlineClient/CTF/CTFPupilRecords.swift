import Foundation
import SightlineCore

/// What one pupil of a CTF becomes: a `school.enrolment` for the pupil's time at the file's own
/// school, and a `school.attendance` for each of its `Attendance/YearData` at that school. Other
/// schools' history in the file is theirs to send and is not used.
///
/// - enrolment: identifiers upn, givenName (Forename), familyName (Surname), dateOfBirth (DOB),
///   postcode, address (AddressLine1, or "SAON, PAON Street"), uprn; fields onRollFrom
///   (EntryDate), offRollOn (LeavingDate), offRollReason (`CTFLeavingReason`), senStatus (the
///   latest SENprovision: N none, K or the former A/P support, E or the former S ehcp),
///   freeSchoolMeals (an FSMinstance open on the file's date; only when FSMhistory is given).
/// - attendance: identifiers upn, names, dateOfBirth; fields sessionsPossible, sessionsUnauthorised,
///   sessionsAttended = possible - authorised - unauthorised; periodStart = AttendanceStartDate,
///   else 1 September of Year (or the entry date, if later); periodEnd = the earliest of 31 August
///   of the next year, the leaving date and the file's date (a CTF's year totals run to then).
///
/// Conversion problems reject the record with its record path, and the reason names the CTF
/// element; values are never repeated. Everything else (a UPN's check letter, a name's letters)
/// is the gateway's to check.
struct CTFPupilRecords {
    let header: CTFHeader
    let observedAt: String
    /// The day the file was written: where a year's attendance runs to.
    let fileDate: CivilDate
    let reference: PupilReference

    static let notADate = "not a date in the form YYYY-MM-DD"

    func records(for p: CTFPupil) -> [Result<JSONValue, RecordRejection>] {
        let years = p.years.filter { ($0.school.laestab == nil && $0.school.urn == nil) || $0.school.isSame(as: header.source) }
        let count = 1 + years.count
        func all(_ field: String, _ reason: String) -> [Result<JSONValue, RecordRejection>] {
            Array(repeating: .failure(reject(p, field, reason)), count: count)
        }
        if let problem = p.problems.first { return all("Pupil/" + problem.element, "\(problem.element): \(problem.reason)") }
        guard let upn = p.upn else {
            return all("identifiers.upn", "UPN is missing; a CTF pupil has one, and the school's reference for the pupil is made from it")
        }
        var dob: JSONValue?
        if let text = p.dob {
            guard let d = CivilDate(iso: text) else { return all("identifiers.dateOfBirth", "DOB: \(Self.notADate)") }
            dob = .string(d.description)
        }
        let ref = reference.reference(upn: upn)
        func draft(_ kind: RecordKind, _ localRef: String) -> RecordDraft {
            var d = RecordDraft(kind: kind, localRef: localRef, observedAt: observedAt)
            d.identifier("upn", upn)
            d.identifier("givenName", p.forename)
            d.identifier("familyName", p.surname)
            if let dob { d.identifiers["dateOfBirth"] = dob }
            return d
        }
        let spell = p.schools.filter { $0.school.isSame(as: header.source) }.max { ($0.entryDate ?? "") < ($1.entryDate ?? "") }
        var out = [enrolment(p, draft(.schoolEnrolment, ref), spell)]
        for year in years { out.append(attendance(p, year, spell, ref, draft)) }
        return out
    }

    private func reject(_ p: CTFPupil, _ field: String, _ reason: String) -> RecordRejection {
        RecordRejection(line: p.line, field: field, reason: "\(p.position): \(reason)")
    }

    private func date(_ text: String?, _ element: String, _ field: String, _ p: CTFPupil) -> Result<CivilDate?, RecordRejection> {
        guard let text else { return .success(nil) }
        guard let d = CivilDate(iso: text) else { return .failure(reject(p, field, "\(element): \(Self.notADate)")) }
        return .success(d)
    }

    private func enrolment(_ p: CTFPupil, _ base: RecordDraft, _ spell: CTFPupil.SchoolSpell?) -> Result<JSONValue, RecordRejection> {
        var d = base
        d.identifier("postcode", p.postcode)
        d.identifier("address", p.addressLine1 ?? Self.firstLine(saon: p.saon, paon: p.paon, street: p.street))
        d.identifier("uprn", p.uprn)
        guard let spell, spell.entryDate != nil else {
            return .failure(reject(p, "fields.onRollFrom", "SchoolHistory has no School with an EntryDate for this school (LEA \(header.source.lea ?? "?"), Estab \(header.source.estab ?? "?"))"))
        }
        do throws(RecordRejection) {
            let from = try date(spell.entryDate, "SchoolHistory/School/EntryDate", "fields.onRollFrom", p).get()!
            d.fields["onRollFrom"] = .string(from.description)
            if let leaving = try date(spell.leavingDate, "SchoolHistory/School/LeavingDate", "fields.offRollOn", p).get() {
                d.fields["offRollOn"] = .string(leaving.description)
                if let reason = CTFLeavingReason.offRollReason(spell.leavingReason, cmeTransfer: header.isCMETransfer) {
                    d.fields["offRollReason"] = .string(reason)
                }
            } else if header.isCMETransfer {
                return .failure(reject(p, "fields.offRollOn", "SchoolHistory/School/LeavingDate is missing: a CME transfer (destination unknown) is of pupils who have left"))
            }
        } catch { return .failure(error) }
        if let sen = p.sen.max(by: { ($0.startDate ?? "") < ($1.startDate ?? "") }), let code = sen.provision {
            guard let status = ["N": "none", "K": "support", "A": "support", "P": "support", "E": "ehcp", "S": "ehcp"][code.uppercased()] else {
                return .failure(reject(p, "fields.senStatus", "SENhistory/SEN/SENprovision: expected N, K or E"))
            }
            d.fields["senStatus"] = .string(status)
        }
        if !p.fsm.isEmpty {
            var open = false
            for instance in p.fsm {
                let from: CivilDate?, to: CivilDate?
                do throws(RecordRejection) {
                    from = try date(instance.start, "FSMhistory/FSMinstance/FSMstartDate", "fields.freeSchoolMeals", p).get()
                    to = try date(instance.end, "FSMhistory/FSMinstance/FSMendDate", "fields.freeSchoolMeals", p).get()
                } catch { return .failure(error) }
                if (from.map { $0 <= fileDate } ?? true) && (to.map { $0 >= fileDate } ?? true) { open = true }
            }
            d.fields["freeSchoolMeals"] = .bool(open)
        }
        return .success(d.value)
    }

    private func attendance(_ p: CTFPupil, _ y: CTFPupil.YearData, _ spell: CTFPupil.SchoolSpell?, _ ref: String,
                            _ draft: (RecordKind, String) -> RecordDraft) -> Result<JSONValue, RecordRejection> {
        func sessions(_ text: String?, _ element: String, _ field: String) -> Result<Int, RecordRejection> {
            guard let text else { return .failure(reject(p, field, "Attendance/YearData/\(element) is missing")) }
            guard let n = Int(text), n >= 0 else { return .failure(reject(p, field, "Attendance/YearData/\(element): expected a whole number")) }
            return .success(n)
        }
        do throws(RecordRejection) {
            let possible = try sessions(y.possible, "SessionsPossible", "fields.sessionsPossible").get()
            let authorised = try sessions(y.authorised, "SessionsAuthorised", "fields.sessionsAttended").get()
            let unauthorised = try sessions(y.unauthorised, "SessionsUnauthorised", "fields.sessionsUnauthorised").get()
            guard authorised + unauthorised <= possible else {
                return .failure(reject(p, "fields.sessionsAttended", "SessionsAuthorised and SessionsUnauthorised add up to more than SessionsPossible"))
            }
            guard let year = y.year.flatMap({ Int($0) }), (1990...2200).contains(year),
                  let yearStart = CivilDate(year: year, month: 9, day: 1), let yearEnd = CivilDate(year: year + 1, month: 8, day: 31) else {
                return .failure(reject(p, "fields.periodStart", "Attendance/YearData/Year: expected the year the school year starts in, e.g. 2025"))
            }
            let entry = try date(spell?.entryDate, "SchoolHistory/School/EntryDate", "fields.periodStart", p).get()
            let leaving = try date(spell?.leavingDate, "SchoolHistory/School/LeavingDate", "fields.periodEnd", p).get()
            let start = try date(y.startDate, "Attendance/YearData/AttendanceStartDate", "fields.periodStart", p).get()
                ?? entry.map { max($0, yearStart) }.flatMap { $0 <= yearEnd ? $0 : nil } ?? yearStart
            let end = [yearEnd, fileDate, leaving].compactMap { $0 }.min()!
            var d = draft(.schoolAttendance, "\(ref)#\(start)")
            d.fields = ["periodStart": .string(start.description), "periodEnd": .string(end.description),
                        "sessionsPossible": .number(Double(possible)), "sessionsUnauthorised": .number(Double(unauthorised)),
                        "sessionsAttended": .number(Double(possible - authorised - unauthorised))]
            return .success(d.value)
        } catch { return .failure(error) }
    }

    /// The first line of a BS 7666 address: "SAON, PAON Street" ("Flat 2, 14 Kenton Road").
    static func firstLine(saon: String?, paon: String?, street: String?) -> String? {
        let line = [paon, street].compactMap { $0 }.joined(separator: " ")
        guard !line.isEmpty else { return saon }
        return saon.map { "\($0), \(line)" } ?? line
    }
}
