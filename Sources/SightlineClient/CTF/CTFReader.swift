import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads a DfE Common Transfer File (CTF 20 and later: the `CTfile` message of section 4 of the
/// specification, and the CME transfer of its appendix) as a stream: `XMLParser` pushes elements,
/// and each `<Pupil>` is handed on as soon as it ends, so a file of any size is read in the memory
/// of one pupil.
///
/// Parts read: `Header` (CTFversion, DateTime, SourceSchool and DestSchool: LEA, Estab, URN) and,
/// of each Pupil, UPN, Surname, Forename, DOB; Address (BS7666Address: SAON, PAON, Street,
/// UniquePropertyReferenceNumber; or AddressLines/AddressLine1; PostCode); SENhistory/SEN
/// (StartDate, SENprovision); FSMhistory/FSMinstance (FSMstartDate, FSMendDate);
/// Attendance/YearData (Year, LEA, Estab, SessionsPossible, SessionsAuthorised,
/// SessionsUnauthorised, AttendanceStartDate); SchoolHistory/School (LEA, Estab, URN, EntryDate,
/// LeavingDate, LeavingReason). Every other element (contacts, assessments, phones, languages...)
/// is passed over unread.
///
/// Refused as a whole, with the reason: a file that is not well-formed XML (a truncated export
/// among them), whose root is not a namespace-free `CTfile`, whose header comes after pupils or
/// is missing, whose version is before 20, or that declares a document type (entities: see
/// `GuardedFileStream`). Bounded: element text (`maxTextBytes`), entries of one pupil
/// (`maxEntries`), the file (`maxFileBytes`); nesting is bounded by libxml2 (256 levels).
public enum CTFReader {
    public struct Limits: Sendable {
        public var maxFileBytes = 4 << 30
        /// UTF-8 bytes of one element's text: the longest element read is an address line.
        public var maxTextBytes = 512
        /// School spells, attendance years, SEN and FSM entries of one pupil, each.
        public var maxEntries = 64
        public init() {}
    }

    public static let oldestVersion = 20

    public struct Outcome: Sendable {
        public let header: CTFHeader
        public let pupils: Int
        public let bytes: Int
        /// SHA-256 of the file's bytes.
        public let sha256: Data
        /// The caller's `pupil` answered false and reading stopped there.
        public let stoppedEarly: Bool
    }

    /// Reads the file at `path`. `header` sees the header as soon as it is read and may refuse the
    /// file by returning a reason; `pupil` sees each pupil in order and may stop the reading by
    /// returning false.
    public static func read(path: String, limits: Limits = Limits(), header: (CTFHeader) -> String?,
                            pupil: (CTFPupil) -> Bool) throws(ClientError) -> Outcome {
        let result: Result<Outcome, ClientError> = withoutActuallyEscaping(header) { header in
            withoutActuallyEscaping(pupil) { pupil in
                let stream = GuardedFileStream(path: path, maxBytes: limits.maxFileBytes)
                let parser = XMLParser(stream: stream)
                // Named so, although they are the defaults: no DTD is loaded, no entity fetched.
                parser.shouldResolveExternalEntities = false
                parser.externalEntityResolvingPolicy = .never
                parser.shouldProcessNamespaces = true
                let delegate = CTFParserDelegate(limits: limits, onHeader: header, onPupil: pupil)
                parser.delegate = delegate
                let parsed = parser.parse()
                return delegate.outcome(parsed: parsed, stream: stream, parser: parser)
            }
        }
        return try result.get()
    }
}

/// The XMLParser delegate behind `CTFReader`: an element stack, the text of the element being
/// read, and the pupil being put together.
final class CTFParserDelegate: NSObject, XMLParserDelegate {
    let limits: CTFReader.Limits
    let onHeader: (CTFHeader) -> String?
    let onPupil: (CTFPupil) -> Bool

    private var stack: [String] = []
    private var header = CTFHeader()
    private var headerRead = false
    private var pupil: CTFPupil?
    private var pupils = 0
    /// The element whose text is being read: its path below Header or Pupil, and its depth.
    private var capture: (path: String, depth: Int)?
    private var text = ""
    private var textOverflow = false
    /// Inside an entry beyond `maxEntries`: nothing in it is read.
    private var skippingDepth: Int?
    private var failure: (line: Int, reason: String)?
    private var stoppedByCaller = false

    init(limits: CTFReader.Limits, onHeader: @escaping (CTFHeader) -> String?, onPupil: @escaping (CTFPupil) -> Bool) {
        self.limits = limits; self.onHeader = onHeader; self.onPupil = onPupil
    }

    /// Inside <Header>, or inside a <Pupil> of <CTFpupilData>: set where they start, cleared where they end.
    private var inHeader = false
    private var inPupil = false

    private func fail(_ parser: XMLParser, _ reason: String) {
        guard failure == nil else { return }
        failure = (parser.lineNumber, reason)
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        guard failure == nil else { return }
        let foreign = !(namespaceURI ?? "").isEmpty
        if stack.isEmpty {
            guard name == "CTfile" else {
                return fail(parser, "the root element is <\(name.prefix(40))>, not <CTfile>: this is not a DfE Common Transfer File")
            }
            if foreign {
                return fail(parser, "<CTfile> is in the XML namespace \"\((namespaceURI ?? "").prefix(80))\"; a CTF's elements have no namespace")
            }
        }
        stack.append(foreign ? ":" + name : name)
        if stack.count == 2 && name == "Header" && !foreign { inHeader = true; return }
        guard !foreign, skippingDepth == nil, CTFElements.names.contains(name) else { return }
        if stack.count == 3 && name == "Pupil" && stack[1] == "CTFpupilData" {
            guard headerRead else { return fail(parser, "a <Pupil> comes before the <Header> has been read; the header must come first") }
            pupils += 1
            pupil = CTFPupil(index: pupils, line: parser.lineNumber)
            inPupil = true
            return
        }
        if inHeader, stack.count >= 3 {
            let path = stack[2...].joined(separator: "/")
            if CTFElements.header[path] != nil { begin(path) }
        } else if inPupil, stack.count >= 4 {
            let path = stack[3...].joined(separator: "/")
            if let entry = CTFElements.entries[path] {
                startEntry(path, entry)
            } else if CTFElements.pupil[path] != nil {
                begin(path)
            }
        }
    }

    private func begin(_ path: String) {
        capture = (path, stack.count)
        text = ""
        textOverflow = false
    }

    /// Changes the pupil being read in place: a copy would copy its arrays at every element.
    private func withPupil(_ change: (inout CTFPupil) -> Void) {
        if pupil != nil { change(&pupil!) }
    }

    private func startEntry(_ path: String, _ entry: CTFElements.Entry) {
        let max = limits.maxEntries, depth = stack.count
        withPupil { p in
            guard entry.count(p) < max else {
                if !p.problems.contains(where: { $0.element == path }) { p.problems.append((path, "more than \(max) entries")) }
                skippingDepth = depth
                return
            }
            entry.add(&p)
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard capture != nil, !textOverflow else { return }
        if text.utf8.count + string.utf8.count > limits.maxTextBytes { textOverflow = true; text = "" } else { text += string }
    }

    func parser(_ parser: XMLParser, foundCDATA block: Data) {
        self.parser(parser, foundCharacters: String(decoding: block, as: UTF8.self))
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard failure == nil, !stack.isEmpty else { return }
        defer {
            if skippingDepth == stack.count { skippingDepth = nil }
            stack.removeLast()
        }
        if let c = capture, c.depth == stack.count {
            capture = nil
            if inHeader { setHeader(parser, c.path) } else if inPupil { setPupil(c.path) }
            return
        }
        if stack.count == 2 && inHeader {
            inHeader = false
            headerRead = true
            guard let major = header.majorVersion else { return fail(parser, "the header has no CTFversion; Sightline reads CTF \(CTFReader.oldestVersion) and later") }
            guard major >= CTFReader.oldestVersion else {
                return fail(parser, "the file is CTF \(major); Sightline reads CTF \(CTFReader.oldestVersion) and later: export it from an up-to-date MIS")
            }
            if let refusal = onHeader(header) { fail(parser, refusal) }
        } else if stack.count == 3, inPupil, let p = pupil {
            pupil = nil
            inPupil = false
            if !onPupil(p) { stoppedByCaller = true; parser.abortParsing() }
        }
    }

    /// The element's text without the XML whitespace (space, tab, CR, LF) around it; nil if none.
    private var value: String? {
        let u = text.utf8
        func space(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
        guard let first = u.firstIndex(where: { !space($0) }), let last = u.lastIndex(where: { !space($0) }) else { return nil }
        return first == u.startIndex && last == u.index(before: u.endIndex) ? text : String(text[first...last])
    }

    private func setHeader(_ parser: XMLParser, _ path: String) {
        if textOverflow { return fail(parser, "the header's \(path) is longer than \(limits.maxTextBytes) bytes") }
        CTFElements.header[path]?(&header, value)
    }

    private func setPupil(_ path: String) {
        if textOverflow {
            let max = limits.maxTextBytes
            return withPupil { $0.problems.append((path, "longer than \(max) bytes")) }
        }
        guard let assign = CTFElements.pupil[path] else { return }
        let v = value
        withPupil { assign(&$0, v) }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        guard failure == nil, !stoppedByCaller else { return }
        let code = (parseError as NSError).code
        failure = (parser.lineNumber, "not well-formed XML (XMLParser error \(code))")
        parser.abortParsing()
    }

    /// What the parse came to: the outcome, or the reason the file is refused.
    func outcome(parsed: Bool, stream: GuardedFileStream, parser: XMLParser) -> Result<CTFReader.Outcome, ClientError> {
        if let refusal = stream.refusal {
            switch refusal {
            case .documentTypeDeclaration:
                return .failure(ClientError("the file has a document type declaration (<!DOCTYPE>); a CTF has none, and its entities (external ones, or a billion laughs) are refused before any parsing"))
            case .notUTF8(let why):
                return .failure(ClientError("the file is not UTF-8 XML (\(why)); a CTF is UTF-8: export it again"))
            case .tooLarge(let max):
                return .failure(ClientError("the file is larger than \(max) bytes"))
            case .unreadable(let why):
                return .failure(ClientError("cannot read the file (\(why))"))
            }
        }
        let done = CTFReader.Outcome(header: header, pupils: pupils, bytes: stream.bytesRead, sha256: stream.digest, stoppedEarly: stoppedByCaller)
        if stoppedByCaller { return .success(done) }
        if let failure {
            // Elements still open when the bytes ran out: the export was cut short.
            if failure.reason.hasPrefix("not well-formed"), stream.reachedEnd, stack.count > 0 {
                return .failure(ClientError("line \(failure.line): the file ends inside <\(stack.last!.prefix(40))>, before </CTfile>, or is otherwise not well-formed XML: a truncated or damaged export is refused whole; export it again"))
            }
            return .failure(ClientError("line \(failure.line): \(failure.reason)"))
        }
        guard parsed else { return .failure(ClientError("line \(parser.lineNumber): not well-formed XML")) }
        guard headerRead else { return .failure(ClientError("the file has no <Header>: it is not a DfE Common Transfer File")) }
        return .success(done)
    }
}
