import Crypto
import Foundation
import NIOSSL
import SightlineCore
import X509

/// `sightline-gateway check --config FILE`: everything the gateway would refuse at start, and what
/// would hurt later (a certificate close to expiry), found without starting anything. Each problem
/// names the fix.
public enum ConfigCheck {
    public struct Finding: Sendable, CustomStringConvertible {
        public enum Severity: String, Sendable { case problem, warning }
        public let severity: Severity
        public let what: String
        public let fix: String
        public var description: String { "\(severity.rawValue): \(what)\n  fix: \(fix)" }
    }

    public static func run(configPath: String, now: Date = Date()) async -> [Finding] {
        var out: [Finding] = []
        func problem(_ what: String, _ fix: String) { out.append(Finding(severity: .problem, what: what, fix: fix)) }
        let config: GatewayConfig
        do { config = try GatewayConfig.load(path: configPath) } catch {
            problem(error.message, "correct the configuration file; ops/gateway.example.yaml shows every key")
            return out
        }
        do { _ = try KeyMaterial.load(from: config.keysPath) } catch {
            let fix = error.message.contains("chmod") ? "chmod 600 \(config.keysPath)"
                : error.message.contains("upgrade") ? "sightline keys upgrade --file \(config.keysPath)"
                : error.message.contains("this user") ? "run check (and the gateway) as the key file's owner, e.g. runuser -u sightline -- sightline-gateway check --config \(configPath)"
                : error.message.contains("not found") ? "a new gateway: sightline keys init --out \(config.keysPath); a gateway with data: restore the key file from the backup (a new key opens nothing stored)"
                : "restore the key file from the backup; never replace it with a new one on a gateway that holds data"
            problem(error.message, fix)
        }
        var trustDomain: String?
        do { trustDomain = try ParticipantRegistry.load(path: config.participantsPath).trustDomain } catch {
            problem(error.message, "correct the participants file (the gateway keeps the old list on SIGHUP, but will not start with a broken one)")
        }
        do { _ = try PolicyLoader.load(directory: config.policyDirectory) } catch {
            problem(error.message, "correct the policy (`sightline policy lint --policy \(config.policyDirectory)` shows the same)")
        }
        out += await certificates(config.tls, trustDomain: trustDomain, now: now)
        for file in [config.databasePath, config.databasePath + "-wal", config.databasePath + "-shm"] {
            if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? NSNumber, mode.intValue & 0o077 != 0 {
                problem("\(file) is mode \(String(format: "%04o", mode.intValue)): others can read pseudonymised records", "chmod 600 \(file)")
            }
        }
        return out
    }

    static func certificates(_ tls: GatewayConfig.TLSFiles, trustDomain: String?, now: Date) async -> [Finding] {
        var out: [Finding] = []
        func problem(_ what: String, _ fix: String) { out.append(Finding(severity: .problem, what: what, fix: fix)) }
        func pems(_ path: String) -> [(der: [UInt8], certificate: Certificate)]? {
            guard let loaded = try? NIOSSLCertificate.fromPEMFile(path) else { return nil }
            let certs = loaded.compactMap { c -> ([UInt8], Certificate)? in
                guard let der = try? c.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
                return (der, parsed)
            }
            return certs.isEmpty ? nil : certs
        }
        guard let roots = pems(tls.ca) else {
            problem("tls.ca \(tls.ca): no PEM certificate", "point tls.ca at the partnership CA certificate (ca.pem)")
            return out
        }
        guard let chain = pems(tls.certificate), let leaf = chain.first?.certificate else {
            problem("tls.certificate \(tls.certificate): no PEM certificate", "issue the gateway's certificate from the partnership CA (certs/README.md)")
            return out
        }
        if let trustDomain {
            let verdict = await PartnershipTrust(roots: roots.map(\.certificate)).verify(chainDER: chain.map(\.der),
                                                                        expecting: .gatewayServer(trustDomain: trustDomain), now: now)
            if case .failure(let refusal) = verdict {
                problem("tls.certificate \(tls.certificate): \(refusal.reason)",
                        "issue a certificate with the URI SAN spiffe://\(trustDomain)/gateway/<id>, serverAuth and clientAuth, from the CA in \(tls.ca)")
            }
        }
        let days = leaf.notValidAfter.timeIntervalSince(now) / 86_400
        if days >= 0 && days < 30 {
            out.append(Finding(severity: .warning, what: "tls.certificate \(tls.certificate) expires in \(Int(days)) days (\(Instant.format(leaf.notValidAfter)))",
                               fix: "renew it now and restart the gateway (a reload re-reads only the participants file); participants' clients refuse an expired gateway"))
        }
        guard let keyText = try? String(contentsOfFile: tls.key, encoding: .utf8) else {
            problem("tls.key \(tls.key): cannot be read", "point tls.key at the gateway certificate's private key (PEM), mode 0600")
            return out
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: tls.key))?[.posixPermissions] as? NSNumber, mode.intValue & 0o077 != 0 {
            problem("tls.key \(tls.key) is mode \(String(format: "%04o", mode.intValue))", "chmod 600 \(tls.key)")
        }
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: keyText) {
            if Certificate.PublicKey(key.publicKey) != leaf.publicKey {
                problem("tls.key \(tls.key) is not the key of tls.certificate \(tls.certificate)", "give the key the certificate was issued for, or issue a new certificate for this key")
            }
        } else {
            problem("tls.key \(tls.key): not a PEM P-256 private key", "give the gateway certificate's P-256 private key in PEM")
        }
        return out
    }
}
