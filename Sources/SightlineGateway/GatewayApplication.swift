import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import SightlineCore
import SightlineStore
import SightlineTLS
import UnixSignals

/// Builds the gateway: the mTLS API, the loopback ops listener and the SIGHUP reloader, as
/// services of one ServiceGroup. `main` and the tests both call this.
public struct Gateway: Sendable {
    public let state: GatewayState
    public let services: [any Service]

    /// Loads keys, policy and participants; a problem with any of them stops the start here.
    public static func load(config: GatewayConfig, logger: Logger,
                            onListening: @escaping @Sendable (_ api: Int, _ ops: Int) async -> Void = { _, _ in }) throws -> Gateway {
        let keys = try KeyMaterial.load(from: config.keysPath)
        let policy = try PolicyLoader.load(directory: config.policyDirectory)
        let participants = try ParticipantRegistry.load(path: config.participantsPath)
        let store = try SQLiteStore(path: config.databasePath)
        let state = GatewayState(config: config, store: store, keys: keys, policy: policy, participants: participants, logger: logger)
        return try Gateway(state: state, onListening: onListening)
    }

    public init(state: GatewayState, onListening: @escaping @Sendable (_ api: Int, _ ops: Int) async -> Void = { _, _ in }) throws {
        self.state = state
        _ = try state.checkpoints.verifierKey()  // an audit origin that cannot name a key stops the start
        let ports = PortReporter(onListening: onListening)
        let config = state.config
        let api = Application(
            router: Self.buildAPIRouter(state: state),
            // Idle keep-alive connections are closed after 60 s so slow or abandoned clients cannot hold
            // connections (and memory) forever; agencies' batch clients reconnect cheaply.
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: PartnershipTLS.server(GatewayTLS.material(config.tls))),
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: nil),
            onServerRunning: { channel in
                state.markListening()
                await ports.report(api: channel.localAddress?.port ?? 0)
            },
            logger: state.logger)
        let ops = Application(
            router: Self.buildOpsRouter(state: state),
            configuration: .init(address: .hostname(config.ops.host, port: config.ops.port), serverName: nil),
            onServerRunning: { channel in await ports.report(ops: channel.localAddress?.port ?? 0) },
            logger: state.logger)
        services = [CheckpointService(state: state), api, ops, ParticipantReloadService(state: state), RetentionService(state: state),
                    KeyRotationService(state: state),
                    ForwardDeliveryService(state: state, transport: try ForwardTransport(config: config, now: state.now))]
    }

    public static func buildAPIRouter(state: GatewayState) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: BrowserSafetyMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: state.metrics))
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: KeyEpochMiddleware(state: state))
        router.add(middleware: IdentityMiddleware(state: state))
        let v1 = router.group("v1", context: ParticipantContext.self)
        SubmissionRoutes(state: state).register(on: v1)
        PartnerRoutes(state: state).register(on: v1)
        AuditRoutes(state: state).register(on: v1)
        InboxRoutes(state: state).register(on: v1)
        ReviewRoutes(state: state).register(on: v1)
        EnquiryRoutes(state: state).register(on: v1)
        DPORoutes(state: state).register(on: v1)
        RoutingRoutes(state: state).register(on: v1)
        ConsoleRoutes(state: state, partner: PartnerRoutes(state: state)).register(on: router.group("console", context: ParticipantContext.self))
        return router
    }

    /// Plain HTTP for the orchestrator and Prometheus; bind it to loopback only.
    static func buildOpsRouter(state: GatewayState) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ -> Response in
            let ready = state.isListening && state.keysResumed ? await state.store.isReady() : false
            return Response(status: ready ? .ok : .serviceUnavailable,
                            body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "not ready: API listener, key check or store not up\n")))
        }
        router.get("metrics") { _, _ -> Response in
            if let counts = try? await state.store.counts() { state.metrics.setStoreCounts(counts) }
            state.metrics.setLinkageWork(state.store.linkageWork())
            state.metrics.setCertificateExpiry(state.certificateExpiry.daysLeft())
            if let counts = try? await state.store.outboxCounts() { state.metrics.setOutboxCounts(counts) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: state.metrics.exposition())))
        }
        return router
    }

    /// Runs until SIGTERM or SIGINT, then drains: stop accepting, finish in-flight requests, exit.
    public func run() async throws {
        try await serviceGroup(gracefulShutdownSignals: [.sigterm, .sigint]).run()
    }

    /// The ServiceGroup of all the gateway's services; tests trigger its graceful shutdown.
    public func serviceGroup(gracefulShutdownSignals: [UnixSignal]) -> ServiceGroup {
        ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                          gracefulShutdownSignals: gracefulShutdownSignals, logger: state.logger))
    }
}

/// Calls back once both listeners are bound, with their ports (port 0 in tests picks a free one).
actor PortReporter {
    let onListening: @Sendable (Int, Int) async -> Void
    var api: Int?
    var ops: Int?

    init(onListening: @escaping @Sendable (Int, Int) async -> Void) { self.onListening = onListening }

    func report(api: Int? = nil, ops: Int? = nil) async {
        if let api { self.api = api }
        if let ops { self.ops = ops }
        if let a = self.api, let o = self.ops { await onListening(a, o) }
    }
}

/// Reloads the participants file and the key file on SIGHUP: removing a participant, or a
/// rotated key, takes effect without a restart.
struct ParticipantReloadService: Service {
    let state: GatewayState

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            do { try state.reloadParticipants() } catch {
                state.logger.error("participants file not reloaded; the previous list stays in force", metadata: ["problem": "\(error.message)"])
            }
            do { try await state.reloadKeys() } catch {
                let problem = (error as? SightlineError)?.message ?? "\(type(of: error))"
                state.logger.error("key file not reloaded; the keys in force stay", metadata: ["problem": "\(problem)"])
            }
        }
    }
}
