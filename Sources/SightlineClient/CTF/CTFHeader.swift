import Foundation

/// A school as a CTF names it: DfE LA code (3 digits), establishment number (4), and the URN
/// that CTF 18 added to the header.
public struct CTFSchool: Sendable, Equatable {
    public var lea: String?
    public var estab: String?
    public var urn: String?

    public init(lea: String? = nil, estab: String? = nil, urn: String? = nil) { self.lea = lea; self.estab = estab; self.urn = urn }

    /// The DfE number, LA code and establishment number together ("3042001").
    public var laestab: String? { lea.flatMap { l in estab.map { l + $0 } } }

    /// Whether `other` is the same establishment: by LA and establishment number where both
    /// give them, else by URN.
    func isSame(as other: CTFSchool) -> Bool {
        if let a = laestab, let b = other.laestab { return a == b }
        if let a = urn, let b = other.urn { return a == b }
        return false
    }
}

/// The `<Header>` of a CTF (section 4.3.1 of the specification).
public struct CTFHeader: Sendable, Equatable {
    /// `CTFversion`, e.g. "21.0".
    public var version: String?
    /// `DateTime`: when the MIS wrote the file.
    public var dateTime: String?
    public var source = CTFSchool()
    public var destination = CTFSchool()

    public init() {}

    /// The version's major number, 21 for "21.0".
    public var majorVersion: Int? { version.flatMap { Int($0.split(separator: ".").first ?? "") } }

    /// A transfer to an unknown destination (the pupil is missing from education): the
    /// specification's destination `XXX`/`XXXX` (or `MAT` in place of the LA code), one LA code
    /// followed by `XXXX`, and a children-missing-education transfer to the LA (`CME` as the
    /// establishment).
    public var isCMETransfer: Bool {
        let lea = destination.lea?.uppercased() ?? "", estab = destination.estab?.uppercased() ?? ""
        return estab == "XXXX" || estab == "CME" || lea == "XXX" || lea == "MAT"
    }
}

/// Who may send a CTF: the school the client's certificate names, by URN, and optionally its
/// DfE number as configured for the scheduled job (`--laestab`). The header's source school must
/// be this school, or the whole file is refused: a trust's officer holding several schools'
/// identities must not be able to send one school's pupils as another's.
public struct CTFSender: Sendable {
    public let urn: String
    public let laestab: String?
    public init(urn: String, laestab: String?) { self.urn = urn; self.laestab = laestab }

    /// Why this sender may not send a file with `header`, or nil.
    public func refusal(_ header: CTFHeader) -> String? {
        let source = header.source
        let named = [source.urn.map { "URN \($0)" }, source.laestab.map { "DfE number \($0)" }].compactMap { $0 }.joined(separator: ", ")
        if let urn = source.urn, urn != self.urn {
            return "the header's source school is \(named), but this identity is school \(self.urn): send each school's CTF with that school's own identity"
        }
        if let laestab, let fileNumber = source.laestab, fileNumber != laestab {
            return "the header's source school is \(named), but --laestab is \(laestab): send each school's CTF with that school's own identity and number"
        }
        if source.urn == nil {
            guard laestab != nil else {
                return "the header's source school has no URN, so the file cannot be matched to this identity (school \(urn)); give the school's DfE number with --laestab (LA code and establishment number, e.g. 3042001)"
            }
            guard source.laestab != nil else { return "the header's SourceSchool has neither URN nor LEA and Estab" }
        }
        guard source.laestab != nil else {
            return "the header's SourceSchool has no LEA and Estab: the file's own school cannot be found in the pupils' SchoolHistory"
        }
        return nil
    }
}
