import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// `sightline partner ...`: what a recipient of forwards runs on its own side.
struct PartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner",
        abstract: "Receive forwards the gateway pushes to you.",
        subcommands: [Listen.self])

    struct Listen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run an mTLS endpoint that receives forwards from the gateway and appends them to a file.",
            discussion: """
                Serves POST /forwards over TLS 1.3 with your identity certificate, and serves only the \
                gateway's client certificate. Each forward is appended to --out as one NDJSON line \
                {"receivedAt", "idempotencyKey", "forward"} and fsync'd before the gateway is told it \
                is stored; a repeated Idempotency-Key (also after a restart) is not stored twice. \
                Runs until SIGTERM or SIGINT, then finishes the requests in flight and exits 0.
                """)

        @Option(help: "Port to listen on (0 picks a free one and prints it).") var port: Int
        @Option(help: "Identity directory holding cert.pem, key.pem and ca.pem: your certificate serves the endpoint.") var identity: String
        @Option(help: "NDJSON file the forwards are appended to (created mode 0600 if missing).") var out: String
        @Option(help: "Address to bind.") var host = "127.0.0.1"
        @Option(name: .customLong("gateway-identity"),
                help: "The only client identity accepted (default: spiffe://<your trust domain>/gateway/main).")
        var gatewayIdentity: String?

        func validate() throws {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
            if let gatewayIdentity, !gatewayIdentity.hasPrefix("spiffe://") {
                throw ValidationError("--gateway-identity must be a spiffe:// URI, e.g. spiffe://brent.sightline/gateway/main")
            }
        }

        func run() async throws {
            let configuration = ForwardReceiver.Configuration(identityDirectory: identity, outputPath: out, host: host, port: port,
                                                              gatewayIdentity: gatewayIdentity)
            let ports = AsyncStream<Int>.makeStream()
            let receiver: ForwardReceiver
            do { receiver = try ForwardReceiver(configuration: configuration) { ports.continuation.yield($0) } } catch { fail(error.message) }
            do {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { [host, out] in
                        for await bound in ports.stream {
                            // One line on stdout, unbuffered, so a script can wait for it and read the port.
                            FileHandle.standardOutput.write(Data(("listening on https://\(host):\(bound)/forwards as \(receiver.identity.uri); "
                                + "accepting only \(receiver.gatewayIdentity); appending to \(out)\n").utf8))
                            break
                        }
                    }
                    tasks.addTask {
                        defer { ports.continuation.finish() }
                        try await receiver.run()
                    }
                    try await tasks.waitForAll()
                }
            } catch { fail("the listener stopped: \(error)") }
        }
    }
}
