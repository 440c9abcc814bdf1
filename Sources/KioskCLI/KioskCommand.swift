import ArgumentParser
import CommandLineSupport
import Foundation
import Logging
import ReplicaStore
import ReturnsModel
import ReturnsSync
import ServiceLifecycle
import SyncClient

/// The `kiosk` command: every kiosk operation, for operators, scripts and tests.
///
/// Command names, options and JSON keys are a contract that scripts depend on.
public struct KioskCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kiosk",
        abstract: "Capture, inspect and route product returns at a store kiosk, online or offline.",
        version: ReturnSyncVersion.description,
        subcommands: [
            InitCommand.self, RecordCommand.self, InspectCommand.self, DispositionCommand.self, CloseCommand.self,
            VoidCommand.self, NoteCommand.self, ListCommand.self, FindCommand.self, ShowCommand.self,
            ConflictsCommand.self,
            StatusCommand.self, ImportCommand.self, ExportCommand.self, SyncCommand.self, FetchCommand.self,
            PruneCommand.self,
            RecallsCommand.self,
            RefundCommand.self, RMACommand.self, VendorCreditCommand.self, RepairCommand.self, HandoffCommand.self,
            LabelCommand.self, AttachCommand.self, AttachmentCommand.self, AgentCommand.self, QuarantineCommand.self,
            ClockCommand.self,
            EnrollCommand.self,
        ]
    )

    public init() {}
}

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the kiosk database and its replica identity (refuses an existing one)."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The store this kiosk belongs to.") var store: String
    @Option(help: "This kiosk's id within its store.") var kiosk: String
    @Option(help: "The sync server, HOST:PORT.") var server: String?
    @Option(help: "The one-time enrollment token from 'returns-server enroll'.") var token: String?
    @Option(help: "Sync over TLS, trusting the CA certificate(s) in this PEM file to sign the server's certificate.")
    var tlsCa: String?

    func run() async throws {
        let identity = try ReplicaIdentity.kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
        guard (server == nil) == (token == nil) else {
            throw CLIError(message: "--server and --token go together: the first sync enrolls the kiosk with the token")
        }
        guard tlsCa == nil || server != nil else { throw CLIError(message: "--tls-ca needs --server and --token") }
        if let server { _ = try SyncClient.parse(server) }
        let trusted: String? = try tlsCa.map { path in
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw CLIError(message: "cannot read the CA file \(path): \(error.localizedDescription)")
            }
        }
        // Checked before the database is created, so a bad CA file leaves nothing behind.
        let credentials = try server.map {
            try SyncClient.makeCredentials(server: $0, token: token!, trustedCAPEM: trusted)
        }
        let store = try ReplicaStore.create(at: database.path, identity: identity)
        if let credentials { try store.saveSyncCredentials(credentials) }
        Console.current.print("initialised kiosk \(store.identity.replicaID) in \(store.path)")
    }
}

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a returned product; prints the new return's id."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The sales order the product was bought with.") var order: String
    @Option(help: "The product's GTIN (8, 12, 13 or 14 digits); not needed with --scan.") var gtin: String?
    @Option(
        help:
            "A GS1 barcode: (01)…(10)…(17)…(21)… or raw with GS separators ('<GS>' may stand for GS); gives GTIN, lot, serial, expiry."
    )
    var scan: String?
    @Option(help: "Why it came back: \(ReturnReason.allowedSpellings).") var reason: String
    @Option(help: "The item's serial number.") var serial: String?
    @Option(help: "The item's lot (batch) code.") var lot: String?
    @Option(help: "How many units (default 1).") var quantity: String?
    @Option(help: "A note.") var note: String?
    @Option(
        help: ArgumentHelp(
            "The customer's loyalty or customer id (stored hashed when $RETURNSYNC_CUSTOMER_KEY is set); the policy's "
                + "receipt-less limit and velocity threshold count per customer."
        )
    )
    var customer: String?
    @Flag(
        help: ArgumentHelp(
            "The customer has no receipt (an exception where the store's policy requires one, or past its receipt-less "
                + "limit)."
        )
    )
    var noReceipt = false

    func run() async throws {
        let scanned = try scan.map { try GS1Scan.parse($0) }
        let typed = try gtin.map(GTIN.init)
        let typedSerial = try serial.map { try ItemCode($0, kind: "serial") }
        let typedLot = try lot.map { try ItemCode($0, kind: "lot") }
        guard let product = typed ?? scanned?.gtin else {
            throw CLIError(message: "missing product: give --gtin GTIN or --scan DATA")
        }
        // What is typed must agree with what is scanned: a mismatch is a wrong label or a wrong item.
        for (name, given, read) in [
            ("GTIN", typed?.digits, scanned?.gtin.digits), ("serial", typedSerial?.rawValue, scanned?.serial?.rawValue),
            ("lot", typedLot?.rawValue, scanned?.lot?.rawValue),
        ] {
            if let given, let read, given != read {
                throw CLIError(
                    message: "--\(name.lowercased()) '\(given)' does not match the scanned \(name) '\(read)'"
                )
            }
        }
        let capture = ReturnCapture(
            orderID: try OrderID(order),
            gtin: product,
            reason: try ReturnReason.parse(reason),
            serial: typedSerial ?? scanned?.serial,
            lot: typedLot ?? scanned?.lot,
            expiry: scanned?.expiry,
            quantity: try quantity.map(parseQuantity) ?? 1,
            note: note,
            receipt: !noReceipt,
            operatorID: try database.operatorID,
            customerRef: try customer.map { try CustomerReferences.stored($0) }
        )
        let item = try database.openStore().recordReturn(capture)
        Console.current.print(item.id.rawValue)
        // Staff tell the customer now; scripts read the id alone from standard output.
        if !item.exceptions.isEmpty {
            Console.current.printError(
                "needs HQ review: \(item.exceptions.map(\.rawValue).joined(separator: ", ")) (the return is taken)"
            )
        }
    }
}

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Record the inspection of a returned item."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Option(help: "What the item is like: \(ItemCondition.allowedSpellings).") var condition: String
    @Option(help: "The functional test's result: \(TestResult.allowedSpellings).") var test: String?
    @Option(help: "A note.") var note: String?

    func run() async throws {
        let condition = try ItemCondition.parse(condition)
        let testResult = try test.map(TestResult.parse) ?? .notTested
        let store = try database.openStore()
        let id = try await store.resolveReturnID(id)
        let item = try store.updateReturn(id, operation: "inspect", operatorID: database.operatorID) {
            item,
            author,
            date in
            try item.inspect(condition: condition, testResult: testResult, note: note, by: author, at: date)
        }
        Console.current.print(
            "\(item.id) inspected: condition \(item.condition.rawValue), test \(item.testResult.rawValue)"
        )
    }
}

struct DispositionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disposition",
        abstract:
            "Route an inspected item: \(Disposition.routable.map(\.rawValue).joined(separator: ", "))."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Argument(help: "Where the item goes.") var disposition: String
    @Option(help: "A note.") var note: String?

    func run() async throws {
        Console.current.print(
            try await ReturnEdits.disposition(database.openEditor(), id: id, to: disposition, note: note)
        )
    }
}

struct CloseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close",
        abstract: "Close a dispositioned return: the item was handled."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Option(help: "A note.") var note: String?

    func run() async throws {
        Console.current.print(try await ReturnEdits.close(database.openEditor(), id: id, note: note))
    }
}

struct VoidCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "void",
        abstract: "Void a return captured by mistake; the note says why."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Option(help: "Why the return is voided (required).") var note: String

    func run() async throws {
        Console.current.print(try await ReturnEdits.void(database.openEditor(), id: id, note: note))
    }
}

struct NoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "note",
        abstract: "Add a note to a return (allowed in every status)."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Argument(help: "The note.") var text: String

    func run() async throws {
        Console.current.print(try await ReturnEdits.note(database.openEditor(), id: id, text: text))
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List returns, oldest first, by their short ids (every filter of 'find' works here too)."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var filters: ReturnSearchOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        try FindCommand.list(database, filters, json: output.json)
    }
}

struct FindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find returns by serial, order, GTIN, status, reason or capture date; every filter given must hold.",
        discussion: """
            Lists the matches oldest first with their short ids: the shortest prefix, at least 8 characters, that no \
            other return on this kiosk shares. Any such prefix works wherever a command takes a return id. Days are \
            the store's days, in the time zone HQ set for it (UTC when none).
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var filters: ReturnSearchOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        try Self.list(database, filters, json: output.json)
    }

    /// Prints what `filters` find: a table with short ids, or with `json` the returns in full.
    static func list(_ database: DatabaseOptions, _ filters: ReturnSearchOptions, json: Bool) throws {
        let store = try database.openStore()
        let search = try filters.search(timeZones: store.storeTimeZones())
        let result = try store.findReturns(search, records: json)
        if json {
            try Console.current.printJSON(result.returns.compactMap(\.record).map { try ReturnDocument(record: $0) })
        } else {
            Console.current.print(Format.returnsTable(result))
        }
    }
}

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one return in full.")

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var output: JSONOption

    func run() async throws {
        let store = try database.openStore()
        let record = try store.returnRecord(try await store.resolveReturnID(id))
        if output.json {
            try Console.current.printJSON(ReturnDocument(record: record))
        } else {
            Console.current.print(try Format.returnDetails(record, in: store))
        }
    }
}

struct ConflictsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "The conflict audit: every conflict a merge found, its values and dots, and the value shown."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let entries = try database.openStore().conflictAudit()
        if output.json {
            try Console.current.printJSON(entries.map(ConflictDocument.init))
        } else {
            Console.current.print(Format.conflictsTable(entries))
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Replica id, store, returns by status, changes not yet synced, last sync."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let status = try database.openStore().status()
        if output.json {
            try Console.current.printJSON(StatusDocument(status))
        } else {
            Console.current.print(Format.status(status))
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load returns from NDJSON in one transaction; a bad line rejects the whole file."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The NDJSON file (one return per line, as `kiosk export` writes or `--json` keys).")
    var file: String

    func run() async throws {
        let store = try database.openStore()
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped)
        } catch {
            throw CLIError(message: "cannot read import file \(file): \(error.localizedDescription)")
        }
        let progress = ProgressLine()
        let summary = try await progress.clearing {
            try store.importReturns(
                ndjson: data,
                progress: progress.isActive ? { progress.update("importing", done: $0, total: $1, unit: "lines") } : nil
            )
        }
        Console.current.print("imported \(summary.imported) returns (\(summary.unchanged) already known)")
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every return as NDJSON to stdout, with full records (clocks and dots) for a lossless import."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let console = Console.current
        try database.openStore().exportReturns { console.writeOut($0) }
    }
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync with the server once: push what changed here, pull what changed there."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The server, HOST:PORT (default: the one given to init).") var server: String?
    @OptionGroup var output: JSONOption

    struct Document: Encodable {
        struct Conflict: Encodable {
            var recordId: String
            var field: String
        }

        struct SetAside: Encodable {
            var recordId: String
            var code: String
            var message: String
        }

        struct Waiting: Encodable {
            var digest: String
            var code: String
            var message: String
        }

        var pushed: Int
        var pulled: Int
        var conflicts: [Conflict]
        var quarantined: [SetAside]
        var attachmentsSent: Int
        var attachmentBytesSent: Int64
        var attachmentsWaiting: [Waiting]
        /// The server's clock next to this kiosk's (`null`: the server did not say its time).
        var clock: Clock?
        /// What the store's retention let go after the sync.
        var pruned: Pruned?

        struct Pruned: Encodable {
            var returns: Int
            var orderLines: Int
            var attachments: Int
            /// Records whose settled-conflict history was dropped (HQ keeps it).
            var histories: Int
            var retentionDays: Int

            init(_ report: PruneReport) {
                (returns, orderLines, attachments, histories, retentionDays) =
                    (report.returns, report.orderLines, report.attachments, report.histories, report.retentionDays)
            }
        }

        struct Clock: Encodable {
            /// How far the server's clock is from this kiosk's, in milliseconds (positive: the kiosk's is behind).
            var offsetMs: Int64
            /// The correction in force: the offset when a minute or more, else 0.
            var correctionMs: Int64
            /// Records stamped again because their stamps were too far ahead for the server.
            var restamped: Int
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(pushed, forKey: .pushed)
            try container.encode(pulled, forKey: .pulled)
            try container.encode(conflicts, forKey: .conflicts)
            try container.encode(quarantined, forKey: .quarantined)
            try container.encode(attachmentsSent, forKey: .attachmentsSent)
            try container.encode(attachmentBytesSent, forKey: .attachmentBytesSent)
            try container.encode(attachmentsWaiting, forKey: .attachmentsWaiting)
            try container.encode(clock, forKey: .clock)
            try container.encode(pruned, forKey: .pruned)
        }

        enum CodingKeys: String, CodingKey {
            case pushed, pulled, conflicts, quarantined, attachmentsSent, attachmentBytesSent, attachmentsWaiting
            case clock, pruned
        }
    }

    func run() async throws {
        // Progress only for a person at a terminal; `--json` output stays exactly the document.
        let progress = ProgressLine(enabled: !output.json)
        var onProgress: (@Sendable (SyncProgress) -> Void)?
        if progress.isActive {
            onProgress = { step in
                let phase = step.phase == .push ? "pushing" : "pulling"
                progress.update(phase, done: step.done, total: step.total, unit: "records")
            }
        }
        let client = SyncClient(store: try database.openStore(), progress: onProgress)
        let report = try await progress.clearing { try await client.sync(server: server) }
        if output.json {
            try Console.current.printJSON(
                Document(
                    pushed: report.pushed,
                    pulled: report.pulled,
                    conflicts: report.conflicts.map { .init(recordId: $0.recordID, field: $0.field) },
                    quarantined: report.quarantined.map {
                        .init(recordId: $0.recordID, code: $0.code, message: $0.message)
                    },
                    attachmentsSent: report.attachmentsSent,
                    attachmentBytesSent: report.attachmentBytesSent,
                    attachmentsWaiting: report.attachmentsWaiting.map {
                        .init(digest: $0.digest, code: $0.refusal.code.rawValue, message: $0.refusal.message)
                    },
                    clock: report.clock.map {
                        .init(offsetMs: $0.measured, correctionMs: $0.correction, restamped: $0.restamped.count)
                    },
                    pruned: report.pruned.map(Document.Pruned.init)
                )
            )
        } else {
            var lines = ["pushed \(report.pushed), pulled \(report.pulled), conflicts \(report.conflicts.count)"]
            lines += report.conflicts.map { "conflict: \($0.recordID) \($0.field)" }
            if report.attachmentsSent > 0 {
                lines.append("attachments sent \(report.attachmentsSent) (\(report.attachmentBytesSent) bytes)")
            }
            Console.current.print(lines.joined(separator: "\n"))
        }
        // Loud, and on stderr in both forms: a record the server refused will never sync by retrying.
        for entry in report.quarantined {
            Console.current.printError(
                "warning: return \(entry.recordID) was refused by the server (\(entry.code)) and is set aside; "
                    + "see `kiosk quarantine list`: \(entry.message)"
            )
        }
        if let note = report.clock.flatMap(Format.clockAdjustment) { Console.current.printError(note) }
        if let pruned = report.pruned, !pruned.isEmpty { Console.current.printError("note: " + Format.pruned(pruned)) }
        for entry in report.attachmentsWaiting {
            Console.current.printError(
                "note: attachment \(entry.digest.prefix(12)) was not sent (\(entry.refusal.code.rawValue)); the next "
                    + "sync tries again: \(entry.refusal.message)"
            )
        }
    }
}

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Bring returns of this store back from HQ by id, whole (one this kiosk pruned, say).",
        discussion: """
            A fetched return stays here 30 days before it may be pruned again. A return this kiosk no longer \
            holds is fetched by its whole id (HQ's `returns-server returns show` prints it); one it holds, by \
            any prefix no other return shares. Another store's returns are not fetched: HQ answers "not found" \
            for them as for unknown ids. Needs a server of release 0.5.0 or later.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The returns' ids.") var ids: [String]
    @Option(help: "The server, HOST:PORT (default: the one given to init).") var server: String?
    @OptionGroup var output: JSONOption

    struct Document: Encodable {
        var fetched: [String]
        var missing: [String]
    }

    func run() async throws {
        let store = try database.openStore()
        var wanted: [ReturnID] = []
        for text in ids {
            if let id = try? await store.resolveReturnID(text) {
                wanted.append(id)
                continue
            }
            guard let id = try? ReturnID(text) else {
                throw CLIError(
                    message: "'\(text)' is not a whole return id, and no return here starts with it: a return this "
                        + "kiosk no longer holds is fetched by its whole id (HQ's 'returns-server returns show' prints it)"
                )
            }
            wanted.append(id)
        }
        let report = try await SyncClient(store: store).fetch(wanted, server: server)
        if output.json {
            try Console.current.printJSON(Document(fetched: report.fetched.map(\.rawValue), missing: report.missing))
        } else {
            let lines = try report.fetched.map { id in
                let row = try ProductReturn(record: store.returnRecord(id))
                return "fetched \(id): \(row.status.rawValue), \(row.reason.rawValue), order \(row.orderID)"
            }
            if !lines.isEmpty { Console.current.print(lines.joined(separator: "\n")) }
        }
        // One line, as every error: what was fetched is kept, and printed above.
        if let only = report.missing.first, report.missing.count == 1 {
            throw CLIError(message: "HQ holds no return \(only) of this store")
        } else if !report.missing.isEmpty {
            throw CLIError(
                message: "HQ holds no return of this store with these ids: \(report.missing.joined(separator: ", "))"
            )
        }
    }
}

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Let go of closed and voided returns past the store's retention, and order lines past their window.",
        discussion: """
            A return goes once it is closed or voided, its last change is older than the store's retention (180 \
            days unless HQ set it: `returns-server store set STORE --retention-days DAYS`), and HQ holds it: \
            every change to it acknowledged by the server, none set aside, no photo of it still to send. An \
            order line goes 30 days after the longest return window that could govern it closed. A record's \
            settled-conflict history goes 30 days after its last change, once HQ holds it (with a server of 0.6.0 \
            or later). HQ keeps everything; `kiosk fetch ID` brings a pruned return back. Every sync prunes by \
            itself; this is for seeing what goes (`kiosk status` says what is prunable) or catching up at once.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let store = try database.openStore()
        // 2,000 a transaction: a kiosk that was never pruned lets go of years at once, without one huge commit.
        let total = try store.pruneAll()
        if output.json {
            try Console.current.printJSON(SyncCommand.Document.Pruned(total))
        } else {
            Console.current.print(Format.pruned(total))
        }
    }
}

struct RecallsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recalls",
        abstract: "The recall campaigns this kiosk has received, what to do, and this store's returns under each."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let store = try database.openStore()
        let campaigns = try store.recalls()
        if output.json {
            try Console.current.printJSON(campaigns.map(RecallDocument.init))
            return
        }
        var text = Format.recallsTable(campaigns)
        if !campaigns.isEmpty {
            let flagged = try campaigns.map { try store.findReturns(ReturnSearch(recallCampaign: $0.id)).returns }
            text +=
                "\n\n"
                + Format.recallInstructions(
                    campaigns,
                    found: ReturnSearchResult(returns: flagged.flatMap { $0 }, more: false)
                )
        }
        Console.current.print(text)
    }
}

struct RefundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund",
        abstract: "Decide a return's refund: once, by default its order line's value less the policy's restocking fee.",
        discussion: """
            The amount is the order line's unit price times the quantity, less the restocking fee of the return \
            policy (none for defective, recalled or wrong items); an exchange or 'none' pays nothing back. --amount \
            with --reason pays another amount. Amounts are in the currency's decimals (19.99 EUR, 1999 JPY). A refund \
            is decided once: two kiosks refunding one return offline is a conflict HQ sees.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var refund: RefundOptions

    func run() async throws {
        Console.current.print(try await refund.perform(on: database.openEditor(), id: id))
    }
}

struct RMACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rma",
        abstract: "Record the vendor's RMA number and the shipment of a return routed to the vendor."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var shipment: VendorShipmentOptions

    func run() async throws {
        Console.current.print(try await shipment.perform(on: database.openEditor(), id: id))
    }
}

struct VendorCreditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credit",
        abstract: "Record the credit the vendor gave for a returned unit (also once the return is closed)."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var credit: VendorCreditOptions

    func run() async throws {
        Console.current.print(try await credit.perform(on: database.openEditor(), id: id))
    }
}

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Record where a return routed to repair stands."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var repair: RepairOptions

    func run() async throws {
        Console.current.print(try await repair.perform(on: database.openEditor(), id: id))
    }
}

struct HandoffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "Record who took an item to recycle or dispose of: required before closing it."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @OptionGroup var handoff: HandoffOptions

    func run() async throws {
        Console.current.print(try await handoff.perform(on: database.openEditor(), id: id))
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep this kiosk in sync in the background; SIGTERM or SIGINT stop it cleanly.",
        discussion: """
            Syncs at start, soon after every local change, at once when the server has changes for this store \
            (the connection stays open: live push), and every --interval seconds; while the server is unreachable \
            it retries with exponential backoff and jitter. Logs go to standard error.

            Every option can also come from a config file (--config FILE, or $KIOSK_CONFIG: 'key = value' lines, \
            keys named as the options without '--') and from environment variables (KIOSK_ and the key in \
            capitals, '-' as '_': KIOSK_BACKOFF_MAX). Options win over the environment, the environment over the \
            file. --print-config shows the effective settings and where each came from.
            """
    )

    @Option(help: "The kiosk database (default: ./kiosk.sqlite).") var db: String?
    @Option(help: "The server, HOST:PORT (default: the one given to init).") var server: String?
    @Option(help: "Sync at least this often, in seconds (default: 300).") var interval: String?
    @Option(help: "Look for local changes this often, in seconds (default: 1).") var checkEvery: String?
    @Option(help: "The first wait after a failed sync, in seconds (default: 1).") var backoffMin: String?
    @Option(help: "The longest wait between attempts, in seconds (default: 300).") var backoffMax: String?
    @Option(help: "Stay connected for live pushes from the server: true or false (default: true).") var live: String?
    @OptionGroup var settingsOptions: SettingsOptions

    func run() async throws {
        typealias S = AgentSettings
        let settings = try Settings(
            keys: S.keys,
            flags: [
                S.db.name: db, S.server.name: server, S.interval.name: interval, S.checkEvery.name: checkEvery,
                S.backoffMin.name: backoffMin, S.backoffMax.name: backoffMax, S.live.name: live,
                Setting.logLevel.name: settingsOptions.logLevel,
            ],
            configFile: settingsOptions.config,
            environmentPrefix: "KIOSK_"
        )
        let agentSettings = try AgentSettings(settings)
        if settingsOptions.printConfig {
            Console.current.print(settings.printed)
            return
        }
        let path = agentSettings.db
        let store: ReplicaStore
        do {
            store = try ReplicaStore.open(at: path, configuration: ReplicaStore.Configuration().announcingMigrations())
        } catch let error as ReplicaStoreError where error.code == .databaseMissing {
            throw CLIError(message: "no kiosk database at \(path): run 'kiosk init' first, or set db")
        }
        guard try store.syncCredentials() != nil else {
            throw CLIError(
                message:
                    "kiosk \(store.identity.replicaID) has no sync settings: initialise it with --server and --token"
            )
        }
        var logger = Logger(label: "returnsync.kiosk-agent", factory: VisibleLogHandler.standardError)
        logger.logLevel = agentSettings.logLevel
        logger[metadataKey: "kiosk"] = "\(store.identity.replicaID)"
        let agent = SyncAgent(
            client: SyncClient(store: store, logger: logger),
            configuration: agentSettings.agent,
            logger: logger
        )
        logger.info("sync agent started", metadata: ["database": "\(path)"])
        try await ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: agent)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        ).run()
    }
}

/// What `kiosk agent` runs with: each setting declared once, typed, every value checked.
struct AgentSettings: Sendable {
    static let db = Setting.text("db", default: "./kiosk.sqlite", help: "the kiosk database")
    static let server = Setting<String>(
        "server",
        help: "the server, HOST:PORT",
        expected: "HOST:PORT, such as 127.0.0.1:7420"
    ) { (try? SyncClient.parse($0)) == nil ? nil : $0 }
    static let interval = Setting.seconds(
        "interval",
        default: "300",
        in: 1...86_400,
        help: "seconds between scheduled syncs"
    )
    static let checkEvery = Setting.seconds(
        "check-every",
        default: "1",
        in: 0.05...3_600,
        help: "seconds between local change checks"
    )
    static let backoffMin = Setting.seconds("backoff-min", default: "1", in: 0.01...3_600, help: "first retry wait")
    static let backoffMax = Setting.seconds(
        "backoff-max",
        default: "300",
        in: 0.01...86_400,
        help: "longest retry wait"
    )
    static let live = Setting.boolean("live", default: true, help: "stay connected for live pushes")
    /// Who works this kiosk: the `kiosk` commands record it with their edits (the agent itself makes none).
    static let operatorID = Setting<String>(
        "operator",
        help: "who makes the edits of kiosk commands",
        expected: "1-64 letters, digits, '.', '_', '-' or '@'"
    ) { (try? OperatorID($0)) == nil ? nil : $0 }

    /// Every setting, in the order `--print-config` shows them.
    static let keys: [Settings.Key] = [
        db.key, server.key, interval.key, checkEvery.key, backoffMin.key, backoffMax.key, live.key,
        Setting.logLevel.key, operatorID.key,
    ]

    var db: String
    /// How the agent syncs.
    var agent: SyncAgent.Configuration
    var logLevel: Logger.Level

    /// Reads and checks every setting.
    ///
    /// - Throws: ``CLIError`` naming the first bad value and where it came from.
    init(_ settings: Settings) throws {
        db = try settings.value(required: Self.db)
        let backoffMin = try settings.value(required: Self.backoffMin)
        let backoffMax = try settings.value(required: Self.backoffMax)
        guard backoffMax >= backoffMin else {
            let seconds = Double(backoffMin.components.seconds) + Double(backoffMin.components.attoseconds) / 1e18
            throw settings.invalid(settings.entry(Self.backoffMax.name), expected: "seconds from \(seconds) to 86400.0")
        }
        agent = SyncAgent.Configuration(
            server: try settings.value(Self.server),
            interval: try settings.value(required: Self.interval),
            changeCheckInterval: try settings.value(required: Self.checkEvery),
            initialBackoff: backoffMin,
            maximumBackoff: backoffMax,
            live: try settings.value(required: Self.live)
        )
        logLevel = try settings.value(required: .logLevel)
    }
}

struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "Records the server refused for what they are, set aside so everything else keeps syncing.",
        discussion: """
            A record the server refuses with forged-clock, forbidden-store, forbidden-field, conflicting-write, \
            invalid-record or limit-exceeded can never sync by being sent again. The kiosk sets it aside: it is \
            neither pushed nor updated by pulls, and `kiosk status` counts it. `drop` deletes this kiosk's copy.
            """,
        subcommands: [QuarantineListCommand.self, QuarantineDropCommand.self],
        defaultSubcommand: QuarantineListCommand.self
    )
}

struct QuarantineListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The records set aside: id, the server's error code and message, when."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: JSONOption

    struct Document: Encodable {
        var recordId: String
        var type: String
        var code: String
        var message: String
        var quarantinedAt: Date
    }

    func run() async throws {
        let entries = try database.openStore().quarantined()
        if output.json {
            try Console.current.printJSON(
                entries.map {
                    Document(
                        recordId: $0.recordID,
                        type: $0.entityType,
                        code: $0.code,
                        message: $0.message,
                        quarantinedAt: $0.quarantinedAt
                    )
                }
            )
            return
        }
        let rows = entries.map {
            [$0.recordID, $0.code, ISO8601Milliseconds.format($0.quarantinedAt), $0.message]
        }
        Console.current.print(
            Format.table(["ID", "CODE", "SINCE", "WHY"], rows)
                + "\n\(entries.count) record\(entries.count == 1 ? "" : "s") set aside"
        )
    }
}

struct QuarantineDropCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop",
        abstract: "Delete this kiosk's copy of a record set aside (the server's version, if any, comes back later)."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The id of the record set aside (see `kiosk quarantine list`).") var id: String

    func run() async throws {
        try database.openStore().dropQuarantined(id)
        Console.current.print("dropped \(id)")
    }
}

struct ClockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "This kiosk's hybrid logical clock next to its wall clock; `repair` sets it back.",
        subcommands: [ClockShowCommand.self, ClockRepairCommand.self],
        defaultSubcommand: ClockShowCommand.self
    )
}

struct ClockShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "The clock, how far it is from the wall clock, and records stamped from the future."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        Console.current.print(Format.clockState(try database.openStore().clockState()))
    }
}

struct ClockRepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract:
            "Set the clock back to the wall clock after a stamp from the future got in (fix the wall clock first)."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        Console.current.print(Format.clockRepair(try database.openStore().repairClock(supersede: false)))
    }
}

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll this kiosk again with a new token: a new key, the server's key pinned anew.",
        discussion: """
            For a kiosk that was revoked, whose key may have leaked, that was set up before servers proved their \
            identity, or whose server moved. Issue the token with 'returns-server enroll --store S --kiosk K'; the \
            next sync presents the new key, and the old one stops working. Returns and sync progress are kept.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The one-time enrollment token from 'returns-server enroll'.") var token: String
    @Option(help: "The sync server, HOST:PORT (default: the one given to init).") var server: String?

    func run() async throws {
        if let server { _ = try SyncClient.parse(server) }
        let store = try database.openStore()
        guard
            let current = try store.syncCredentials()
                ?? server.map({ SyncCredentials(server: $0, token: nil, privateKey: Data()) })
        else {
            throw CLIError(message: "this kiosk has no server: give --server HOST:PORT")
        }
        var credentials = try SyncClient.reenrolling(current, token: token)
        if let server { credentials.server = server }
        try store.saveSyncCredentials(credentials)
        Console.current.print(
            "kiosk \(store.identity.replicaID) will enroll with a new key at its next sync with \(credentials.server)"
        )
    }
}
