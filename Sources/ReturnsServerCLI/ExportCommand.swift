import ArgumentParser
import CommandLineSupport
import EPCISExport
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// `returns-server export`: HQ's returns in standard interchange formats.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export returns in an interchange format.",
        subcommands: [EPCIS.self]
    )

    struct EPCIS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "epcis",
            abstract: "Write the returns' lifecycle as a GS1 EPCIS 2.0 JSON-LD document of ObjectEvents.",
            discussion: """
                Capture (receiving, returned), inspection (inspecting: conformant, non_conformant or damaged), \
                routing (stocking, repackaging, repairing, destroying), recall holds (holding, recalled, as a \
                persistent disposition), and shipments to the vendor (shipping, with the RMA as a bizTransaction). \
                Products are GS1 Digital Link URIs; event ids are stable, so a second export yields the same events. \
                A settled conflict and a void are errorDeclarations. See docs/epcis.md.
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "Only this store's returns.") var store: String?
        @Option(
            help: ArgumentHelp(
                "Only events that happened, or were declared in error, at or after this time (ISO 8601).",
                valueName: "time"
            )
        )
        var since: String?
        @Option(help: "The file to write (replaced atomically).") var output: String

        /// Returns read at a time.
        static let pageSize = 500

        func run() async throws {
            let store = try store.map(StoreID.init)
            let since = try since.map { text in
                guard let date = ISO8601Milliseconds.parse(text) else {
                    throw CLIError(
                        message: "invalid --since '\(text)': expected an ISO 8601 time such as 2026-12-04T09:30:00Z"
                    )
                }
                return date
            }
            // Page by page, written as it goes: an export of every return HQ holds needs the memory of one page.
            // With --since, only returns written since then can hold such events.
            let written = try await database.withStorage { storage in
                let stores = try await storage.storeRecords()
                let zones = StoreTimeZones.decoding(stores)
                let glns = StoreEntity.glns(in: stores)
                // A store with a GLN is placed by it (GS1 Digital Link); one without, by this deployment's store id.
                let location: EPCISEvents.Locations = { store in
                    glns[store].map { "https://id.gs1.org/414/\($0.digits)" } ?? EPCISEvents.storeURN(store)
                }
                let writer = try EPCISDocumentWriter(path: output, creationDate: Date())
                do {
                    var returns = 0
                    var after: ReturnSearch.Position?
                    while true {
                        let page = try await storage.findReturns(
                            ReturnSearch(store: store, limit: Self.pageSize, updatedSince: since, after: after),
                            records: true
                        )
                        let superseded = try await storage.supersededSteps(of: page.returns.map(\.row.id))
                        for found in page.returns {
                            guard let record = found.record else { continue }
                            let item = try ProductReturn(record: record)
                            let events = try EPCISEvents.events(
                                of: record,
                                timeZone: zones[item.storeID],
                                location: location,
                                superseded: superseded[record.id] ?? []
                            ).filter { event in
                                guard let since else { return true }
                                return (EPCISEvents.latestTime(of: event) ?? .distantPast) >= since
                            }
                            try writer.append(events)
                            returns += events.isEmpty ? 0 : 1
                        }
                        guard page.more, let last = page.returns.last else { break }
                        after = ReturnSearch.Position(createdAt: last.row.createdAt, id: last.row.id)
                    }
                    let events = try writer.finish()
                    return (events, returns)
                } catch {
                    writer.abandon()
                    throw error
                }
            }
            Console.current.print("\(written.0) EPCIS events of \(written.1) returns written to \(output)")
        }
    }
}

/// An EPCIS document written event by event into a temporary file beside its destination, renamed over it when
/// finished: a reader never sees half an export, and the writer never holds more than the events it is given.
final class EPCISDocumentWriter {
    private let file: AtomicFileWriter
    private var count = 0

    init(path: String, creationDate: Date) throws {
        file = try AtomicFileWriter(path: path, what: "the export")
        // The document's members around the event list, as EPCISEvents.document writes them.
        guard case .object(var members) = EPCISEvents.document([], creationDate: creationDate) else { return }
        members["epcisBody"] = nil
        var head = JSONValue.object(members).serializedString
        head.removeLast()  // the closing brace: the body follows
        try write(head + ",\"epcisBody\":{\"eventList\":[")
    }

    func append(_ events: [JSONValue]) throws {
        for event in events {
            try write((count == 0 ? "" : ",") + event.serializedString)
            count += 1
        }
    }

    /// Closes the list and puts the file in place; the number of events written.
    func finish() throws -> Int {
        try write("]}}")
        try file.finish()
        return count
    }

    func abandon() { file.abandon() }

    private func write(_ text: String) throws { try file.write(Data(text.utf8)) }
}
