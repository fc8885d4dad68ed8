import Foundation
import SightlineCore

/// `sightline submit FILE.xml --format ctf`: a DfE Common Transfer File as records, read twice.
/// The first pass (`check`) reads the whole file and makes every record without keeping any,
/// so that a truncated, hostile or another school's file is refused before anything is sent;
/// the second (`producer`) makes them again for the submitter, which sends them as they come.
/// Both are streams: a file of any size is read in the memory of one pupil and a few batches.
public struct CTFImport: Sendable {
    public let path: String
    public let sender: CTFSender
    public let reference: PupilReference
    /// observedAt when the header has no usable DateTime (the file's modification time).
    public let fallbackObservedAt: String
    public var limits = CTFReader.Limits()

    public init(path: String, sender: CTFSender, reference: PupilReference, fallbackObservedAt: String) {
        self.path = path; self.sender = sender; self.reference = reference; self.fallbackObservedAt = fallbackObservedAt
    }

    public struct Summary: Sendable {
        public let header: CTFHeader
        public let pupils: Int
        /// Records made and records that could not be made, together.
        public let records: Int
        public let rejected: [RecordRejection]
        public let sha256: Data
    }

    /// Reads the whole file, making each record and dropping it. Throws why the file is refused.
    public func check() throws(ClientError) -> Summary {
        var made = 0
        var rejected: [RecordRejection] = []
        let outcome = try read(emit: { _ in made += 1; return true }, reject: { rejected.append($0) })
        return Summary(header: outcome.header, pupils: outcome.pupils, records: made + rejected.count, rejected: rejected, sha256: outcome.sha256)
    }

    /// The idempotency scope of a checked file's batches.
    public func contentDigest(_ checked: Summary) -> String { Submitter.contentDigest(scope: "ctf", content: checked.sha256) }

    /// The second pass, for `Submitter.send(file:contentDigest:progress:produce:)`; it fails if
    /// the file is no longer the one that was checked.
    public func producer(checked: Summary) -> Submitter.RecordProducer {
        let this = self
        return { emit, reject throws(ClientError) in
            let outcome = try this.read(emit: emit, reject: reject)
            guard outcome.stoppedEarly || outcome.sha256 == checked.sha256 else {
                throw ClientError("the file changed while it was being sent; some batches may have gone: send it again once it is complete")
            }
        }
    }

    /// Reads the file, handing each record to `emit` (false stops the reading) and each record a
    /// pupil could not become to `reject`.
    public func read(emit: (Submitter.PreparedRecord) -> Bool, reject: (RecordRejection) -> Void) throws(ClientError) -> CTFReader.Outcome {
        var maker: CTFPupilRecords?
        return try CTFReader.read(path: path, limits: limits, header: { header in
            if let refusal = sender.refusal(header) { return refusal }
            let observedAt = Self.observedAt(header.dateTime) ?? fallbackObservedAt
            let fileDate = [header.dateTime, observedAt].compactMap { $0.flatMap { CivilDate(iso: String($0.prefix(10))) } }.first ?? CivilDate(Date())
            maker = CTFPupilRecords(header: header, observedAt: observedAt, fileDate: fileDate, reference: reference)
            return nil
        }, pupil: { pupil in
            guard let maker else { return false }
            for made in maker.records(for: pupil) {
                switch made {
                case .success(let value):
                    if !emit(Submitter.PreparedRecord(line: pupil.line, value: value, position: pupil.position)) { return false }
                case .failure(let rejection): reject(rejection)
                }
            }
            return true
        })
    }

    /// The header's DateTime as an instant. A CTF writes local time without a zone
    /// ("2026-11-19T17:30:00"): that is read as UK time.
    static func observedAt(_ text: String?) -> String? {
        guard let text else { return nil }
        if let d = Instant.parse(text) { return Instant.format(d) }
        let u = Array(text.utf8)
        guard u.count >= 19, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T"),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"), let day = CivilDate(iso: String(text.prefix(10))) else { return nil }
        func number(_ at: Int) -> Int? { Int(String(decoding: u[at..<(at + 2)], as: UTF8.self)) }
        guard let h = number(11), let m = number(14), let s = number(17), h < 24, m < 60, s < 60,
              let london = TimeZone(identifier: "Europe/London") else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = london
        let parts = DateComponents(year: day.year, month: day.month, day: day.day, hour: h, minute: m, second: s)
        return calendar.date(from: parts).map(Instant.format)
    }
}
