import Foundation
import SwiftASN1
// The chain is judged at an injected `now` (tests, and one clock for the whole check).
@_spi(FixedExpiryValidationTime) import X509

/// Who a TLS peer of the partnership must be. Every endpoint states it and makes the one check
/// below, so a rule about certificates (one URI SAN, lowercase trust domain, key usage, dates)
/// holds at all of them or at none.
public enum PeerExpectation: Sendable, Hashable {
    /// A participant calling the gateway (a client certificate). Which participants are listed and
    /// active is the participants file's business, not the certificate's.
    case participantClient
    /// The participant the gateway pushes a forward to (a server certificate): exactly this one.
    case receiver(ParticipantIdentity)
    /// The gateway, as a participant's client sees it (a server certificate): any
    /// `spiffe://<trustDomain>/gateway/<id>`. Another participant's certificate is refused, so a
    /// certificate from the same CA cannot pose as the gateway and collect identifiers.
    case gatewayServer(trustDomain: String)
    /// The gateway pushing a forward (a client certificate): exactly this SPIFFE ID.
    case gatewayClient(SPIFFEID)

    var usage: ExtendedKeyUsage.Usage {
        switch self {
        case .participantClient, .gatewayClient: .clientAuth
        case .receiver, .gatewayServer: .serverAuth
        }
    }
}

/// Why a peer's certificate was refused: a code tests compare and a reason that names what to
/// issue instead. Reasons never repeat the text a peer presented.
public struct PeerRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notACertificate = "not-a-certificate"
        case notYetValid = "not-yet-valid"
        case expired = "expired"
        case keyUsage = "key-usage"
        case noURISAN = "no-uri-san"
        case severalURISANs = "several-uri-sans"
        case notSPIFFE = "not-spiffe"
        case notAParticipant = "not-a-participant"
        case unexpectedPeer = "unexpected-peer"
        case untrustedChain = "untrusted-chain"
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) { self.code = code; self.reason = reason }
    public var description: String { "\(code.rawValue): \(reason)" }
}

/// The one peer-identity check: a peer's leaf certificate (DER) and the time to judge it at, in;
/// the SPIFFE ID it verifiably carries, or the reason it does not, out. It does not check the
/// chain: on a server the TLS handshake has (against exactly the partnership CA); clients use
/// `PartnershipTrust`, which checks both.
public enum PeerIdentity {
    public static func check(certificateDER der: [UInt8], expecting: PeerExpectation, now: Date) -> Result<SPIFFEID, PeerRefusal> {
        guard let certificate = try? Certificate(derEncoded: der) else {
            return .failure(PeerRefusal(.notACertificate, "the peer's certificate is not a DER X.509 certificate"))
        }
        return check(certificate, expecting: expecting, now: now)
    }

    /// The participant a caller's certificate names; the gateway's API listener asks this per request,
    /// so a resumed TLS session is judged at the request's time, not at its first handshake's.
    public static func participant(certificateDER der: [UInt8], now: Date) -> Result<ParticipantIdentity, PeerRefusal> {
        check(certificateDER: der, expecting: .participantClient, now: now).flatMap { spiffe in
            // `.participantClient` accepts only participant roles, so this cannot fail.
            ParticipantIdentity(spiffe).map { .success($0) } ?? .failure(PeerRefusal(.notAParticipant, "not a participant role"))
        }
    }

    /// The certificate's one SPIFFE ID, judging nothing else (dates, usage): for reading one's own
    /// certificate. A peer's is judged with `check`.
    public static func spiffeID(certificateDER der: [UInt8]) -> Result<SPIFFEID, PeerRefusal> {
        guard let certificate = try? Certificate(derEncoded: der) else {
            return .failure(PeerRefusal(.notACertificate, "not a DER X.509 certificate"))
        }
        return spiffeID(in: certificate)
    }

    static func spiffeID(in certificate: Certificate) -> Result<SPIFFEID, PeerRefusal> {
        let uris: [String]
        do {
            uris = (try certificate.extensions.subjectAlternativeNames).map(Array.init)?.compactMap { name -> String? in
                if case .uniformResourceIdentifier(let uri) = name { return uri }
                return nil
            } ?? []
        } catch {
            return .failure(PeerRefusal(.noURISAN, "the certificate's subjectAltName does not parse"))
        }
        guard !uris.isEmpty else {
            return .failure(PeerRefusal(.noURISAN, "the certificate has no URI subjectAltName; the identity is the URI SAN spiffe://<trust-domain>/<role>/<id> (a CN or DNS name is not one)"))
        }
        guard uris.count == 1 else {
            return .failure(PeerRefusal(.severalURISANs, "the certificate has \(uris.count) URI subjectAltNames; SPIFFE allows exactly one"))
        }
        return SPIFFEID.parse(uris[0]).mapError { problem in
            PeerRefusal(.notSPIFFE, "the URI SAN is not spiffe://<trust-domain>/<role>/<id>: \(problem)")
        }
    }

    public static func check(_ certificate: Certificate, expecting: PeerExpectation, now: Date) -> Result<SPIFFEID, PeerRefusal> {
        guard now >= certificate.notValidBefore else {
            return .failure(PeerRefusal(.notYetValid, "the certificate is not valid until \(certificate.notValidBefore.formatted(.iso8601))"))
        }
        guard now <= certificate.notValidAfter else {
            return .failure(PeerRefusal(.expired, "the certificate expired at \(certificate.notValidAfter.formatted(.iso8601)); issue a new one"))
        }
        let needed = expecting.usage
        guard let usages = try? certificate.extensions.extendedKeyUsage, usages.contains(needed) else {
            let role = needed == .clientAuth ? "clientAuth (to call as a client)" : "serverAuth (to serve)"
            return .failure(PeerRefusal(.keyUsage, "the certificate's extendedKeyUsage lacks \(role)"))
        }
        let spiffe: SPIFFEID
        switch spiffeID(in: certificate) {
        case .success(let parsed): spiffe = parsed
        case .failure(let refusal): return .failure(refusal)
        }
        switch expecting {
        case .participantClient:
            guard ParticipantIdentity(spiffe) != nil else {
                return .failure(PeerRefusal(.notAParticipant, "the URI SAN's role is not a participant role (\(Role.allCases.map(\.rawValue).joined(separator: ", ")))"))
            }
        case .receiver(let expected):
            guard ParticipantIdentity(spiffe) == expected else {
                return .failure(PeerRefusal(.unexpectedPeer, "the receiver is not \(expected.uri), the participant this forward is for"))
            }
        case .gatewayServer(let trustDomain):
            guard spiffe.kind == "gateway", spiffe.trustDomain == trustDomain else {
                return .failure(PeerRefusal(.unexpectedPeer, "the server is not the gateway: its certificate must carry spiffe://\(trustDomain)/gateway/<id>"))
            }
        case .gatewayClient(let expected):
            guard spiffe == expected else {
                return .failure(PeerRefusal(.unexpectedPeer, "the client is not the gateway: only \(expected.uri) may push forwards here"))
            }
        }
        return .success(spiffe)
    }
}

/// The partnership CA as a client's trust: the chain to exactly these roots (RFC 5280, validity at
/// `now`) and then the peer-identity check. For the TLS clients (the gateway pushing forwards, the
/// `sightline` tool), which verify the server in a callback instead of by hostname.
public struct PartnershipTrust: Sendable {
    public let roots: [Certificate]

    public init(roots: [Certificate]) { self.roots = roots }

    public func verify(chainDER: [[UInt8]], expecting: PeerExpectation, now: Date) async -> Result<SPIFFEID, PeerRefusal> {
        guard let leafDER = chainDER.first, let leaf = try? Certificate(derEncoded: leafDER) else {
            return .failure(PeerRefusal(.notACertificate, "the peer presented no X.509 certificate"))
        }
        let identity = PeerIdentity.check(leaf, expecting: expecting, now: now)
        guard case .success = identity else { return identity }
        let intermediates = chainDER.dropFirst().compactMap { try? Certificate(derEncoded: $0) }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(fixedExpiryValidationTime: now) }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate: return identity
        case .couldNotValidate:
            return .failure(PeerRefusal(.untrustedChain, "the certificate does not chain to the partnership CA (ca.pem)"))
        }
    }
}
