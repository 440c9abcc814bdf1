import ArgumentParser
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import PostgresStorage
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncClient
import SyncEngine
import SyncTransport
import Synchronization
import WireProtocol

/// `returns-bench`: end-to-end figures of sync against a real `returns-server` process over loopback TCP,
/// printed as one JSON object per benchmark. Build it in release mode; BENCHMARKS.md explains the figures.
@main
struct ReturnsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "returns-bench",
        abstract: "Sync benchmarks against a real returns-server over loopback; prints JSON.",
        subcommands: [
            SyncBenchmark.self, NoopBenchmark.self, FleetBenchmark.self, PullBenchmark.self, RecordBenchmark.self,
            MetadataBenchmark.self, StorageBenchmark.self, OfflineBenchmark.self, OfflineSyncStep.self,
        ]
    )
}

/// Options every benchmark takes.
struct BenchOptions: ParsableArguments {
    @Option(help: "The returns-server binary (default: the one beside returns-bench).") var serverBinary: String?
    @Option(help: "Where databases go (default: a new temporary directory, removed afterwards).") var workDir: String?
    @Option(
        help: ArgumentHelp(
            "A PostgreSQL server to bench against instead of SQLite: postgres://USER@HOST[:PORT]/DB.",
            discussion: "A fresh database is created on that server for the run, and dropped at its end."
        )
    )
    var db: String?
    @Option(help: "`serve` processes on the one PostgreSQL database; kiosks are spread over them in turn.")
    var servers = 1

    func validate() throws {
        guard servers >= 1 else { throw ValidationError("--servers must be at least 1, not \(servers)") }
        if servers > 1, db == nil {
            throw ValidationError("--servers \(servers) needs --db postgres://…: several processes share PostgreSQL")
        }
        if let db, !PostgresURL.isPostgres(db) {
            throw ValidationError("--db takes a PostgreSQL URL (postgres://USER@HOST[:PORT]/DB), not '\(db)'")
        }
    }
}

/// A benchmark's working directory, its server database and its `returns-server serve` processes.
final class Bench {
    /// The server's database, opened by the benchmark too: it issues enrollment tokens and counts what arrived.
    enum Database {
        case sqlite(ReplicaStore)
        /// The database made for this run, and the server it was made on (to drop it).
        case postgres(PostgresServerStorage, admin: PostgresURL, name: String)
    }

    let directory: URL
    private let removeAtEnd: Bool
    let servers: [Process]
    /// Each process's `HOST:PORT`, in the order kiosks are given them.
    let addresses: [String]
    let database: Database
    let storage: any SyncServerStorage

    /// The first process's address.
    var address: String { addresses[0] }

    init(_ options: BenchOptions) async throws {
        if let workDir = options.workDir {
            directory = URL(fileURLWithPath: workDir)
            removeAtEnd = false
        } else {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("returns-bench-\(getpid())")
            removeAtEnd = true
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary =
            options.serverBinary
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("returns-server").path
        let db: String
        if let text = options.db {
            let admin = try PostgresURL(text)
            let name = "returns_bench_\(getpid())"
            try await Self.administer("CREATE DATABASE \(name)", on: admin)
            var url = admin
            url.database = name
            var logger = Logger(label: "returns-bench")
            logger.logLevel = .warning
            let storage = try await PostgresServerStorage.open(url, logger: logger)
            database = .postgres(storage, admin: admin, name: name)
            self.storage = storage
            db = url.description
        } else {
            db = directory.appendingPathComponent("hq.sqlite").path
            // Created here (as `serve` would), so tokens can be issued straight into it while the server runs.
            let store =
                FileManager.default.fileExists(atPath: db)
                ? try ReplicaStore.open(at: db)
                : try ReplicaStore.create(at: db, identity: .server(replicaID: .init("hq")))
            database = .sqlite(store)
            storage = SQLiteServerStorage(store)
        }
        var servers: [Process] = []
        var addresses: [String] = []
        for _ in 0..<options.servers {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: binary)
            // Every simulated kiosk connects from 127.0.0.1, where a fleet comes from thousands of addresses: the
            // per-address limit on unauthenticated connections is raised, or a thousand handshakes at once would
            // shed all but 64 of them.
            server.arguments = [
                "serve", "--db", db, "--port", "0", "--max-connections", "8192", "--syncs-per-minute", "1000",
                "--max-unauthenticated-per-address", "8192",
            ]
            let output = Pipe()
            server.standardOutput = output
            server.standardError = FileHandle.nullDevice
            try server.run()
            servers.append(server)
            var line = Data()
            while line.last != UInt8(ascii: "\n") {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                guard !byte.isEmpty else { throw ValidationError("returns-server exited before listening") }
                line.append(byte)
            }
            addresses.append(
                String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    .replacingOccurrences(of: "listening on ", with: "")
            )
        }
        self.servers = servers
        self.addresses = addresses
    }

    /// Runs one statement on the database `url` names, outside a transaction (`CREATE DATABASE` needs that).
    static func administer(_ statement: String, on url: PostgresURL) async throws {
        var logger = Logger(label: "returns-bench")
        logger.logLevel = .warning
        let connection = try await PostgresConnection.connect(
            configuration: url.connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// A new kiosk of `store`, enrolled with the server, holding `returns` fresh returns, syncing through the
    /// `serve` process `via` (counted round the processes).
    func kiosk(store: String, kiosk: String, returns: Int, via: Int = 0) async throws -> (ReplicaStore, SyncClient) {
        let path = directory.appendingPathComponent("\(store)-\(kiosk).sqlite").path
        let replica = try ReplicaStore.create(
            at: path,
            identity: .kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
        )
        let token = try await EnrollmentToken.issue(in: storage, store: StoreID(store), kiosk: KioskID(kiosk))
        try replica.saveSyncCredentials(
            SyncClient.makeCredentials(server: addresses[via % addresses.count], token: token.description)
        )
        // A seed from the kiosk's name, stable across runs (String.hashValue is not), so every run loads the same data.
        let seed = kiosk.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }
        if returns > 0 { _ = try replica.importReturns(ndjson: Self.sampleReturns(returns, seed: seed)) }
        return (replica, SyncClient(store: replica))
    }

    /// How many returns the server holds.
    func returnsOnServer() async throws -> Int {
        switch database {
        case .sqlite(let store): return try store.returnRecords().count
        case .postgres(let storage, _, _): return try await storage.recordCount(entityType: ReturnEntity.entityType)
        }
    }

    /// An HQ edit (a policy, a recall), as `returns-server` makes it.
    func hqWrite(_ edit: GlobalEdit) async throws {
        switch database {
        case .sqlite(let store): _ = try store.write(edit)
        case .postgres(let storage, _, _): _ = try await storage.write(edit)
        }
    }

    /// Which database the run used, for the figures: `sqlite` or `postgres`.
    var backend: String {
        if case .postgres = database { return "postgres" }
        return "sqlite"
    }

    /// `count` new returns as NDJSON: realistic GTINs (check digits), serials, reasons and quantities.
    static func sampleReturns(_ count: Int, seed: Int) -> Data {
        let reasons = ReturnReason.allCases.map(\.rawValue)
        var text = ""
        text.reserveCapacity(count * 110)
        var state = UInt64(bitPattern: Int64(seed)) | 1
        for index in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let gtin = Self.gtin(Int(state >> 40) % 1_000_000)
            text +=
                "{\"orderId\":\"ORD-\(index)\",\"gtin\":\"\(gtin)\",\"reason\":\"\(reasons[index % reasons.count])\","
            text += "\"quantity\":\(1 + index % 3),\"serial\":\"SN\(seed & 0xFFFF)-\(index)\"}\n"
        }
        return Data(text.utf8)
    }

    /// A GTIN-13 of `number` (0–999,999) with its check digit: `400638`, six digits, the check digit.
    static func gtin(_ number: Int) -> String {
        let payload = "400638" + String(format: "%06d", number)
        return payload + String(GTIN.checkDigit(of: payload.compactMap(\.wholeNumberValue)))
    }

    /// Peak resident memory of a process (VmHWM), in bytes.
    static func peakRSS(of pid: Int32 = getpid()) -> Int { status("VmHWM", of: pid) }

    /// Resident memory of a process now (VmRSS), in bytes.
    static func currentRSS(of pid: Int32 = getpid()) -> Int { status("VmRSS", of: pid) }

    /// A size in `/proc/PID/status` (`VmHWM`, `VmRSS`), in bytes.
    private static func status(_ key: String, of pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// The largest peak resident memory of the `serve` processes.
    var serverPeakRSS: Int { servers.map { Self.peakRSS(of: $0.processIdentifier) }.max() ?? 0 }

    /// CPU time (user and system) a process has used so far, in seconds: less disturbed by a busy machine than wall
    /// clock time, so the figure to compare two server builds by.
    static func cpuSeconds(of pid: Int32) -> Double {
        cpuSeconds(stat: "/proc/\(pid)/stat")
    }

    /// ``cpuSeconds(of:)`` from a `stat` file: a process's, or one thread's (`/proc/PID/task/TID/stat`).
    private static func cpuSeconds(stat path: String) -> Double {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // After the command name: state is field 3, utime and stime are fields 14 and 15, in clock ticks.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds all the `serve` processes have used so far.
    var serverCPUSeconds: Double { servers.map { Self.cpuSeconds(of: $0.processIdentifier) }.reduce(0, +) }

    /// CPU seconds the `serve` processes' writer threads have used so far — on SQLite the one thread every write runs
    /// on (``SQLiteServerStorage/writerThreadName``), the bound of a single writer —, `nil` when none has one
    /// (PostgreSQL).
    var serverWriterCPUSeconds: Double? {
        var total: Double?
        for server in servers {
            let tasks = "/proc/\(server.processIdentifier)/task"
            for thread in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
                let name = try? String(contentsOfFile: "\(tasks)/\(thread)/comm", encoding: .utf8)
                guard name?.trimmingCharacters(in: .newlines) == SQLiteServerStorage.writerThreadName else { continue }
                total = (total ?? 0) + Self.cpuSeconds(stat: "\(tasks)/\(thread)/stat")
            }
        }
        return total
    }

    /// The figure `serverWriterCPUMicrosecondsPerReturn` (the writer's CPU since `before`, a return), when the
    /// server has a writer thread.
    func writerFigure(since before: Double?, returns: Int) -> [(String, Double)] {
        guard let before, let now = serverWriterCPUSeconds else { return [] }
        return [("serverWriterCPUMicrosecondsPerReturn", (now - before) * 1e6 / Double(max(returns, 1)))]
    }

    /// CPU seconds this process — the kiosk side of `sync` and `pull`, the simulated kiosks of `fleet` — has used so
    /// far. With the servers', it says whether a timed part was bound by one thread or by the machine
    /// (`coresUsed`: near 2 on a 2-core machine, nothing is left for a second writer; BENCHMARKS.md, issue 18).
    static var ownCPUSeconds: Double { cpuSeconds(of: getpid()) }

    /// Stops the servers, drops a PostgreSQL database made for the run, removes a temporary directory.
    func stop() async {
        for server in servers {
            server.terminate()
            server.waitUntilExit()
        }
        if case .postgres(let storage, let admin, let name) = database {
            await storage.close()
            do {
                try await Self.administer("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: admin)
            } catch {
                FileHandle.standardError.write(Data("could not drop database \(name): \(error)\n".utf8))
            }
        }
        if removeAtEnd { try? FileManager.default.removeItem(at: directory) }
    }

    /// Runs `body` on a new bench, stopping it afterwards whether `body` succeeded or not.
    static func with(_ options: BenchOptions, _ body: (Bench) async throws -> Void) async throws {
        let bench = try await Bench(options)
        do {
            try await body(bench)
        } catch {
            await bench.stop()
            throw error
        }
        await bench.stop()
    }

    /// Prints one benchmark's figures as a JSON object, with the database and the number of `serve` processes;
    /// whole numbers as integers.
    func report(_ name: String, _ figures: KeyValuePairs<String, Double>) {
        report(name, figures.map { ($0.key, $0.value) })
    }

    /// ``report(_:_:)`` of figures computed at run time.
    func report(_ name: String, _ figures: [(String, Double)]) {
        var members: [String: JSONValue] = [
            "benchmark": .string(name), "backend": .string(backend), "servers": .integer(Int64(servers.count)),
        ]
        for (key, value) in figures {
            members[key] = value.rounded() == value && abs(value) < 1e15 ? .integer(Int64(value)) : .double(value)
        }
        Swift.print(JSONValue.object(members).serializedString)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
    }
}

struct SyncBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "One kiosk with N returns syncs them to an empty server."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns on the kiosk.") var returns = 100_000

    func run() async throws {
        try await Bench.with(options) { bench in
            let (kiosk, client) = try await bench.kiosk(store: "store-1", kiosk: "k1", returns: 0)
            // The kiosk's import, durable, timed on its own: the same returns the sync then sends.
            let ndjson = Bench.sampleReturns(returns, seed: 1)
            let importStart = ContinuousClock.now
            _ = try kiosk.importReturns(ndjson: ndjson)
            let importSeconds = Bench.seconds(since: importStart)
            let cpuBefore = bench.serverCPUSeconds
            let writerCPUBefore = bench.serverWriterCPUSeconds
            let kioskCPUBefore = Bench.ownCPUSeconds
            let start = ContinuousClock.now
            let report = try await client.sync()
            let seconds = Bench.seconds(since: start)
            let serverCPU = bench.serverCPUSeconds - cpuBefore
            let kioskCPU = Bench.ownCPUSeconds - kioskCPUBefore
            bench.report(
                "sync",
                bench.writerFigure(since: writerCPUBefore, returns: returns) + [
                    "kioskCPUMicrosecondsPerReturn": kioskCPU * 1e6 / Double(max(returns, 1)),
                    "coresUsed": (serverCPU + kioskCPU) / seconds,
                    "importSeconds": importSeconds, "importReturnsPerSecond": Double(returns) / importSeconds,
                    "serverCPUMicrosecondsPerReturn": serverCPU * 1e6 / Double(max(returns, 1)),
                    "returns": Double(returns), "pushed": Double(report.pushed),
                    "seconds": (seconds), "returnsPerSecond": (Double(returns) / seconds),
                    "bytesSent": Double(report.bytesSent), "bytesReceived": Double(report.bytesReceived),
                    "wireBytesPerReturn": (Double(report.bytesSent + report.bytesReceived) / Double(max(returns, 1))),
                    "kioskPeakRSSBytes": Double(Bench.peakRSS()),
                    "serverPeakRSSBytes": Double(bench.serverPeakRSS),
                ]
            )
        }
    }
}

struct PullBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "A fresh kiosk's initial pull of its store's N returns."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns of the store on the server.") var returns = 100_000

    func run() async throws {
        try await Bench.with(options) { bench in
            let (_, source) = try await bench.kiosk(store: "store-1", kiosk: "k1", returns: returns)
            _ = try await source.sync()
            let (fresh, client) = try await bench.kiosk(store: "store-1", kiosk: "k2", returns: 0, via: 1)
            let rssBefore = Bench.peakRSS()
            let cpuBefore = bench.serverCPUSeconds
            let kioskCPUBefore = Bench.ownCPUSeconds
            let start = ContinuousClock.now
            let report = try await client.sync()
            let seconds = Bench.seconds(since: start)
            let serverCPU = bench.serverCPUSeconds - cpuBefore
            let kioskCPU = Bench.ownCPUSeconds - kioskCPUBefore
            bench.report(
                "pull",
                [
                    "kioskCPUMicrosecondsPerReturn": kioskCPU * 1e6 / Double(max(returns, 1)),
                    "coresUsed": (serverCPU + kioskCPU) / seconds,
                    "returns": Double(try fresh.status().totalReturns),
                    "seconds": (seconds), "returnsPerSecond": (Double(report.pulled) / seconds),
                    "bytesReceived": Double(report.bytesReceived),
                    "wireBytesPerReturn": (Double(report.bytesSent + report.bytesReceived) / Double(max(returns, 1))),
                    "kioskPeakRSSBytes": Double(Bench.peakRSS()), "kioskPeakRSSBeforePullBytes": Double(rssBefore),
                    "serverCPUMicrosecondsPerReturn": serverCPU * 1e6 / Double(max(returns, 1)),
                    "serverPeakRSSBytes": Double(bench.serverPeakRSS),
                ]
            )
        }
    }
}

struct NoopBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noop",
        abstract: "A sync with nothing to do, against a server holding many returns."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns on the server, loaded through syncs of 100,000 from kiosks of ten stores.")
    var serverReturns = 1_000_000
    @Option(help: "No-op syncs to time.") var runs = 50

    func run() async throws {
        try await Bench.with(options) { bench in
            let setupStart = ContinuousClock.now
            var remaining = serverReturns
            var index = 0
            while remaining > 0 {
                let count = min(100_000, remaining)
                let (_, loader) = try await bench.kiosk(
                    store: "store-\(index % 10)",
                    kiosk: "loader\(index)",
                    returns: count
                )
                _ = try await loader.sync()
                remaining -= count
                index += 1
            }
            let setup = Bench.seconds(since: setupStart)
            let (_, client) = try await bench.kiosk(store: "store-0", kiosk: "idle", returns: 0)
            _ = try await client.sync()  // enrolled, and caught up with its store
            _ = try await client.sync()
            var latencies: [Double] = []
            var bytes: [Int] = []
            for _ in 0..<runs {
                let start = ContinuousClock.now
                let report = try await client.sync()
                latencies.append(Bench.seconds(since: start) * 1000)
                bytes.append(report.bytesSent + report.bytesReceived)
            }
            bench.report(
                "noop",
                [
                    "serverReturns": Double(serverReturns), "runs": Double(runs),
                    "latencyMsP50": (Bench.percentile(latencies, 0.5)),
                    "latencyMsP99": (Bench.percentile(latencies, 0.99)),
                    "latencyMsMin": (latencies.min() ?? 0), "wireBytesPerSync": Double(bytes.max() ?? 0),
                    "setupSeconds": (setup), "serverPeakRSSBytes": Double(bench.serverPeakRSS),
                ]
            )
        }
    }
}

struct FleetBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "K kiosks sync at once, each pushing M returns."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Kiosks syncing at once.") var kiosks = 1000
    @Option(help: "Returns each kiosk pushes.") var returns = 100

    /// One simulated kiosk: its identity, key and the records it pushes, already encoded. Real `SyncClient`s with
    /// a SQLite database each would measure this process, not the server: a thousand databases committing on two
    /// cores here, where a fleet has a machine per kiosk.
    struct SimulatedKiosk: Sendable {
        var store: String
        var kiosk: String
        /// The raw Ed25519 private key (the key type itself is not `Sendable`).
        var key: Data
        var token: EnrollmentToken
        var records: [String]
        /// The `serve` process it syncs through.
        var host: String
        var port: Int
    }

    func run() async throws {
        try await Bench.with(options) { bench in
            let addresses = try bench.addresses.map(SyncClient.parse)
            var fleet: [SimulatedKiosk] = []
            for index in 0..<kiosks {
                let store = "store-\(index)"
                let kiosk = "k\(index)"
                let replica = try ReplicaID("\(store)/\(kiosk)")
                let records = try (0..<returns).map { number in
                    let item = try ProductReturn(
                        id: ReturnID.make(
                            milliseconds: 1_790_000_000_000 + UInt64(index * returns + number),
                            sequence: 0
                        ),
                        storeID: StoreID(store),
                        kioskID: KioskID(kiosk),
                        orderID: OrderID("ORD-\(index)-\(number)"),
                        gtin: GTIN("4006381333931"),
                        serial: ItemCode("SN-\(index)-\(number)", kind: "serial"),
                        reason: .defective,
                        verification: .unverified,
                        createdAt: Date(millisecondsSince1970: 1_790_000_000_000)
                    )
                    return try ReturnEntity.makeRecord(
                        for: item,
                        by: replica,
                        stamp: HLCTimestamp(physical: 1_790_000_000_000 + UInt64(number))
                    ).jsonString
                }
                let token = try await EnrollmentToken.issue(
                    in: bench.storage,
                    store: StoreID(store),
                    kiosk: KioskID(kiosk)
                )
                fleet.append(
                    SimulatedKiosk(
                        store: store,
                        kiosk: kiosk,
                        key: Curve25519.Signing.PrivateKey().rawRepresentation,
                        token: token,
                        records: records,
                        host: addresses[index % addresses.count].0,
                        port: addresses[index % addresses.count].1
                    )
                )
            }
            // Enrolled first, as a fleet in service is: enrollment happens once in a kiosk's life. All at once, as a
            // new chain's kiosks first come up: timed apart (`enrollSeconds`), not part of the sync figures.
            let enrolling = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for kiosk in fleet {
                    group.addTask {
                        try await Self.sync(kiosk, records: [], enrolling: true, host: kiosk.host, port: kiosk.port)
                    }
                }
                try await group.waitForAll()
            }
            let enrollSeconds = Bench.seconds(since: enrolling)

            let cpuBefore = bench.serverCPUSeconds
            let writerCPUBefore = bench.serverWriterCPUSeconds
            let kioskCPUBefore = Bench.ownCPUSeconds
            let start = ContinuousClock.now
            let results = await withTaskGroup(of: (Double, String?).self) { group in
                for kiosk in fleet {
                    group.addTask {
                        let began = ContinuousClock.now
                        do {
                            try await Self.sync(
                                kiosk,
                                records: kiosk.records,
                                enrolling: false,
                                host: kiosk.host,
                                port: kiosk.port
                            )
                            return (Bench.seconds(since: began), nil)
                        } catch {
                            return (Bench.seconds(since: began), "\(error)")
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let total = Bench.seconds(since: start)
            let serverCPU = bench.serverCPUSeconds - cpuBefore
            let kioskCPU = Bench.ownCPUSeconds - kioskCPUBefore
            if let failure = results.compactMap(\.1).first {
                FileHandle.standardError.write(Data("first failure: \(failure)\n".utf8))
                // Every kind of failure, counted: an overloaded server refusing pushes (`server-busy`) reads
                // differently from connections cut by a timeout.
                let kinds = results.compactMap(\.1).reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
                for (kind, count) in kinds.sorted(by: { $0.value > $1.value }) {
                    FileHandle.standardError.write(Data("\(count) failed: \(kind)\n".utf8))
                }
            }
            let latencies = results.map(\.0)
            let held = try await bench.returnsOnServer()
            bench.report(
                "fleet",
                bench.writerFigure(since: writerCPUBefore, returns: kiosks * returns) + [
                    "kioskCPUMicrosecondsPerReturn": kioskCPU * 1e6 / Double(max(kiosks * returns, 1)),
                    "coresUsed": (serverCPU + kioskCPU) / total,
                    "kiosks": Double(kiosks), "returnsPerKiosk": Double(returns),
                    "completed": Double(results.filter { $0.1 == nil }.count), "returnsOnServer": Double(held),
                    "seconds": total, "latencySecondsP50": Bench.percentile(latencies, 0.5),
                    "latencySecondsP99": Bench.percentile(latencies, 0.99),
                    "returnsPerSecond": Double(kiosks * returns) / total,
                    "serverCPUMicrosecondsPerReturn": serverCPU * 1e6 / Double(max(kiosks * returns, 1)),
                    "serverPeakRSSBytes": Double(bench.serverPeakRSS), "enrollSeconds": enrollSeconds,
                ]
            )
        }
    }

    /// One sync of a simulated kiosk, as SPEC §3 describes it: handshake, push, pull until done, bye.
    static func sync(_ kiosk: SimulatedKiosk, records: [String], enrolling: Bool, host: String, port: Int) async throws
    {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: kiosk.host, port: kiosk.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addSyncProtocolHandlers()
                    return try NIOAsyncChannel<SyncFrame, SyncMessage>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            func receive() async throws -> SyncMessage {
                guard case .message(let message)? = try await frames.next() else {
                    throw ValidationError("the server closed or sent a bad frame")
                }
                if case .error(let error) = message { throw error }
                return message
            }
            let replica = "\(kiosk.store)/\(kiosk.kiosk)"
            // A load generator: it follows the handshake but, unlike a kiosk, does not check the server's proof.
            let handshake = KioskHandshake(replicaID: replica)
            try await outbound.write(handshake.hello(storeID: kiosk.store, kioskID: kiosk.kiosk))
            guard case .challenge(_, let nonce, let serverID, _, _) = try await receive() else {
                throw ValidationError("no challenge")
            }
            try await outbound.write(
                handshake.authenticate(
                    kioskKey: kiosk.key,
                    serverNonce: nonce,
                    serverID: serverID,
                    enrolling: enrolling ? kiosk.token : nil
                )
            )
            guard case .welcome = try await receive() else { throw ValidationError("not welcomed") }
            var batch = 0
            for start in stride(from: 0, to: records.count, by: maximumBatchSize) {
                batch += 1
                let slice = Array(records[start..<min(records.count, start + maximumBatchSize)])
                try await outbound.write(.encodedPush(batch: batch, records: slice))
                guard case .pushAck = try await receive() else { throw ValidationError("no push-ack") }
            }
            var cursor = "0"
            while true {
                try await outbound.write(.pull(cursor: cursor, limit: maximumBatchSize))
                guard case .pullBatch(_, let next, let more, _) = try await receive() else {
                    throw ValidationError("no pull-batch")
                }
                cursor = next
                if !more { break }
            }
            try await outbound.write(.bye)
            _ = try await receive()
        }
    }
}

struct RecordBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Captures at a kiosk holding N returns: each durable, timed one by one."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns already on the kiosk (imported in batches of 100,000 first).") var returns = 1_000_000
    @Option(help: "Captures to time.") var captures = 500

    func run() async throws {
        try await Bench.with(options) { bench in
            let (kiosk, _) = try await bench.kiosk(store: "store-1", kiosk: "k1", returns: 0)
            let setupStart = ContinuousClock.now
            var loaded = 0
            while loaded < returns {
                let count = min(100_000, returns - loaded)
                _ = try kiosk.importReturns(ndjson: Bench.sampleReturns(count, seed: 7 + loaded))
                loaded += count
            }
            let setup = Bench.seconds(since: setupStart)
            let gtin = try GTIN("4006381333931")
            var latencies: [Double] = []
            for index in 0..<captures {
                let capture = ReturnCapture(
                    orderID: try OrderID("ORD-R\(index)"),
                    gtin: gtin,
                    reason: ReturnReason.allCases[index % ReturnReason.allCases.count],
                    serial: try ItemCode("RB-\(index)", kind: "serial")
                )
                let start = ContinuousClock.now
                _ = try kiosk.recordReturn(capture)
                latencies.append(Bench.seconds(since: start) * 1000)
            }
            bench.report(
                "record",
                [
                    "kioskReturns": Double(try kiosk.status().totalReturns), "captures": Double(captures),
                    "latencyMsP50": Bench.percentile(latencies, 0.5), "latencyMsP99": Bench.percentile(latencies, 0.99),
                    "latencyMsMax": latencies.max() ?? 0, "setupSeconds": setup,
                ]
            )
        }
    }
}

struct OfflineBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline",
        abstract: "A kiosk back from a season offline syncs in one go.",
        discussion: """
            The kiosk syncs once, then is offline while its store's other kiosk pushes --changes returns and HQ sets \
            and changes a policy and starts and closes recalls; offline, its clock runs --ahead-hours ahead and it \
            captures --captures returns. Then one sync: its captures pushed (stamped again by the server's clock), \
            the season pulled. Peak memory is measured over that sync alone (both sides), so runs of different sizes \
            show whether it stays flat.
            """
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns the kiosk captures while offline.") var captures = 20_000
    @Option(help: "Returns its store's other kiosk pushes meanwhile.") var changes = 200_000
    @Option(help: "How far ahead the kiosk's clock runs while offline, in hours.") var aheadHours = 48.0

    func run() async throws {
        try await Bench.with(options) { bench in
            let (first, firstClient) = try await bench.kiosk(store: "store-1", kiosk: "away", returns: 0)
            _ = try await firstClient.sync()
            let (_, peer) = try await bench.kiosk(store: "store-1", kiosk: "peer", returns: changes)
            _ = try await peer.sync()
            // HQ meanwhile: a policy set and changed, recalls started and some closed.
            for days in [30, 45] {
                try await bench.hqWrite(
                    .setPolicy(
                        try .validated(
                            store: StoreID("store-1"),
                            gtinPrefix: "",
                            windowDays: days,
                            receiptRequired: false
                        )
                    )
                )
            }
            for number in 1...3 {
                try await bench.hqWrite(
                    .createRecall(
                        RecallCampaign(
                            id: "RC-\(number)",
                            gtins: [try GTIN(Bench.gtin(number))],
                            hazard: "overheating",
                            instructions: "quarantine",
                            unitsAffected: 100,
                            createdAt: Date()
                        )
                    )
                )
                if number < 3 { try await bench.hqWrite(.closeRecall("RC-\(number)")) }
            }
            // In the stockroom: the clock runs ahead, the kiosk captures.
            let ahead = aheadHours * 3_600
            do {
                let away = try ReplicaStore.open(
                    at: first.path,
                    configuration: .init(now: { Date().addingTimeInterval(ahead) })
                )
                _ = try away.importReturns(ndjson: Bench.sampleReturns(captures, seed: 2))
            }
            let before = try await bench.returnsOnServer()
            // The sync runs in a process of its own (`offline-sync`), so its peak memory is the sync's alone; the
            // server's is sampled while it runs, above what it held before.
            let serverBefore = bench.servers.map { Bench.currentRSS(of: $0.processIdentifier) }.max() ?? 0
            let cpuBefore = bench.serverCPUSeconds
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            child.arguments = ["offline-sync", "--db", first.path, "--ahead-hours", "\(aheadHours)"]
            let output = Pipe()
            child.standardOutput = output
            try child.run()
            let serverProcesses = bench.servers.map(\.processIdentifier)
            let sampler = Task {
                var peak = serverBefore
                while !Task.isCancelled {
                    peak = max(peak, serverProcesses.map { Bench.currentRSS(of: $0) }.max() ?? 0)
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return peak
            }
            let printed = output.fileHandleForReading.readDataToEndOfFile()
            child.waitUntilExit()
            sampler.cancel()
            let serverPeak = await sampler.value
            let serverCPU = bench.serverCPUSeconds - cpuBefore
            guard child.terminationStatus == 0, let sync = try? JSONValue.parse(printed) else {
                throw ValidationError("offline-sync failed: \(String(decoding: printed, as: UTF8.self))")
            }
            func figure(_ key: String) -> Double {
                switch sync[key] {
                case .integer(let number): Double(number)
                case .double(let number): number
                default: -1
                }
            }
            let after = try await bench.returnsOnServer()
            guard after == before + captures, Int(figure("pushed")) == captures else {
                throw ValidationError(
                    "the server held \(before) returns and then \(after), after a push of \(figure("pushed")) of "
                        + "\(captures) captures: not each capture once"
                )
            }
            let records = figure("pushed") + figure("pulled")
            bench.report(
                "offline",
                [
                    "captures": Double(captures), "changes": Double(changes), "aheadHours": aheadHours,
                    "seconds": figure("seconds"), "pushed": figure("pushed"), "pulled": figure("pulled"),
                    "restamped": figure("restamped"), "recordsPerSecond": records / figure("seconds"),
                    "progressSteps": figure("progressSteps"),
                    "serverCPUMicrosecondsPerRecord": serverCPU * 1e6 / max(records, 1),
                    "bytesSent": figure("bytesSent"), "bytesReceived": figure("bytesReceived"),
                    "kioskPeakRSSBytes": figure("peakRSSBytes"),
                    "serverRSSBytesBeforeSync": Double(serverBefore),
                    "serverPeakRSSGrowthBytesDuringSync": Double(serverPeak - serverBefore),
                ]
            )
        }
    }
}

/// A kiosk's storage by table before and after pruning: N returns captured and synced, most closed or voided;
/// then the same database 200 days later, pruned (issue 22).
struct StorageBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "A kiosk's bytes by table before and after pruning: returns synced, then pruned 200 days later."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns on the kiosk.") var returns = 10_000

    func run() async throws {
        try await Bench.with(options) { bench in
            let (kiosk, client) = try await bench.kiosk(store: "store-1", kiosk: "k1", returns: returns)
            let ids = try kiosk.returnRecords().map { try ReturnID($0.id) }
            // Six in ten voided, two in ten closed (inspected, routed, closed), the rest left open.
            for (index, id) in ids.enumerated() {
                switch index % 10 {
                case 0..<6:
                    _ = try? kiosk.updateReturn(id, operation: "void") { item, author, date in
                        try item.void(note: "captured by mistake", by: author, at: date)
                    }
                case 6..<8:
                    _ = try? kiosk.updateReturn(id, operation: "inspect") { item, author, date in
                        try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
                    }
                    _ = try? kiosk.updateReturn(id, operation: "disposition") { item, author, date in
                        try item.assignDisposition(.restock, by: author, at: date)
                    }
                    _ = try? kiosk.updateReturn(id, operation: "close") { item, author, date in
                        try item.close(by: author, at: date)
                    }
                default: break
                }
            }
            _ = try await client.sync()
            let before = try kiosk.tableSizes()
            let heldBefore = try kiosk.returnRecords().count
            // The same database 200 days on: past the default retention of 180 days.
            let later = try ReplicaStore.open(
                at: kiosk.path,
                configuration: .init(now: { Date().addingTimeInterval(200 * 86_400) })
            )
            let start = ContinuousClock.now
            let pruned = try later.pruneAll().returns
            let seconds = Bench.seconds(since: start)
            let after = try later.tableSizes()
            let heldAfter = try later.returnRecords().count
            let free = try later.retentionState().freeBytes
            var figures: [(String, Double)] = [
                ("returns", Double(returns)), ("heldBefore", Double(heldBefore)), ("pruned", Double(pruned)),
                ("heldAfter", Double(heldAfter)), ("pruneSeconds", seconds), ("freeBytesAfter", Double(free)),
            ]
            for (table, bytes) in before { figures.append(("before.\(table)", Double(bytes))) }
            for (table, bytes) in after { figures.append(("after.\(table)", Double(bytes))) }
            bench.report("storage", figures)
        }
    }
}

/// `offline`'s kiosk syncing in a process of its own: prints the sync's figures and the process's peak memory.
struct OfflineSyncStep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline-sync",
        abstract: "One sync of a kiosk database, its clock ahead (run by `offline`).",
        shouldDisplay: false
    )

    @Option(help: "The kiosk database.") var db: String
    @Option(help: "How far ahead the kiosk's clock runs, in hours.") var aheadHours = 0.0

    func run() async throws {
        let ahead = aheadHours * 3_600
        let store = try ReplicaStore.open(at: db, configuration: .init(now: { Date().addingTimeInterval(ahead) }))
        let steps = Mutex(0)
        let client = SyncClient(store: store, progress: { _ in steps.withLock { $0 += 1 } })
        let start = ContinuousClock.now
        let report = try await client.sync()
        let seconds = Bench.seconds(since: start)
        let figures: [String: JSONValue] = [
            "seconds": .double(seconds), "pushed": .integer(Int64(report.pushed)),
            "pulled": .integer(Int64(report.pulled)),
            "restamped": .integer(Int64(report.clock?.restamped.count ?? 0)),
            "progressSteps": .integer(Int64(steps.withLock { $0 })),
            "bytesSent": .integer(Int64(report.bytesSent)), "bytesReceived": .integer(Int64(report.bytesReceived)),
            "peakRSSBytes": .integer(Int64(Bench.peakRSS())),
        ]
        Swift.print(JSONValue.object(figures).serializedString)
    }
}

struct MetadataBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata",
        abstract: "What sync metadata costs: returns edited E times, synced; bytes per return on kiosk and server."
    )

    @OptionGroup var options: BenchOptions
    @Option(help: "Returns on the kiosk.") var returns = 10_000
    @Option(help: "Edits of each return after its capture.") var edits = 5
    @Option(
        help: """
            Conflicts each return has settled: its repair updated at the kiosk and at HQ between syncs, then \
            settled at the kiosk (SQLite server only; 0: none). The kiosk is measured again after it dropped the \
            settled history HQ holds, as its prune does 30 days on.
            """
    )
    var settled = 0

    func run() async throws {
        try await Bench.with(options) { bench in
            let (kiosk, client) = try await bench.kiosk(
                store: "store-1",
                kiosk: "k1",
                returns: settled > 0 ? 0 : returns
            )
            if settled > 0 {
                guard case .sqlite(let server) = bench.database else {
                    throw ValidationError("--settled needs the SQLite server (HQ's edits are made in its database)")
                }
                try await Self.settleConflicts(settled, returns: returns, kiosk: kiosk, client: client, server: server)
            }
            let ids = try kiosk.returnRecords().map { try ReturnID($0.id) }
            for id in ids {
                for edit in 0..<edits {
                    _ = try kiosk.updateReturn(id, operation: "note") { item, author, date in
                        try item.addNote("inspection \(edit + 1)", by: author, at: date)
                    }
                }
            }
            _ = try await client.sync()
            var figures: [(String, Double)] = [
                ("returns", Double(returns)), ("edits", Double(edits)), ("settled", Double(settled)),
            ]
            var sides = [("kiosk", try kiosk.syncMetadataCost())]
            switch bench.database {
            case .sqlite(let server): sides.append(("server", try server.syncMetadataCost()))
            case .postgres(let storage, _, _): sides.append(("server", try await storage.syncMetadataCost()))
            }
            if settled > 0 {
                // The kiosk 31 days on: its prune drops the settled history HQ holds.
                let later = try ReplicaStore.open(
                    at: kiosk.path,
                    configuration: .init(now: { Date().addingTimeInterval(31 * 86_400) })
                )
                let dropped = try later.pruneAll().histories
                figures.append(("kioskHistoriesDropped", Double(dropped)))
                sides.insert(("kioskCompacted", try kiosk.syncMetadataCost()), at: 1)
            }
            for (side, cost) in sides {
                figures += [
                    ("\(side)DatabaseBytesPerReturn", Double(cost.databaseBytes) / Double(returns)),
                    ("\(side)FreeBytesPerReturn", Double(cost.freeBytes) / Double(returns)),
                    ("\(side)ClockBytesPerReturn", Double(cost.clockBytes) / Double(returns)),
                    ("\(side)DotBytesPerReturn", Double(cost.dotBytes) / Double(returns)),
                    ("\(side)HistoryBytesPerReturn", Double(cost.historyBytes) / Double(returns)),
                    ("\(side)SettledHistoryBytesPerReturn", Double(cost.settledHistoryBytes) / Double(returns)),
                    ("\(side)MetadataShare", Double(cost.metadataBytes) / Double(max(cost.databaseBytes, 1))),
                ]
            }
            bench.report("metadata", figures)
        }
    }

    /// Captures `returns` returns sent for repair, then `rounds` times: the kiosk and HQ update each one's repair
    /// between syncs (a conflict on its status; both write the same date), and the kiosk settles it (a history
    /// entry).
    static func settleConflicts(
        _ rounds: Int,
        returns: Int,
        kiosk: ReplicaStore,
        client: SyncClient,
        server: ReplicaStore
    ) async throws {
        var ids: [ReturnID] = []
        for index in 0..<returns {
            let id = try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("O-\(index)"), gtin: GTIN("4006381333931"), reason: .defective)
            ).id
            _ = try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
            }
            _ = try kiosk.updateReturn(id, operation: "disposition") { item, author, date in
                try item.assignDisposition(.repair, by: author, at: date)
            }
            ids.append(id)
        }
        _ = try await client.sync()
        for round in 0..<rounds {
            let day = ISO8601Milliseconds.day(of: Date(timeIntervalSince1970: 1_793_577_600 + Double(round) * 86_400))
            for id in ids {
                _ = try kiosk.updateReturn(id, operation: "repair") { item, _, date in
                    try item.recordRepair(
                        RepairRecord(vendor: "Acme", status: .repaired, sentOn: "2026-11-01", backOn: day),
                        at: date
                    )
                }
                _ = try server.updateReturn(id, operation: "repair") { item, _, date in
                    try item.recordRepair(
                        RepairRecord(vendor: "Acme", status: .beyondRepair, sentOn: "2026-11-01", backOn: day),
                        at: date
                    )
                }
            }
            _ = try await client.sync()
            for id in ids {
                _ = try kiosk.resolveConflict(id, field: ReturnEntity.Field.repairStatus, value: "repaired")
            }
            _ = try await client.sync()
        }
    }
}
