import Foundation
import Testing
@testable import SightlineClient
@testable import SightlineCore

/// A 200 MB CTF through the real `sightline` binary (`submit --check`: read, check and make every
/// record, send nothing), in a process of its own so that its peak memory is its own.
@Suite("CTF import: a 200 MB file in bounded memory", .serialized)
struct CTFLargeFileTests {
    static let binary = TestRecords.root.appendingPathComponent(".build/debug/sightline").path

    /// Writes pupils until the file is `bytes` long; returns how many.
    static func writeLargeCTF(to path: String, bytes: Int) throws -> Int {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? out.close() }
        try out.write(contentsOf: Data(("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CTfile>\n" + CTFFixture.header() + "\n  <CTFpupilData>\n").utf8))
        var written = 0, pupils = 0
        let years = """
            <Attendance><YearData><Year>2025</Year><LEA>304</LEA><Estab>2001</Estab><SessionsPossible>300</SessionsPossible><SessionsAuthorised>10</SessionsAuthorised><SessionsUnauthorised>4</SessionsUnauthorised><AttendanceStartDate>2025-09-04</AttendanceStartDate></YearData>
            <YearData><Year>2026</Year><LEA>304</LEA><Estab>2001</Estab><SessionsPossible>90</SessionsPossible><SessionsAuthorised>2</SessionsAuthorised><SessionsUnauthorised>0</SessionsUnauthorised><AttendanceStartDate>2026-09-03</AttendanceStartDate></YearData></Attendance>
            <StageAssessments><KeyStage><Stage>KS1</Stage><StageAssessment><Year>2021</Year><Subject>ENG</Subject><Method>TA</Method><Component>RD</Component><ResultQualifier>NC</ResultQualifier><Result>EXS</Result></StageAssessment></KeyStage></StageAssessments>
            """
        // A thousand pupils made once and written again and again: building 200 MB of strings in
        // a debug build would take the CPU the timing tests beside this one need.
        let chunk = Data((1...1000).map { CTFFixture.pupil(upn: "A" + String(format: "%012d", $0), extra: years) + "\n" }.joined().utf8)
        while written < bytes {
            try out.write(contentsOf: chunk)
            written += chunk.count
            pupils += 1000
        }
        try out.write(contentsOf: Data("  </CTFpupilData>\n</CTfile>\n".utf8))
        return pupils
    }

    /// Peak resident memory (VmHWM) of a running process, in KiB; nil once it has gone.
    static func peakKiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    @Test("200 MB of pupils: every record is made, and the reader's peak memory stays far below the file's size")
    func twoHundredMegabytes() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: swift build (the test runs \(Self.binary))")
        let f = try CTFFixture(); defer { f.remove() }
        let file = f.dir + "/large.xml"
        let size = 200 * 1024 * 1024
        let pupils = try Self.writeLargeCTF(to: file, bytes: size)
        let ca = try PartnershipCA.create(name: "Test CA")
        let identity = f.dir + "/identity"
        try IdentityDirectory.write(try ca.issueParticipant(ParticipantIdentity(trustDomain: "test.sightline", role: .school, id: "100001")),
                                    caPEM: ca.certificatePEM, to: identity)
        _ = try PupilReference.load(identityDirectory: identity)

        let process = Process()
        // At the lowest priority (nice execs the binary, so the pid is its own): on a 2-core
        // machine two minutes of parsing must not starve the timing tests running beside it.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        process.arguments = ["-n", "19", Self.binary, "submit", "--check", "--json", "--format", "ctf", "--laestab", "3042001", "--identity", identity, file]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        let started = Date()
        try process.run()
        // Read the output as it comes (a full pipe would stall the child) and watch its memory.
        let handle = out.fileHandleForReading
        // On a GCD thread, not a task: a blocking read for two minutes would hold one of the
        // cooperative pool's threads (two on this machine) that every other test's gateway runs on.
        let reader = Task {
            await withCheckedContinuation { (c: CheckedContinuation<Data, Never>) in
                DispatchQueue.global().async { c.resume(returning: handle.readDataToEndOfFile()) }
            }
        }
        var peak = 0
        while process.isRunning {
            if let kib = Self.peakKiB(process.processIdentifier) { peak = max(peak, kib) }
            try await Task.sleep(for: .milliseconds(10))
        }
        let seconds = Date().timeIntervalSince(started)
        let output = await reader.value
        #expect(process.terminationStatus == 0, "\(String(decoding: output.prefix(2000), as: UTF8.self))")
        struct Summary: Decodable { var records: Int; var rejected: Int; var sent: Bool }
        let summary = try JSONDecoder().decode(Summary.self, from: output)
        #expect(summary.records == pupils * 3, "an enrolment and two attendance records a pupil")
        #expect(summary.rejected == 0)
        #expect(!summary.sent)
        let peakMB = Double(peak) / 1024
        print("CTF 200 MB: \(pupils) pupils, \(summary.records) records in \(String(format: "%.1f", seconds)) s (debug build: "
              + "\(String(format: "%.0f", Double(summary.records) / seconds)) records/s, \(String(format: "%.1f", Double(size) / 1_048_576 / seconds)) MB/s); "
              + "peak RSS \(String(format: "%.1f", peakMB)) MB")
        #expect(peak > 0, "the child's memory was read")
        #expect(peakMB < 100, "peak RSS \(peakMB) MB for a 200 MB file: the reader must not hold the file")
    }
}
