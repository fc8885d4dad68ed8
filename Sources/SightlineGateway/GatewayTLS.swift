import NIOSSL
import SightlineCore

/// The API listener's TLS settings, each for a reason.
enum GatewayTLS {
    static func serverConfiguration(_ files: GatewayConfig.TLSFiles) throws(SightlineError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let roots: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
            throw SightlineError(.certificate, "tls.certificate \(files.certificate): cannot read a PEM certificate")
        }
        do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
            throw SightlineError(.certificate, "tls.key \(files.key): cannot read a PEM private key")
        }
        do { roots = try NIOSSLCertificate.fromPEMFile(files.ca) } catch {
            throw SightlineError(.certificate, "tls.ca \(files.ca): cannot read the partnership CA certificate")
        }
        guard !chain.isEmpty, !roots.isEmpty else { throw SightlineError(.certificate, "tls: certificate or CA file holds no certificate") }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // TLS 1.3 only: no downgrade, no renegotiation, forward secrecy on every connection.
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        // Exactly the partnership CA: a certificate from any public CA must not be a participant.
        tls.trustRoots = .certificates(roots)
        tls.additionalTrustRoots = []
        // Every client must present a certificate chaining to that CA (clients have no hostname).
        tls.certificateVerification = .noHostnameVerification
        // Tell clients which CA we accept, so a client holding several identities picks the right one.
        tls.sendCANameList = true
        return tls
    }
}
