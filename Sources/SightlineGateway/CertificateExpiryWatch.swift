import Foundation
import Logging
import NIOConcurrencyHelpers
import X509

/// Days until certificates expire: the gateway's own (read at start) and, per participant, the
/// certificate it most recently presented. An expired certificate stops a school's nightly run
/// or the gateway itself; the metric lets operators alert weeks ahead, and the log warns at 30 days.
/// Bounded: only listed, active participants are recorded (the participants file's size).
final class CertificateExpiryWatch: Sendable {
    static let warnBelowDays = 30.0
    private struct Seen { var notValidAfter: Date; var signature: ArraySlice<UInt8> }
    private let seen = NIOLockedValueBox<[String: Seen]>([:])
    let gatewayNotValidAfter: Date?
    private let logger: Logger
    private let now: @Sendable () -> Date

    init(gatewayCertificatePEM path: String, logger: Logger, now: @escaping @Sendable () -> Date) {
        self.logger = logger
        self.now = now
        gatewayNotValidAfter = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { try? Certificate(pemEncoded: $0) }?.notValidAfter
        if let expiry = gatewayNotValidAfter, expiry.timeIntervalSince(now()) < Self.warnBelowDays * 86_400 {
            logger.warning("the gateway's certificate expires soon; renew it (ops/RUNBOOK.md)",
                           metadata: ["certificate": "\(path)", "notValidAfter": "\(expiry)"])
        }
    }

    /// Records the certificate a listed participant presented; parses it only when it changed.
    func saw(_ participant: String, certificateDER der: [UInt8]) {
        let signature = der.suffix(72)
        if seen.withLockedValue({ $0[participant]?.signature == signature }) { return }
        guard let certificate = try? Certificate(derEncoded: der) else { return }
        seen.withLockedValue { $0[participant] = Seen(notValidAfter: certificate.notValidAfter, signature: signature) }
        let days = certificate.notValidAfter.timeIntervalSince(now()) / 86_400
        if days < Self.warnBelowDays {
            logger.warning("a participant's certificate expires soon; ask them to renew it",
                           metadata: ["participant": "\(participant)", "days": "\(Int(days))"])
        }
    }

    /// (label, days until expiry) for the metrics: "gateway" and each participant seen.
    func daysLeft() -> [(String, Double)] {
        let t = now()
        var out = seen.withLockedValue { $0.map { ($0.key, $0.value.notValidAfter.timeIntervalSince(t) / 86_400) } }
        if let g = gatewayNotValidAfter { out.append(("gateway", g.timeIntervalSince(t) / 86_400)) }
        return out.sorted { $0.0 < $1.0 }
    }
}
