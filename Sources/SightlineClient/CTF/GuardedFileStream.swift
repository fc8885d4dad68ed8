import Crypto
import Foundation

/// The bytes of an XML file on their way to `XMLParser`, checked as they pass.
///
/// XMLParser on Linux always substitutes entities (it sets libxml2's XML_PARSE_NOENT) and has no
/// delegate call for entity declarations, so the safe place to stop a billion-laughs file or an
/// external entity is before the parser sees it: a document type declaration (`<!DOCTYPE`, where
/// entities are declared) ends the stream with a refusal. A CTF is defined by an XML schema and
/// has no DTD, so nothing legitimate is refused. The declaration could hide in another encoding
/// (UTF-16, or UTF-7's `+ADw-` for `<`), so the file must also be UTF-8, as a CTF is: a byte order
/// mark or declared encoding of anything else is refused at the first read. The stream also stops
/// past `maxBytes`, and hashes every byte it hands over, so the file that was checked is the file
/// that was parsed.
final class GuardedFileStream: InputStream {
    enum Refusal: Error, Equatable {
        case unreadable(String)
        case documentTypeDeclaration
        case notUTF8(String)
        case tooLarge(Int)
    }

    private let path: String
    private let maxBytes: Int
    private var handle: FileHandle?
    private var status: Stream.Status = .notOpen
    private var error: Error?
    private var hasher = SHA256()
    private(set) var bytesRead = 0
    private(set) var refusal: Refusal?
    /// The whole file has been handed over.
    private(set) var reachedEnd = false
    /// The last bytes of the previous read, so that a declaration split across two reads is seen.
    private var carry: [UInt8] = []
    private static let marker = Array("<!DOCTYPE".utf8)

    init(path: String, maxBytes: Int) {
        self.path = path
        self.maxBytes = maxBytes
        super.init(data: Data())
    }

    /// SHA-256 of the bytes handed to the parser; once it has finished, of the whole file.
    var digest: Data { Data(hasher.finalize()) }

    override func open() {
        if let h = FileHandle(forReadingAtPath: path) { handle = h; status = .open } else { fail(.unreadable("cannot open the file")) }
    }

    override func close() {
        try? handle?.close()
        handle = nil
        if status != .error { status = .closed }
    }

    override var streamStatus: Stream.Status { status }
    override var streamError: Error? { error }
    override var hasBytesAvailable: Bool { status == .open }

    override func read(_ buffer: UnsafeMutablePointer<UInt8>, maxLength len: Int) -> Int {
        guard status == .open, let handle else { return status == .atEnd ? 0 : -1 }
        let data: Data
        do { data = try handle.read(upToCount: len) ?? Data() } catch { fail(.unreadable("\(error)")); return -1 }
        if data.isEmpty { status = .atEnd; reachedEnd = true; return 0 }
        bytesRead += data.count
        if bytesRead > maxBytes { fail(.tooLarge(maxBytes)); return -1 }
        if bytesRead == data.count, let problem = Self.encodingProblem(Array(data.prefix(1024))) { fail(.notUTF8(problem)); return -1 }
        var window = carry
        window.append(contentsOf: data)
        if Self.contains(Self.marker, in: window) { fail(.documentTypeDeclaration); return -1 }
        carry = Array(window.suffix(Self.marker.count - 1))
        hasher.update(data: data)
        data.copyBytes(to: buffer, count: data.count)
        return data.count
    }

    private func fail(_ refusal: Refusal) {
        self.refusal = refusal
        status = .error
        error = NSError(domain: "Sightline.GuardedFileStream", code: 1)
    }

    /// Why the head of a file is not UTF-8 XML, or nil: a UTF-16 or UTF-32 byte order mark or
    /// NUL bytes, a declared encoding other than UTF-8 (or its subset US-ASCII), or no `<` first.
    static func encodingProblem(_ head: [UInt8]) -> String? {
        var bytes = head[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.prefix(4).contains(0) {
            return "it is UTF-16 or UTF-32"
        }
        guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D && $0 != 0x0A }) else { return nil }
        guard first == UInt8(ascii: "<") else { return "it does not start with an XML declaration or element" }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("<?xml"), let end = text.range(of: "?>"),
              let key = text[..<end.lowerBound].range(of: "encoding") else { return nil }
        let rest = text[key.upperBound..<end.lowerBound].drop { $0 == " " || $0 == "=" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        let name = rest.dropFirst().prefix { $0 != quote }
        return ["utf-8", "utf8", "us-ascii", "ascii"].contains(name.lowercased()) ? nil : "it declares the encoding \(name.prefix(20))"
    }

    /// Whether `needle` occurs in `bytes`: memchr for its first byte, then its second (a `<` is
    /// common in XML, `<!` is not), then the rest.
    static func contains(_ needle: [UInt8], in bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress, b.count >= needle.count, needle.count >= 2 else { return false }
            var i = 0
            while i + needle.count <= b.count, let hit = memchr(base + i, Int32(needle[0]), b.count - needle.count + 1 - i) {
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if b[at + 1] == needle[1] && memcmp(base + at, needle, needle.count) == 0 { return true }
                i = at + 1
            }
            return false
        }
    }
}
