import Foundation
import NIOCore
import NIOSSL
import SightlineCore
import X509

/// The partnership's TLS settings, in one place for all four endpoints (the gateway's API
/// listener, its forward pushes, `sightline`'s calls to the gateway, `sightline partner listen`),
/// each setting for a reason. Who the peer must be is `PeerIdentity`'s business (SightlineCore);
/// this only wires it into NIOSSL.
public enum PartnershipTLS {
    /// A certificate chain, its key and the partnership CA, read from PEM files.
    public struct Material: Sendable {
        public let chain: [NIOSSLCertificate]
        public let key: NIOSSLPrivateKey
        public let roots: [NIOSSLCertificate]
        /// The same CA file, parsed for swift-certificates' verifier.
        public let trust: PartnershipTrust
        /// This side's own leaf certificate, DER.
        public let leafDER: [UInt8]

        /// `files` name the PEM files; `label` says how to name each in an error (a config key or a path).
        public static func load(_ files: GatewayConfig.TLSFiles, hint: String = "",
                                label: (_ field: String, _ path: String) -> String = { _, path in path }) throws(SightlineError) -> Material {
            let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, roots: [NIOSSLCertificate]
            do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
                throw SightlineError(.certificate, "\(label("certificate", files.certificate)): cannot read a PEM certificate\(hint)")
            }
            do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
                throw SightlineError(.certificate, "\(label("key", files.key)): cannot read a PEM private key\(hint)")
            }
            do { roots = try NIOSSLCertificate.fromPEMFile(files.ca) } catch {
                throw SightlineError(.certificate, "\(label("ca", files.ca)): cannot read the partnership CA certificate\(hint)")
            }
            guard let leaf = chain.first, let leafDER = try? leaf.toDERBytes() else {
                throw SightlineError(.certificate, "\(label("certificate", files.certificate)) holds no certificate\(hint)")
            }
            guard !roots.isEmpty, let parsedRoots = try? roots.map({ try Certificate(derEncoded: try $0.toDERBytes()) }) else {
                throw SightlineError(.certificate, "\(label("ca", files.ca)) holds no CA certificate\(hint)")
            }
            return Material(chain: chain, key: key, roots: roots, trust: PartnershipTrust(roots: parsedRoots), leafDER: leafDER)
        }
    }

    /// A listener: the gateway's API or a push receiver. Every client must present a certificate
    /// that chains to exactly the partnership CA; who it is, is checked per request with `PeerIdentity`.
    public static func server(_ material: Material) -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: material.chain.map { .certificate($0) },
                                                           privateKey: .privateKey(material.key))
        restrict(&tls, to: material)
        // Clients have no hostname to check; a client certificate is required (NIOSSL fails the
        // handshake without one) and must chain to the CA.
        tls.certificateVerification = .noHostnameVerification
        // Tell clients which CA we accept, so a client holding several identities picks the right one.
        tls.sendCANameList = true
        // After answering, wait at most 1 s for the peer's close_notify, so a peer that never sends
        // it cannot hold a draining listener open.
        tls.shutdownTimeout = .seconds(1)
        // TLS 1.3 session tickets: NIOSSL 2.37 exposes neither SSL_OP_NO_TICKET nor the ticket
        // lifetime, so BoringSSL's defaults hold (2 tickets per handshake, resumable for 48 h,
        // psk_dhe_ke only, so every resumption still runs a fresh ECDHE; ticket keys live in this
        // process's memory and rotate every 48 h or on restart). A resumed session keeps the
        // original peer certificate, so the per-request `PeerIdentity` check (at the request's
        // time) and the participants file lookup still refuse an expired certificate or a
        // suspended participant on a resumed session: a stolen ticket buys no more than the
        // certificate it came from, for at most 48 h.
        return tls
    }

    /// A client: the gateway pushing forwards, or a participant calling the gateway. The server
    /// is verified in `verification(...)` (chain to the CA, then its exact identity), not by
    /// hostname: partnership peers are named by URI SAN, not DNS.
    public static func client(_ material: Material) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = material.chain.map { .certificate($0) }
        tls.privateKey = .privateKey(material.key)
        restrict(&tls, to: material)
        tls.certificateVerification = .noHostnameVerification
        return tls
    }

    /// The client configuration as a context, made once and shared by every connection.
    public static func clientContext(_ material: Material) throws(SightlineError) -> NIOSSLContext {
        do { return try NIOSSLContext(configuration: client(material)) } catch {
            throw SightlineError(.certificate, "cannot set up TLS with this certificate and key: \(error)")
        }
    }

    static func restrict(_ tls: inout TLSConfiguration, to material: Material) {
        // TLS 1.3 only: no downgrade, no renegotiation, forward secrecy on every connection.
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        // Exactly the partnership CA: a certificate from any public CA is nobody here.
        tls.trustRoots = .certificates(material.roots)
        tls.additionalTrustRoots = []
    }

    /// The client's check of the server, for `NIOSSLClientHandler`: it replaces NIOSSL's own, so
    /// it checks the chain to the CA and the identity (`PartnershipTrust.verify`) at `now()`.
    /// A refusal is handed to `onRefusal`, so the caller can say why the handshake failed.
    public static func verification(trust: PartnershipTrust, expecting: PeerExpectation, now: @escaping @Sendable () -> Date,
                                    onRefusal: @escaping @Sendable (PeerRefusal) -> Void) -> NIOSSLCustomVerificationCallback {
        { certificates, promise in
            promise.completeWithTask {
                let chain = certificates.compactMap { try? $0.toDERBytes() }
                switch await trust.verify(chainDER: chain, expecting: expecting, now: now()) {
                case .success: return .certificateVerified
                case .failure(let refusal):
                    onRefusal(refusal)
                    return .failed
                }
            }
        }
    }

    /// The peer certificate of a server-side channel, DER, as the handshake verified it.
    public static func peerCertificateDER(_ channel: any Channel) async -> [UInt8]? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get() else { return nil }
        return try? certificate.toDERBytes()
    }
}
