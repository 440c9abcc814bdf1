import Foundation
import Logging
import NIOCore
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ServiceLifecycle
import SyncClient
import SyncCore
import SyncEngine
import Synchronization
import WireProtocol

/// A sync server on 127.0.0.1, port 0, over its own store in a temporary directory, run in a ServiceGroup.
final class TestServer: Sendable {
    let directory: TemporaryDirectory
    let store: ReplicaStore
    let address: String
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    let server: SyncServer
    /// The server's storage: its group commit, for tests that watch it.
    let storage: SQLiteServerStorage

    /// Starts a server; `restarting` a stopped one serves its database again on its port.
    init(
        idleTimeout: TimeAmount = .seconds(60),
        restarting previous: TestServer? = nil,
        serving existing: ReplicaStore? = nil,
        metrics: ServerMetrics = ServerMetrics(),
        configure: (inout SyncServerConfiguration) -> Void = { _ in },
        function: String = #function
    ) async throws {
        if let previous {
            directory = previous.directory
            store = previous.store
        } else if let existing {
            directory = try TemporaryDirectory(function: function)
            store = existing
        } else {
            directory = try TemporaryDirectory(function: function)
            store = try ReplicaStore.create(
                at: directory.file("server.sqlite"),
                identity: .server(replicaID: ReplicaID("hq"))
            )
        }
        let logger = Logger(label: "test.server", factory: { _ in SwiftLogNoOpLogHandler() })
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        var configuration = SyncServerConfiguration(
            host: "127.0.0.1",
            port: previous.map { Int($0.address.split(separator: ":").last!)! } ?? 0,
            idleTimeout: idleTimeout
        )
        configure(&configuration)
        storage = SQLiteServerStorage(store)
        let server = SyncServer(
            store: storage,
            configuration: configuration,
            logger: logger,
            metrics: metrics,
            onListening: {
                continuation.yield($0)
                continuation.finish()
            }
        )
        self.server = server
        let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        self.group = group
        running = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        guard let bound = await iterator.next(), let port = bound.port else {
            throw SyncError("the test server did not report its address")
        }
        address = "127.0.0.1:\(port)"
    }

    /// Issues an enrollment token, as `returns-server enroll` prints it.
    func enroll(
        store storeID: String,
        kiosk: String,
        validFor: TimeInterval = EnrollmentToken.defaultValidity
    ) throws
        -> String
    {
        try EnrollmentToken.issue(in: store, store: StoreID(storeID), kiosk: KioskID(kiosk), validFor: validFor)
            .description
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }
}

/// A kiosk store in a temporary directory, enrolled with a test server.
struct TestKiosk {
    let directory: TemporaryDirectory
    let store: ReplicaStore
    let client: SyncClient

    init(
        store storeID: String,
        kiosk: String,
        server: TestServer,
        token: String? = nil,
        clockOffset: TimeInterval = 0,
        trustedCAPEM: String? = nil,
        bulkLoadMinimum: Int = 10_000,
        function: String = #function
    ) throws {
        directory = try TemporaryDirectory(function: function)
        var configuration = ReplicaStore.Configuration(now: { Date().addingTimeInterval(clockOffset) })
        configuration.bulkLoadMinimum = bulkLoadMinimum
        store = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID(storeID), kiosk: KioskID(kiosk)),
            configuration: configuration
        )
        let token = try token ?? server.enroll(store: storeID, kiosk: kiosk)
        try store.saveSyncCredentials(
            SyncClient.makeCredentials(server: server.address, token: token, trustedCAPEM: trustedCAPEM)
        )
        client = SyncClient(store: store)
    }

    /// Another handle on the same database, as a second process would open it.
    func secondProcess() throws -> (store: ReplicaStore, client: SyncClient) {
        let other = try ReplicaStore.open(at: store.path)
        return (other, SyncClient(store: other))
    }

    @discardableResult
    func record(order: String = "ORD-1", reason: ReturnReason = .defective) throws -> ProductReturn {
        try store.recordReturn(ReturnCapture(orderID: OrderID(order), gtin: GTIN("4006381333931"), reason: reason))
    }

    @discardableResult
    func sync() async throws -> SyncReport {
        try await client.sync()
    }

    var records: [VersionedRecord] {
        get throws { try store.returnRecords() }
    }
}

/// One run of a built executable (`kiosk`, `returns-server`) as a process, to its end.
struct ToolRun {
    /// Where `swift build` put the executables: beside the test bundle.
    static let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    var status: Int32
    var stdout: String
    var stderr: String
    /// Standard output without its final line end.
    var line: String { stdout.trimmingCharacters(in: .newlines) }

    /// Runs `tool ARGUMENTS` in `directory`; with `environment`, in exactly that environment (and a PATH).
    init(
        _ tool: String,
        _ arguments: [String],
        in directory: String? = nil,
        environment: [String: String]? = nil
    )
        throws
    {
        let process = try ChildProcess(
            Self.binaries.appendingPathComponent(tool).path,
            arguments,
            directory: directory,
            environment: environment.map { $0.merging(["PATH": "/usr/bin:/bin"]) { given, _ in given } },
            output: .pipe,
            error: .pipe
        )
        // Both pipes at once: a child filling one while the test waits on the other would never finish.
        let errors = Mutex(Data())
        let readingErrors = DispatchGroup()
        DispatchQueue.global().async(group: readingErrors) { [handle = process.standardError!] in
            let data = handle.readDataToEndOfFile()
            errors.withLock { $0 = data }
        }
        let stdout = process.standardOutput!.readDataToEndOfFile()
        let termination = process.waitUntilExit()
        readingErrors.wait()
        let stderr = errors.withLock { $0 }
        status = termination.status
        self.stdout = String(decoding: stdout, as: UTF8.self)
        self.stderr = String(decoding: stderr, as: UTF8.self)
    }
}
