import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// A small HTTP endpoint beside the sync port: `GET /metrics` in Prometheus text format, `GET /health` for load
/// balancers and service managers.
///
/// `/health` answers `200 ok` when the server's storage answers a read, `503` with the reason when it does not —
/// a cheap check (one indexed read), safe to poll every second. Every other path is `404`, every other method `405`.
public final class MetricsEndpoint: Service, Sendable {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let store: any SyncServerStorage
    private let metrics: ServerMetrics
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    /// Creates the endpoint; `metrics` must be made by a factory exporting into `registry`.
    public init(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        metrics: ServerMetrics,
        store: any SyncServerStorage,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.metrics = metrics
        self.store = store
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A peer that connects and sends nothing is closed, so it cannot hold a connection (or a
                    // graceful shutdown) forever.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.addHandler(CloseOnIdle())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        if let address = server.channel.localAddress { onListening(address) }
        logger.info("metrics listening", metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let request): head = request
                    case .body: break
                    case .end:
                        guard let request = head else { return }
                        head = nil
                        let (status, contentType, body) = await respond(to: request)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: contentType)
                        headers.add(name: "Content-Length", value: String(body.count))
                        // One request per connection: scrapes are seconds apart, and no idle connection is left
                        // to keep a graceful shutdown waiting.
                        headers.add(name: "Connection", value: "close")
                        let bodyBytes = request.method == .HEAD ? [] : body
                        try await outbound.write(
                            .head(HTTPResponseHead(version: request.version, status: status, headers: headers))
                        )
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bodyBytes))))
                        try await outbound.write(.end(nil))
                        return
                    }
                }
            }
        } catch {
            logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The response to one request: one storage read each, scrapes seconds apart.
    private func respond(to request: HTTPRequestHead) async -> (HTTPResponseStatus, String, [UInt8]) {
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET and HEAD\n".utf8))
        }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        switch path {
        case "/metrics":
            // The size is read when asked for, not on a timer: a scrape every 15 s costs one stat and two pragmas.
            if let bytes = try? await store.storageSize() { metrics.databaseBytes.set(Double(bytes)) }
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case "/health":
            do {
                _ = try await store.lastChangeSeq()
                return (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
            } catch {
                return (.serviceUnavailable, "text/plain; charset=utf-8", Array("storage unavailable: \(error)\n".utf8))
            }
        default:
            return (.notFound, "text/plain; charset=utf-8", Array("not found: try /metrics or /health\n".utf8))
        }
    }
}
