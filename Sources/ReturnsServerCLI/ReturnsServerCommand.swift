import ArgumentParser
import CommandLineSupport
import Foundation
import HQConsole
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import PostgresStorage
import Prometheus
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import ServiceLifecycle
import SyncEngine
import SyncTransport
import Synchronization
import WireProtocol

/// Runs the `returns-server` command line.
public enum ReturnsServerCLI {
    /// Parses and runs one command, writing to ``Console/current``, and returns the process exit status.
    public static func run(arguments: [String]) async -> Int32 {
        await CommandRunner.run(ReturnsServerCommand.self, arguments: arguments)
    }
}

/// The `returns-server` command: the central replica every store syncs with.
public struct ReturnsServerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "returns-server",
        abstract: "The central ReturnSync server: serves kiosk syncs and answers HQ's questions.",
        version: ReturnSyncVersion.description,
        subcommands: [
            ServeCommand.self, EnrollCommand.self, KiosksCommand.self, ReturnsCommand.self, ConflictsCommand.self,
            ReportCommand.self, RecallCommand.self, OrdersCommand.self, PolicyCommand.self, StoreCommand.self,
            ReviewCommand.self, ExportCommand.self, AttachmentsCommand.self, UsersCommand.self,
            BackupCommand.self, RestoreCommand.self, ClockCommand.self, IdentityCommand.self, MigrateCommand.self,
        ]
    )

    public init() {}
}

/// The `--db` option every server command takes.
struct ServerDatabaseOptions: ParsableArguments {
    @Option(help: "The server database (default: $RETURNS_SERVER_DB, else ./returns-server.sqlite).")
    var db: String?
    @Option(
        name: .customLong("operator"),
        help: ArgumentHelp(
            "Who makes an HQ edit of returns, recorded on them (returns …, review, conflicts resolve, recall add|close), "
                + "or a change of users, recorded in their audit (default: $RETURNS_SERVER_OPERATOR). Other commands "
                + "record no operator."
        )
    )
    var operatorText: String?

    /// The operator HQ's edits record: `--operator`, else `$RETURNS_SERVER_OPERATOR`, else none.
    var operatorID: OperatorID? {
        get throws {
            let environment = ProcessInfo.processInfo.environment["RETURNS_SERVER_OPERATOR"].flatMap {
                $0.isEmpty ? nil : $0
            }
            return try (operatorText ?? environment).map(OperatorID.init)
        }
    }

    /// Runs `body` with the storage, its edits recorded as the operator's.
    func withEditor<T>(_ body: (any ReturnEditing) async throws -> T) async throws -> T {
        let operatorID = try self.operatorID
        return try await withStorage { try await body($0.operated(by: operatorID)) }
    }

    var path: String {
        if let db { return db }
        if let fromEnvironment = ProcessInfo.processInfo.environment["RETURNS_SERVER_DB"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "./returns-server.sqlite"
    }

    /// Opens the server database, creating it (as replica `hq`) when `create` and it does not exist yet.
    func openStore(create: Bool = false) throws -> ReplicaStore {
        try Self.openStore(at: path, create: create)
    }

    /// Runs `body` with the storage `path` names, SQLite or PostgreSQL (the commands that work on both).
    func withStorage<T>(
        create: Bool = false,
        _ body: (any ServerStorage) async throws -> T
    ) async throws -> T {
        try await Self.withStorage(
            at: path,
            create: create,
            logger: Logger(label: "returnsync.server", factory: VisibleLogHandler.standardError),
            body
        )
    }

    /// Opens the server database at `path`, creating it (as replica `hq`) when `create` and it does not exist yet.
    static func openStore(at path: String, create: Bool = false) throws -> ReplicaStore {
        if PostgresURL.isPostgres(path) {
            // Checked first, so a mistyped URL is named as such (without its password).
            let url: PostgresURL
            do {
                url = try PostgresURL(path)
            } catch {
                throw CLIError(message: error.message)
            }
            throw CLIError(
                message: "\(url) is a PostgreSQL database: backup is PostgreSQL's own (pg_dump or point-in-time "
                    + "recovery, see Server/README); use the SQLite file for --db"
            )
        }
        if create, !FileManager.default.fileExists(atPath: path) {
            return try ReplicaStore.create(
                at: path,
                identity: .server(replicaID: ReplicaID("hq")),
                configuration: .server
            )
        }
        do {
            let store = try ReplicaStore.open(
                at: path,
                configuration: ReplicaStore.Configuration.server.announcingMigrations()
            )
            guard store.identity.role == .server else {
                throw CLIError(message: "\(path) is a kiosk database (\(store.identity.replicaID)), not a server's")
            }
            return store
        } catch let error as ReplicaStoreError where error.code == .databaseMissing {
            throw CLIError(
                message:
                    "no server database at \(path): run 'returns-server serve' or 'returns-server enroll' first, or pass --db PATH"
            )
        }
    }

    /// Runs `body` with the sync storage `path` names: a PostgreSQL URL (opened, migrated, closed after) or a SQLite
    /// file (created as replica `hq` when `create` and missing).
    static func withStorage<T>(
        at path: String,
        create: Bool,
        logger: Logger,
        _ body: (any ServerStorage) async throws -> T
    ) async throws -> T {
        guard PostgresURL.isPostgres(path) else {
            return try await body(SQLiteServerStorage(openStore(at: path, create: create)))
        }
        let storage: PostgresServerStorage
        do {
            let console = Console.current
            storage = try await PostgresServerStorage.open(
                try PostgresURL(path),
                logger: logger,
                announceMigration: { console.printError($0.announcement) }
            )
        } catch let error as PostgresStorageError {
            throw CLIError(message: error.message)
        }
        do {
            let result = try await body(storage)
            await storage.close()
            return result
        } catch {
            await storage.close()
            throw error
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve kiosk syncs; prints 'listening on HOST:PORT' first. SIGTERM or SIGINT stop it gracefully.",
        discussion: """
            Every option can also come from a config file (--config FILE, or $RETURNS_SERVER_CONFIG: 'key = value' \
            lines, keys named as the options without '--') and from environment variables (RETURNS_SERVER_ and the \
            key in capitals, '-' as '_': RETURNS_SERVER_MAX_CONNECTIONS). Options win over the environment, the \
            environment over the file. --print-config shows the effective settings and where each came from.
            """
    )

    @Option(help: "The server database (default: ./returns-server.sqlite).") var db: String?
    @Option(help: "The address to listen on (default: 127.0.0.1).") var host: String?
    @Option(help: "The port to listen on (default: 7420; 0 picks a free one).") var port: String?
    @Option(help: "Serve TLS with this certificate chain (PEM); needs --tls-key.") var tlsCert: String?
    @Option(help: "The private key (PEM) of --tls-cert.") var tlsKey: String?
    @Option(
        help: """
            The most connections served at once; past it the oldest unauthenticated one is closed, and when all are \
            authenticated more are told 'server-busy' (default: 4096).
            """
    )
    var maxConnections: String?
    @Option(help: "The most connections one kiosk holds; a new one closes its oldest (default: 4).")
    var maxConnectionsPerKiosk: String?
    @Option(help: "The most unauthenticated connections from one address; a new one closes the oldest (default: 64).")
    var maxUnauthenticatedPerAddress: String?
    @Option(help: "How many syncs one kiosk may start per minute; more are told 'rate-limited' (default: 60).")
    var syncsPerMinute: String?
    @Option(
        help: """
            The longest a push may expect to wait behind the pushes queued before it, in seconds; a push behind \
            more is told 'server-busy' at once (default: 20; SQLite storage only).
            """
    )
    var pushBacklogSeconds: String?
    @Option(
        help: """
            How many nice levels below the server's other threads its event loops run, so that a burst of syncs \
            finishes the pushes taken in before more are read; 0 runs them alike (default: 10; SQLite storage only).
            """
    )
    var eventLoopNice: String?
    @Option(help: "Serve Prometheus metrics and /health over HTTP on this port (default: none; 0 picks one).")
    var metricsPort: String?
    @Option(help: "The address the metrics endpoint listens on (default: 127.0.0.1).") var metricsHost: String?
    @Option(help: "Serve HQ's web console over HTTP on this port (default: none; 0 picks one).")
    var consolePort: String?
    @Option(help: "The address the console listens on (default: 127.0.0.1).") var consoleHost: String?
    @OptionGroup var settingsOptions: SettingsOptions

    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        typealias S = ServeSettings
        return try Settings(
            keys: S.keys,
            flags: [
                S.db.name: db, S.host.name: host, S.port.name: port, S.tlsCert.name: tlsCert, S.tlsKey.name: tlsKey,
                S.maxConnections.name: maxConnections, S.maxConnectionsPerKiosk.name: maxConnectionsPerKiosk,
                S.maxUnauthenticatedPerAddress.name: maxUnauthenticatedPerAddress,
                S.syncsPerMinute.name: syncsPerMinute, S.pushBacklogSeconds.name: pushBacklogSeconds,
                S.eventLoopNice.name: eventLoopNice, S.metricsHost.name: metricsHost,
                S.metricsPort.name: metricsPort, S.consoleHost.name: consoleHost, S.consolePort.name: consolePort,
                Setting.logLevel.name: settingsOptions.logLevel,
            ],
            configFile: settingsOptions.config,
            environmentPrefix: "RETURNS_SERVER_",
            environment: environment
        )
    }

    func run() async throws {
        let settings = try settings()
        // Every value is checked before anything starts, so a bad one is reported with where it came from.
        let serve = try ServeSettings(settings)
        if settingsOptions.printConfig {
            Console.current.print(settings.printed)
            return
        }
        let (host, metricsHost, metricsPort) = (serve.host, serve.metricsHost, serve.metricsPort)
        var configuration = SyncServerConfiguration(
            host: host,
            port: serve.port,
            maximumConnections: serve.maxConnections,
            maximumUnauthenticatedPerAddress: serve.maxUnauthenticatedPerAddress,
            maximumConnectionsPerKiosk: serve.maxConnectionsPerKiosk,
            syncsPerMinutePerKiosk: serve.syncsPerMinute
        )
        configuration.pushBacklogLimit = .seconds(Int64(serve.pushBacklogSeconds))
        if let tls = serve.tls {
            do {
                configuration.tls = try SyncServerConfiguration.tlsContext(
                    certificatePath: tls.certificate,
                    keyPath: tls.key
                )
            } catch {
                throw CLIError(message: error.message)
            }
        }
        let console = Console.current
        var logger = Logger(label: "returnsync.server", factory: VisibleLogHandler.standardError)
        logger.logLevel = serve.logLevel
        // Which malloc serves the process changes how its memory and CPU behave: an operator reads it here.
        logger.info("memory allocator", metadata: ["allocator": "\(MemoryAllocator.inUse)"])
        // One serve per SQLite database (ServeLock), held until this returns; several on one PostgreSQL database.
        let lock = PostgresURL.isPostgres(serve.db) ? nil : try ServeLock.acquire(database: serve.db)
        defer { withExtendedLifetime(lock) {} }
        try await ServerDatabaseOptions.withStorage(at: serve.db, create: true, logger: logger) { storage in
            if storage is SQLiteServerStorage {
                // Every write goes through SQLite's one writer thread: the loops yield the cores to it and to the
                // pushes' preparation (EventLoopPriority). PostgreSQL writes in processes of its own.
                await EventLoopPriority.lower(MultiThreadedEventLoopGroup.singleton, by: Int32(serve.eventLoopNice))
            }
            // Metrics are collected only when something exports them.
            let registry = PrometheusCollectorRegistry()
            let metrics =
                metricsPort == nil
                ? ServerMetrics() : ServerMetrics(factory: ServerMetrics.prometheusFactory(registry: registry))
            // Both listeners start at once, but scripts read the first line for the sync port: the metrics line waits
            // until that one is printed.
            let announced = Mutex((listening: false, laterLines: [String]()))
            let server = SyncServer(
                store: storage,
                configuration: configuration,
                logger: logger,
                metrics: metrics,
                onListening: { address in
                    announced.withLock { state in
                        console.print("listening on \(host):\(address.port ?? 0)")
                        state.listening = true
                        for line in state.laterLines { console.print(line) }
                        state.laterLines = []
                    }
                }
            )
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
            if let consolePort = serve.consolePort {
                let consoleHost = serve.consoleHost
                // Over TLS when the sync port is: the same certificate, and cookies only ever sent encrypted.
                var hqConsole = HQConsole(storage: storage, secure: serve.tls != nil)
                hqConsole.passwordHasher = try UsersCommand.hasher()
                var http = HTTPServerBuilder.http1()
                if let tls = serve.tls {
                    do {
                        http = try .tls(
                            .http1(),
                            tlsConfiguration: SyncTLS.serverConfiguration(
                                certificatePath: tls.certificate,
                                keyPath: tls.key
                            )
                        )
                    } catch let error as TLSSetupError {
                        throw CLIError(message: error.message)
                    }
                }
                let application = Application(
                    router: hqConsole.router(),
                    server: http,
                    configuration: ApplicationConfiguration(address: .hostname(consoleHost, port: consolePort)),
                    onServerRunning: { channel in
                        let scheme = serve.tls == nil ? "http" : "https"
                        let line = "console on \(scheme)://\(consoleHost):\(channel.localAddress?.port ?? 0)/"
                        announced.withLock { state in
                            if state.listening { console.print(line) } else { state.laterLines.append(line) }
                        }
                    },
                    logger: logger
                )
                services.append(.init(service: application))
            }
            if let metricsPort {
                let endpoint = MetricsEndpoint(
                    host: metricsHost,
                    port: metricsPort,
                    registry: registry,
                    metrics: metrics,
                    store: storage,
                    logger: logger,
                    onListening: { address in
                        let line = "metrics on http://\(metricsHost):\(address.port ?? 0)/metrics"
                        announced.withLock { state in
                            if state.listening { console.print(line) } else { state.laterLines.append(line) }
                        }
                    }
                )
                services.append(.init(service: endpoint))
            }
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services,
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }
}

/// What `returns-server serve` runs with: each setting declared once, typed, every value checked.
struct ServeSettings: Sendable {
    static let db = Setting.text("db", default: "./returns-server.sqlite", help: "the server database")
    static let host = Setting.text("host", default: "127.0.0.1", help: "the address to listen on")
    static let port = Setting.integer("port", default: 7420, in: 0...65535, help: "the port to listen on")
    static let tlsCert = Setting.text("tls-cert", help: "TLS certificate chain (PEM)")
    static let tlsKey = Setting.text("tls-key", help: "TLS private key (PEM)")
    static let maxConnections = Setting.integer(
        "max-connections",
        default: 4096,
        in: 1...1_000_000,
        help: "connections served at once"
    )
    static let maxConnectionsPerKiosk = Setting.integer(
        "max-connections-per-kiosk",
        default: 4,
        in: 1...1_000,
        help: "connections one kiosk holds"
    )
    static let maxUnauthenticatedPerAddress = Setting.integer(
        "max-unauthenticated-per-address",
        default: 64,
        in: 1...1_000_000,
        help: "unauthenticated connections from one address"
    )
    static let syncsPerMinute = Setting.integer(
        "syncs-per-minute",
        default: 60,
        in: 1...100_000,
        help: "syncs one kiosk may start per minute"
    )
    static let pushBacklogSeconds = Setting.integer(
        "push-backlog-seconds",
        default: 20,
        in: 1...3_600,
        help: "the longest wait behind queued pushes before 'server-busy'"
    )
    static let eventLoopNice = Setting.integer(
        "event-loop-nice",
        default: Int(EventLoopPriority.sqliteServerIncrement),
        in: 0...19,
        help: "nice levels the event loops run below the writer (SQLite)"
    )
    static let metricsHost = Setting.text("metrics-host", default: "127.0.0.1", help: "the metrics endpoint's address")
    static let metricsPort = Setting.integer("metrics-port", in: 0...65535, help: "the metrics endpoint's port")
    static let consoleHost = Setting.text("console-host", default: "127.0.0.1", help: "the web console's address")
    static let consolePort = Setting.integer("console-port", in: 0...65535, help: "the web console's port")

    /// Every setting, in the order `--print-config` shows them.
    static let keys: [Settings.Key] = [
        db.key, host.key, port.key, tlsCert.key, tlsKey.key, maxConnections.key, maxConnectionsPerKiosk.key,
        maxUnauthenticatedPerAddress.key, syncsPerMinute.key, pushBacklogSeconds.key, eventLoopNice.key,
        metricsHost.key, metricsPort.key, consoleHost.key, consolePort.key, Setting.logLevel.key,
    ]

    var db: String
    var host: String
    var port: Int
    /// The certificate chain and key files, when serving TLS.
    var tls: (certificate: String, key: String)?
    var maxConnections: Int
    var maxConnectionsPerKiosk: Int
    var maxUnauthenticatedPerAddress: Int
    var syncsPerMinute: Int
    var pushBacklogSeconds: Int
    /// How many nice levels below the other threads the event loops run (SQLite storage).
    var eventLoopNice: Int
    var metricsHost: String
    /// The metrics endpoint's port; `nil`: no endpoint.
    var metricsPort: Int?
    var consoleHost: String
    /// The web console's port; `nil`: no console.
    var consolePort: Int?
    var logLevel: Logger.Level

    /// Reads and checks every setting.
    ///
    /// - Throws: ``CLIError`` naming the first bad value and where it came from.
    init(_ settings: Settings) throws {
        db = try settings.value(required: Self.db)
        host = try settings.value(required: Self.host)
        port = try settings.value(required: Self.port)
        maxConnections = try settings.value(required: Self.maxConnections)
        maxConnectionsPerKiosk = try settings.value(required: Self.maxConnectionsPerKiosk)
        maxUnauthenticatedPerAddress = try settings.value(required: Self.maxUnauthenticatedPerAddress)
        syncsPerMinute = try settings.value(required: Self.syncsPerMinute)
        pushBacklogSeconds = try settings.value(required: Self.pushBacklogSeconds)
        eventLoopNice = try settings.value(required: Self.eventLoopNice)
        metricsPort = try settings.value(Self.metricsPort)
        metricsHost = try settings.value(required: Self.metricsHost)
        consolePort = try settings.value(Self.consolePort)
        consoleHost = try settings.value(required: Self.consoleHost)
        logLevel = try settings.value(required: .logLevel)
        switch (try settings.value(Self.tlsCert), try settings.value(Self.tlsKey)) {
        case (let certificate?, let key?): tls = (certificate, key)
        case (nil, nil): tls = nil
        default: throw CLIError(message: "tls-cert and tls-key go together: give both or neither")
        }
    }
}

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Issue a one-time enrollment token for a kiosk; prints the token alone on a line.",
        discussion: discussion
    )

    static let discussion = """
        The token is SECRET.FINGERPRINT: the kiosk proves it holds the secret without sending it, and pins the \
        fingerprint of this server's key, so it never syncs with an impostor. Issuing a new token for a kiosk \
        voids its earlier unused ones; for an enrolled kiosk it is how the kiosk gets a new key \
        ('kiosk enroll --token TOKEN'), after a revocation say.
        """

    @OptionGroup var database: ServerDatabaseOptions
    @Option(help: "The kiosk's store.") var store: String
    @Option(help: "The kiosk's id within its store.") var kiosk: String
    @Option(help: "How long the token stays valid: a number with s, m, h or d (default 7d).")
    var validFor: String = "7d"

    func run() async throws {
        let storeID = try StoreID(store)
        let kioskID = try KioskID(kiosk)
        let validity = try Self.duration(validFor)
        let token = try await ServerDatabaseOptions.withStorage(
            at: database.path,
            create: true,
            logger: Logger(label: "returnsync.enroll", factory: VisibleLogHandler.standardError)
        ) { storage in
            try await EnrollmentToken.issue(in: storage, store: storeID, kiosk: kioskID, validFor: validity)
        }
        Console.current.print(token.description)
    }

    /// Seconds in `text`: a positive number with a unit, `s`, `m`, `h` or `d`.
    static func duration(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let number = Int(text.dropLast()), number > 0,
            number <= 3_650 * 86_400
        else {
            throw CLIError(
                message: "invalid --valid-for '\(text)': expected a positive number with s, m, h or d, such as 7d"
            )
        }
        return TimeInterval(number) * unit
    }
}

struct KiosksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosks",
        abstract: "Enrolled kiosks and their last sync; revoke a kiosk.",
        subcommands: [KiosksListCommand.self, KiosksRevokeCommand.self],
        defaultSubcommand: KiosksListCommand.self
    )
}

struct KiosksRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Refuse a kiosk from now on, on every connection (a running server closes them within a second).",
        discussion: """
            A revoked kiosk is answered authentication-failed. To bring it back (with a new key), issue it a new \
            token with 'returns-server enroll' and run 'kiosk enroll --token TOKEN' on it.
            """
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Argument(help: "The kiosk's store.") var store: String
    @Argument(help: "The kiosk's id within its store.") var kiosk: String

    func run() async throws {
        let (storeID, kioskID) = (try StoreID(store), try KioskID(kiosk))
        try await database.withStorage { try await $0.revokeKiosk(store: storeID, kiosk: kioskID) }
        Console.current.print("revoked \(store)/\(kiosk)")
    }
}

struct KiosksListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract:
            "Enrolled kiosks, their last sync, the protocol version each spoke then, and whether they are revoked."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let kiosks = try await database.withStorage { try await $0.enrolledKiosks() }
        if json {
            try Console.current.printJSON(
                kiosks.map(KioskDocument.init)
            )
        } else {
            let rows = kiosks.map {
                [
                    $0.replicaID, Format.time($0.enrolledAt), $0.lastSyncAt.map(Format.time) ?? "never",
                    $0.protocolVersion.map(String.init) ?? "-", $0.revokedAt.map { "revoked " + Format.time($0) } ?? "",
                ]
            }
            Console.current.print(Format.table(["KIOSK", "ENROLLED", "LAST SYNC", "PROTOCOL", "STATUS"], rows))
        }
    }
}

struct ReturnsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "returns",
        abstract: "Every store's returns, and HQ's edits to them (synced to kiosks).",
        subcommands: [
            List.self, Show.self, SetDisposition.self, AddNote.self, Close.self, Void.self, Refund.self, RMA.self,
            Credit.self, Repair.self, Handoff.self,
        ]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List or find returns of every store, oldest first, by their short ids.",
            discussion: """
                Every filter given must hold. A short id is the shortest prefix, at least 8 characters, that no other \
                return at HQ shares; any such prefix works wherever a command takes a return id. Days are each \
                store's days, in the time zone set with 'store set' (UTC when none).
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "Only this store's returns.") var store: String?
        @OptionGroup var filters: ReturnSearchOptions
        @Flag(help: "Print one JSON array, in the kiosk's shape.") var json = false

        func run() async throws {
            let store = try store.map(StoreID.init)
            _ = try filters.search(store: store)  // every value checked before the database is opened
            let result = try await database.withStorage { [json, filters] storage in
                let search = try filters.search(store: store, timeZones: try await storage.storeTimeZones())
                return try await storage.findReturns(search, records: json)
            }
            if json {
                try Console.current.printJSON(
                    try result.returns.compactMap(\.record).map { try ReturnDocument(record: $0) }
                )
            } else {
                Console.current.print(Format.returnsTable(result))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one return in full.")

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @Flag(help: "Print JSON, in the kiosk's shape.") var json = false

        func run() async throws {
            let (record, campaigns) = try await database.withStorage { storage in
                (try await storage.returnRecord(storage.resolveReturnID(id)), try await storage.recallCampaigns())
            }
            if json {
                try Console.current.printJSON(ReturnDocument(record: record))
            } else {
                let campaign = try ProductReturn(record: record).recallCampaign
                Console.current.print(
                    try Format.returnDetails(record, recall: campaign.flatMap { id in campaigns.first { $0.id == id } })
                )
            }
        }
    }

    struct SetDisposition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disposition",
            abstract: "Route a return, as HQ."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @Argument(help: "Where the item goes.") var disposition: String
        @Option(help: "A note.") var note: String?

        func run() async throws {
            let (id, disposition, note) = (self.id, self.disposition, self.note)
            Console.current.print(
                try await database.withEditor {
                    try await ReturnEdits.disposition($0, id: id, to: disposition, note: note)
                }
            )
        }
    }

    struct AddNote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "note", abstract: "Add a note to a return, as HQ.")

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @Argument(help: "The note.") var text: String

        func run() async throws {
            let (id, text) = (self.id, self.text)
            Console.current.print(try await database.withEditor { try await ReturnEdits.note($0, id: id, text: text) })
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "close",
            abstract:
                "Close a dispositioned return, as HQ: the item was handled (a recycled or disposed one needs its hand-off)."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @Option(help: "A note.") var note: String?

        func run() async throws {
            let (id, note) = (self.id, self.note)
            Console.current.print(
                try await database.withEditor { try await ReturnEdits.close($0, id: id, note: note) }
            )
        }
    }

    struct Void: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "void", abstract: "Void a return, as HQ.")

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @Option(help: "Why the return is voided (required).") var note: String

        func run() async throws {
            let (id, note) = (self.id, self.note)
            Console.current.print(try await database.withEditor { try await ReturnEdits.void($0, id: id, note: note) })
        }
    }
}

extension ReturnsCommand {
    struct Refund: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "refund",
            abstract: "Decide a return's refund, as HQ (once; see 'kiosk refund')."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @OptionGroup var refund: RefundOptions

        func run() async throws {
            let (id, refund) = (self.id, self.refund)
            Console.current.print(try await database.withEditor { try await refund.perform(on: $0, id: id) })
        }
    }

    struct RMA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rma",
            abstract: "Record a vendor RMA and its shipment, as HQ."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @OptionGroup var shipment: VendorShipmentOptions

        func run() async throws {
            let (id, shipment) = (self.id, self.shipment)
            Console.current.print(try await database.withEditor { try await shipment.perform(on: $0, id: id) })
        }
    }

    struct Credit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "credit",
            abstract: "Record the credit a vendor gave for a returned unit, as HQ."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @OptionGroup var credit: VendorCreditOptions

        func run() async throws {
            let (id, credit) = (self.id, self.credit)
            Console.current.print(try await database.withEditor { try await credit.perform(on: $0, id: id) })
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "repair", abstract: "Update a repair, as HQ.")

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @OptionGroup var repair: RepairOptions

        func run() async throws {
            let (id, repair) = (self.id, self.repair)
            Console.current.print(try await database.withEditor { try await repair.perform(on: $0, id: id) })
        }
    }

    struct Handoff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "handoff",
            abstract: "Record a recycling or disposal hand-off, as HQ."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
        @OptionGroup var handoff: HandoffOptions

        func run() async throws {
            let (id, handoff) = (self.id, self.handoff)
            Console.current.print(try await database.withEditor { try await handoff.perform(on: $0, id: id) })
        }
    }
}

struct ConflictsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "The conflict audit, and HQ settling an open conflict.",
        subcommands: [ConflictsListCommand.self, ConflictsResolveCommand.self],
        defaultSubcommand: ConflictsListCommand.self
    )
}

struct ConflictsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The server's conflict audit: every conflict a merge found, its values and dots, the value shown."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let entries = try await database.withStorage { try await $0.conflictAudit() }
        if json {
            try Console.current.printJSON(entries.map(ConflictDocument.init))
        } else {
            Console.current.print(Format.conflictsTable(entries))
        }
    }
}

struct ConflictsResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Settle an open conflict: write VALUE to FIELD as an HQ edit that replaces every concurrent value.",
        discussion: """
            Works on any return, closed or voided included. VALUE is one of the concurrent values (as 'returns show' \
            prints them) or another valid value for the field; 'none' clears an optional field. Fields written \
            together (repair, hand-off, review) are settled as a group. Kiosks receive the edit on their next sync; \
            the replaced values stay in the return's history.
            """
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Argument(help: "The field in conflict, as 'returns show' names it (disposition, repairStatus, …).") var field:
        String
    @Argument(help: "The value to keep.") var value: String
    @Flag(help: "Print the settled return as JSON, in the kiosk's shape.") var json = false

    func run() async throws {
        let (text, field, value) = (self.id, self.field, self.value)
        let operatorID = try database.operatorID
        let (settled, record) = try await database.withStorage { storage in
            let id = try await storage.resolveReturnID(text)
            let settled = try await storage.resolveConflict(id, field: field, value: value, operatorID: operatorID)
            return (settled, try await storage.returnRecord(id))
        }
        if json {
            try Console.current.printJSON(ReturnDocument(record: record))
        } else {
            let replaced = settled.replaced.map(ReturnEntity.plainText).joined(separator: ", ")
            Console.current.print(
                "\(settled.item.id) \(field) settled: \(ReturnEntity.plainText(settled.value)) (replaced \(replaced))"
            )
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Returns, units, return rates and money by store, reason, status, disposition or GTIN; recall completion; repair turnaround; open vendor claims and repairs by age; a summary."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Option(
        help:
            "What: store, reason, status, disposition, gtin, recall, repair, ageing (open vendor claims and repairs) or summary (not for html)."
    )
    var by = "store"
    @Option(
        help:
            "Output: table, json, csv, or html (one self-contained page with charts: returns per day per store, reasons, dispositions, open conflicts, review queue)."
    )
    var format = "table"
    @Option(help: "Write the report to this file (replaced if it exists) instead of standard output; html needs it.")
    var output: String?
    @Option(
        help: ArgumentHelp(
            "html: the last day of the per-day chart, YYYY-MM-DD (each store's day in its time zone; default today). "
                + "Totals are always current.",
            valueName: "day"
        )
    )
    var date: String?
    @Option(help: "html: how many days the per-day chart shows, 1 to 366.")
    var days = 30
    @Flag(
        help:
            "Money instead of counts, per group and currency: value returned, refunded, restocking fees kept, value recovered (with --by store, reason, status, disposition or gtin)."
    )
    var money = false

    func run() async throws {
        let kinds = ReportNotes.kinds
        guard kinds.contains(by) else {
            throw CLIError(message: "invalid --by '\(by)': expected one of \(kinds.joined(separator: ", "))")
        }
        if money, ReplicaStore.ReportDimension(rawValue: by) == nil || format == "html" {
            throw CLIError(
                message: "--money groups by store, reason, status, disposition or gtin, as a table, json or csv; "
                    + "not --by \(by)\(format == "html" ? " or --format html" : "")"
            )
        }
        guard ["table", "json", "csv", "html"].contains(format) else {
            throw CLIError(message: "invalid --format '\(format)': expected one of table, json, csv, html")
        }
        if format == "html" {
            guard let output else {
                throw CLIError(message: "--format html writes a file: give it with --output FILE")
            }
            guard (1...366).contains(days) else {
                throw CLIError(message: "invalid --days '\(days)': expected 1 to 366")
            }
            var end: Date?
            if let date {
                guard let day = ReturnDates.dayNumber(date) else {
                    throw CLIError(message: "invalid --date '\(date)': expected a day as YYYY-MM-DD")
                }
                end = Date(millisecondsSince1970: Int64(day) * 86_400_000)
            }
            let dashboard = try await database.withStorage { storage in
                try await storage.dashboard(days: days, endingOn: end)
            }
            try Self.write(HTMLReport.render(dashboard), to: output)
            Console.current.print("wrote the report to \(output)")
            return
        }
        let (by, withTotal, money) = (self.by, format == "table", self.money)
        let report = try await database.withStorage { storage in
            try await storage.report(by: by, money: money, withTotal: withTotal)
        }
        var text = ReportNotes.render(report, as: format)
        // A table is read by a person: it says what its less obvious columns count (JSON and CSV stay data).
        if format == "table", let note = ReportNotes.note(by: by, money: money) { text += "\n" + note }
        if let output {
            try Self.write(text + "\n", to: output)
        } else {
            Console.current.print(text)
        }
    }

    /// Writes `text` to `path` through a temporary file renamed over it: a reader (a browser, a mail job) never
    /// sees half a report.
    static func write(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CLIError(message: "cannot write the report to \(path): \(error.localizedDescription)")
        }
    }
}

struct RecallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recall",
        abstract: "Recall campaigns: created and closed at HQ, they reach every kiosk with its next sync.",
        subcommands: [Add.self, List.self, Alerts.self, Close.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Create a recall campaign.")

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "The campaign id, such as RC-2026-014.") var id: String
        @Option(help: "An affected GTIN (repeat for several).") var gtin: [String]
        @Option(help: "An affected lot (repeat; none: every lot).") var lot: [String] = []
        @Option(help: "An affected serial (repeat; none: every serial).") var serial: [String] = []
        @Option(help: "What is dangerous about the product.") var hazard: String
        @Option(help: "What staff must do with a returned unit.") var instructions: String
        @Option(help: "How many units the campaign covers.") var units: Int

        func run() async throws {
            let campaign = try RecallCampaign(
                id: id,
                gtins: gtin.map(GTIN.init),
                lots: lot.map { try ItemCode($0, kind: "lot") },
                serials: serial.map { try ItemCode($0, kind: "serial") },
                hazard: hazard,
                instructions: instructions,
                unitsAffected: units,
                createdAt: Date()
            )
            let operatorID = try database.operatorID
            let started = try await database.withStorage(create: true) { storage in
                try await RecallActions.start(campaign, in: storage, operatorID: operatorID)
            }
            let count = started.flagged
            Console.current.print(
                "recall \(campaign.id) created; \(count) return\(count == 1 ? "" : "s") already held at HQ flagged"
                    + (started.alerts == 0
                        ? "" : ", \(started.alerts) of them recall alerts (see 'returns-server recall alerts')")
            )
        }
    }

    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alerts",
            abstract:
                "Recalled units that were restocked, repackaged or sent for repair before the recall reached them.",
            discussion: """
                A campaign flags every return it covers when it reaches HQ or a kiosk, captured before it included. \
                Open returns are quarantined or held; a unit whose return was already closed as restocked, \
                repackaged or repaired may be back on sale or with a customer: it is listed here, by store, until \
                it is found. Each return's note says where it went.
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "Only this campaign's.") var recall: String?
        @Option(help: "Only this store's.") var store: String?
        @Flag(help: "Print one JSON array of returns, in the kiosk's shape.") var json = false

        func run() async throws {
            let search = ReturnSearch(store: try store.map(StoreID.init), recallCampaign: recall, recallAlerts: true)
            let result = try await database.withStorage { [json] in try await $0.findReturns(search, records: json) }
            if json {
                try Console.current.printJSON(
                    try result.returns.compactMap(\.record).map { try ReturnDocument(record: $0) }
                )
            } else {
                Console.current.print(Format.recallAlertsTable(result))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every recall campaign.")

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let campaigns = try await database.withStorage { try await $0.recallCampaigns() }
            if json {
                try Console.current.printJSON(campaigns.map(RecallDocument.init))
            } else {
                Console.current.print(Format.recallsTable(campaigns))
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "close", abstract: "Close a recall campaign.")

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The campaign id.") var id: String

        func run() async throws {
            let id = self.id
            let operatorID = try database.operatorID
            let campaign = try await database.withStorage {
                try await RecallActions.close(id, in: $0, operatorID: operatorID)
            }
            Console.current.print("recall \(campaign.id) closed")
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of the server database to a new file, while it keeps serving."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Option(help: "The copy to write (must not exist).") var output: String

    func run() async throws {
        let start = Date()
        let size = try database.openStore().backup(to: output)
        Console.current.print(
            "backed up \(database.path) to \(output): \(size) bytes in \(String(format: "%.1f", Date().timeIntervalSince(start))) s"
        )
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup as the server database, under a new server id, so kiosks re-send what it lacks.",
        discussion: """
            SQLite: stop 'serve' and move the damaged database (and its -wal and -shm files) aside first: restore \
            never overwrites. The restored server writes under a new replica id (hq becomes hq.r2); at their next \
            sync kiosks see it, re-send everything they hold and pull from the start, so what the server \
            acknowledged after the backup comes back. PostgreSQL: restore the database with PostgreSQL's tools \
            (pg_restore, point-in-time recovery) while every 'serve' process is stopped, then run restore with --db \
            set to its URL and no --from: it gives the server its new id the same way. See Server/README.md.
            """
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Option(help: "The backup to restore, as 'returns-server backup' wrote it (SQLite only).") var from: String?

    func run() async throws {
        let path = database.path
        guard PostgresURL.isPostgres(path) else {
            guard let from else {
                throw CLIError(message: "restore of a SQLite database needs --from BACKUP, the file 'backup' wrote")
            }
            let restored = try ReplicaStore.restore(backup: from, to: path)
            Console.current.print(
                "restored \(from) to \(path) as server \(restored.identity.replicaID); "
                    + "kiosks re-send what they hold at their next sync"
            )
            return
        }
        guard from == nil else {
            throw CLIError(
                message: "a PostgreSQL database is restored with PostgreSQL's tools (pg_restore, point-in-time "
                    + "recovery); then run restore --db URL without --from to give the server its new id"
            )
        }
        let url: PostgresURL
        do {
            url = try PostgresURL(path)
        } catch {
            throw CLIError(message: error.message)
        }
        let logger = Logger(label: "returnsync.restore", factory: VisibleLogHandler.standardError)
        do {
            let console = Console.current
            let storage = try await PostgresServerStorage.open(
                url,
                applicationName: "returns-server restore",
                logger: logger,
                announceMigration: { console.printError($0.announcement) }
            )
            do {
                let (former, new) = try await storage.retireServerID()
                await storage.close()
                Console.current.print(
                    "\(url) is now server \(new) (was \(former)); kiosks re-send what they hold at their next sync"
                )
            } catch {
                await storage.close()
                throw error
            }
        } catch let error as PostgresStorageError {
            throw CLIError(message: error.message)
        }
    }
}

struct ClockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "HQ's hybrid logical clock next to the wall clock; `repair` sets it back and rewrites future stamps.",
        discussion: """
            Writes stamped more than 5 minutes ahead of the server's clock are refused (clock-skew). A stamp from \
            the future accepted before that rule (or a server whose wall clock was wrong) can leave HQ's clock far \
            ahead, even at its largest stamp, where every HQ write fails. `clock repair` sets the clock back to the \
            wall clock and writes the registers holding future stamps again with sound ones, so kiosks receive \
            sound records. Stop `serve` first; fix the machine's clock before repairing.
            """,
        subcommands: [Show.self, Repair.self],
        defaultSubcommand: Show.self
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "The clock, how far it is from the wall clock, and records stamped from the future."
        )

        @OptionGroup var database: ServerDatabaseOptions

        func run() async throws {
            Console.current.print(Format.clockState(try await database.withStorage { try await $0.clockState() }))
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "repair",
            abstract: "Set the clock back to the wall clock and rewrite the values stamped from the future."
        )

        @OptionGroup var database: ServerDatabaseOptions

        func run() async throws {
            Console.current.print(Format.clockRepair(try await database.withStorage { try await $0.repairClock() }))
        }
    }
}

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "The fingerprint of this server's identity key, which every enrollment token carries and kiosks pin."
    )

    @OptionGroup var database: ServerDatabaseOptions

    func run() async throws {
        let fingerprint = try await ServerDatabaseOptions.withStorage(
            at: database.path,
            create: true,
            logger: Logger(label: "returnsync.identity", factory: VisibleLogHandler.standardError)
        ) { storage in try await EnrollmentToken.serverKeyFingerprint(of: storage) }
        Console.current.print(fingerprint)
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract:
            "Move a SQLite server's database to PostgreSQL; its kiosks carry on without re-enrolling or re-syncing.",
        discussion: """
            Stop 'serve' first, create an empty PostgreSQL database (Server/README.md, "PostgreSQL"), run migrate, \
            then start 'serve' with --db set to the URL. Everything is copied in one transaction — the server's id \
            and identity key, its former ids, kiosks, enrollment tokens, returns, order lines, recalls and policies \
            in change order, the conflict audit — or, on any error, nothing. The SQLite file is only read: keep it \
            until the fleet has synced.
            """
    )

    @Option(help: "The SQLite server database to copy.") var from: String
    @Option(help: "The empty PostgreSQL database to copy into: postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…].")
    var to: String

    func run() async throws {
        guard !PostgresURL.isPostgres(from) else {
            throw CLIError(message: "--from takes the SQLite server database (a file), not a PostgreSQL URL")
        }
        let url: PostgresURL
        do {
            url = try PostgresURL(to)
        } catch {
            throw CLIError(
                message: PostgresURL.isPostgres(to)
                    ? error.message : "--to takes a PostgreSQL URL (postgres://USER@HOST[:PORT]/DB), not '\(to)'"
            )
        }
        let source = try ServerDatabaseOptions.openStore(at: from)
        let logger = Logger(label: "returnsync.migrate", factory: VisibleLogHandler.standardError)
        let storage: PostgresServerStorage
        do {
            storage = try await PostgresServerStorage.open(url, logger: logger)
        } catch let error as PostgresStorageError {
            throw CLIError(message: error.message)
        }
        let progress = ProgressLine()
        let summary: PostgresImportSummary
        do {
            summary = try await progress.clearing {
                try await storage.importServer(from: source) { copied, total in
                    progress.update("copying", done: copied, total: total, unit: "returns")
                }
            }
            await storage.close()
        } catch {
            await storage.close()
            if let error = error as? PostgresStorageError { throw CLIError(message: error.message) }
            throw error
        }
        Console.current.print(
            "migrated \(from) to \(url): server \(summary.serverID), \(summary.returns) returns of \(summary.stores) "
                + "stores, \(summary.kiosks) kiosks, \(summary.enrollments) enrollment tokens, \(summary.recalls) "
                + "recalls, \(summary.policies) policies, \(summary.orderLines) order lines, \(summary.conflicts) "
                + "audited conflicts; start serve with --db on the URL"
        )
        if summary.unusableEnrollments > 0 {
            Console.current.printError(
                "note: \(summary.unusableEnrollments) enrollment tokens from before token keys were not copied (no "
                    + "kiosk can redeem them)"
            )
        }
    }
}
