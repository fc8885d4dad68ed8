import SightlineCore
import SightlineTLS

/// The gateway's certificate, key and partnership CA from the config's `tls` section; the
/// settings made from them are `PartnershipTLS`'s, shared with every other endpoint.
enum GatewayTLS {
    static func material(_ files: GatewayConfig.TLSFiles) throws(SightlineError) -> PartnershipTLS.Material {
        try PartnershipTLS.Material.load(files) { field, path in "tls.\(field) \(path)" }
    }
}
