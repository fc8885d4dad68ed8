import Crypto
import Foundation
import SightlineCore

/// The school's own reference for a pupil of a CTF, which carries no admission number or MIS id.
///
/// A record's `localRef` is what the gateway updates a record by and hands back to the school,
/// so it must name the same pupil in every week's file: a pupil's position does not (a pupil who
/// joins moves everyone after), and the gateway would update one child's record with another's.
/// The UPN does, but may not be a reference (it is an identifier, pseudonymised; a plain or
/// unkeyed-hashed UPN would put it beside the pseudonyms). So the reference is a keyed digest of
/// the UPN under a key only this school holds: `CTF-` and 24 hex digits, the same for the same
/// pupil whenever the school sends, and nothing anyone else can turn back into the UPN.
///
/// The key is `ctf-reference.key` in the identity directory, made on first use (mode 0600) and
/// kept when the certificate is renewed. Lost, it makes new references: the gateway then holds a
/// second record for each pupil rather than mixing two children up.
public struct PupilReference: Sendable {
    private let key: SymmetricKey
    public static let fileName = "ctf-reference.key"

    public init(key: SymmetricKey) { self.key = key }

    /// The key in `directory`, made there if it is not yet; `created` says which.
    public static func load(identityDirectory directory: String) throws(ClientError) -> (reference: PupilReference, created: Bool) {
        let path = directory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) {
            do { try OwnerOnlyFile.requireOwnerOnly(path, what: "the CTF reference key", code: .keyFile) } catch { throw ClientError(error.message) }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let bytes = Data(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
                throw ClientError("\(path) is not a CTF reference key (64 hex digits); restore it from the backup of this identity, or remove it to start new references")
            }
            return (PupilReference(key: SymmetricKey(data: bytes)), false)
        }
        let key = SymmetricKey(size: .bits256)
        let hex = key.withUnsafeBytes { Data($0).hexString }
        do { try OwnerOnlyFile.write(Data((hex + "\n").utf8), to: path, what: "the CTF reference key") } catch { throw ClientError(error.message) }
        return (PupilReference(key: key), true)
    }

    /// The reference for the pupil with `upn` (as the file writes it, case and spaces aside).
    public func reference(upn: String) -> String {
        let normalised = upn.uppercased().filter { !$0.isWhitespace }
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Data("sightline/ctf-pupil-reference/v1\n\(normalised)".utf8))
        return "CTF-" + Data(mac.finalize()).prefix(12).hexString.uppercased()
    }
}
