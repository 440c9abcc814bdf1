import CommandLineSupport
import Foundation
import KioskCLI
import ReplicaStore
import ReturnSyncTestSupport
import Synchronization

/// What one `kiosk` invocation did.
struct Invocation {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Standard output without its final newline.
    var output: String { stdout.hasSuffix("\n") ? String(stdout.dropLast()) : stdout }
}

/// Runs `kiosk` commands in-process against one database in a temporary directory, capturing their output.
struct KioskHarness {
    let directory: TemporaryDirectory
    let db: String

    init(function: String = #function) throws {
        directory = try TemporaryDirectory(function: function)
        db = directory.file("kiosk.sqlite")
    }

    /// Runs `kiosk ARGUMENTS --db <this harness's database>`.
    func run(_ arguments: String...) async -> Invocation {
        await runRaw(arguments + ["--db", db])
    }

    /// Runs `kiosk ARGUMENTS` exactly as given; `terminal` makes the captured output look like a terminal.
    func runRaw(_ arguments: [String], terminal: Bool = false) async -> Invocation {
        let out = Mutex(Data())
        let err = Mutex(Data())
        let console = Console(
            writeOut: { data in out.withLock { $0.append(data) } },
            writeErr: { data in err.withLock { $0.append(data) } },
            isTerminal: terminal
        )
        let status = await Console.$current.withValue(console) {
            await KioskCLI.run(arguments: arguments)
        }
        return Invocation(
            status: status,
            stdout: out.withLock { String(decoding: $0, as: UTF8.self) },
            stderr: err.withLock { String(decoding: $0, as: UTF8.self) }
        )
    }

    /// The change-log length and the full export: what a refused command must leave unchanged.
    func snapshot() throws -> (changes: Int, export: Data) {
        let store = try ReplicaStore.open(at: db)
        var export = Data()
        try store.exportReturns { export.append($0) }
        return (try store.changeLogCount(), export)
    }
}
