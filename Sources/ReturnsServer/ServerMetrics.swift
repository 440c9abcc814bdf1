import CoreMetrics
import Foundation
import Prometheus

/// What the sync server counts, through swift-metrics, so any metrics backend can collect it; `returns-server serve
/// --metrics-port` exports them in Prometheus text format (``MetricsEndpoint``).
///
/// The names are a contract dashboards and alerts depend on (Server/README.md lists them).
public struct ServerMetrics: Sendable {
    /// Connections open now.
    let connections: Meter
    /// Kiosks connected and waiting for live pushes now.
    let watching: Meter
    /// Connections accepted.
    let connectionsAccepted: CoreMetrics.Counter
    /// Syncs completed: a sync ends with `bye`, or with `watch` when a kiosk stays connected.
    let syncs: CoreMetrics.Counter
    /// Pushed records that changed the server's replica.
    let recordsMerged: CoreMetrics.Counter
    /// Conflicts found merging pushes.
    let conflicts: CoreMetrics.Counter
    /// Bytes of attachments received and stored (`attachment-put`).
    let attachmentBytesReceived: CoreMetrics.Counter
    /// The server database's size in bytes (database and write-ahead log), updated when metrics are read.
    let databaseBytes: Meter
    /// How long syncs take, from `hello` (or the first request after a live-push wait) to their end.
    let syncDuration: CoreMetrics.Timer
    private let factory: any MetricsFactory

    /// The names of the metrics.
    public enum Name {
        public static let connections = "returnsync_connections"
        public static let watching = "returnsync_watching_kiosks"
        public static let connectionsAccepted = "returnsync_connections_accepted_total"
        public static let syncs = "returnsync_syncs_total"
        public static let recordsMerged = "returnsync_records_merged_total"
        public static let conflicts = "returnsync_conflicts_total"
        public static let attachmentBytesReceived = "returnsync_attachment_bytes_received_total"
        public static let refused = "returnsync_refused_total"
        public static let databaseBytes = "returnsync_database_bytes"
        public static let syncDuration = "returnsync_sync_duration_seconds"
    }

    /// Metrics made by `factory`; by default the process's bootstrapped one (none: they go nowhere).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        connections = Meter(label: Name.connections, factory: factory)
        watching = Meter(label: Name.watching, factory: factory)
        connectionsAccepted = CoreMetrics.Counter(label: Name.connectionsAccepted, factory: factory)
        syncs = CoreMetrics.Counter(label: Name.syncs, factory: factory)
        recordsMerged = CoreMetrics.Counter(label: Name.recordsMerged, factory: factory)
        conflicts = CoreMetrics.Counter(label: Name.conflicts, factory: factory)
        attachmentBytesReceived = CoreMetrics.Counter(label: Name.attachmentBytesReceived, factory: factory)
        databaseBytes = Meter(label: Name.databaseBytes, factory: factory)
        syncDuration = CoreMetrics.Timer(label: Name.syncDuration, factory: factory)
    }

    /// Counts a refused request or connection, by its protocol error code (`server-busy`, `rate-limited`,
    /// `authentication-failed`, …).
    func refused(_ reason: String) {
        CoreMetrics.Counter(label: Name.refused, dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// A Prometheus factory exporting into `registry`, with sync-sized latency buckets (5 ms to 2 min: a first
    /// sync of a large store takes minutes, a no-op sync milliseconds).
    public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Name.syncDuration] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(120),
        ]
        return factory
    }
}
