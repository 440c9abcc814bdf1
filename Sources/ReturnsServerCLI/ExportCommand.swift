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
            let (records, stores) = try await database.withStorage { storage in
                (
                    try await storage.findReturns(ReturnSearch(store: store), records: true).returns.compactMap(
                        \.record
                    ),
                    try await storage.storeRecords()
                )
            }
            let zones = try StoreTimeZones.decoding(stores)
            let glns = StoreEntity.glns(in: stores)
            // A store with a GLN is placed by it (GS1 Digital Link); one without, by this deployment's store id.
            let location: EPCISEvents.Locations = { store in
                glns[store].map { "https://id.gs1.org/414/\($0.digits)" } ?? EPCISEvents.storeURN(store)
            }
            var events: [JSONValue] = []
            for record in records {
                let item = try ProductReturn(record: record)
                events += try EPCISEvents.events(of: record, timeZone: zones[item.storeID], location: location).filter {
                    event in
                    guard let since else { return true }
                    return (EPCISEvents.latestTime(of: event) ?? .distantPast) >= since
                }
            }
            events.sort {
                (
                    $0["eventTime"]?.stringValue.flatMap(ISO8601Milliseconds.parse) ?? .distantPast,
                    $0["eventID"]?.stringValue ?? ""
                )
                    < (
                        $1["eventTime"]?.stringValue.flatMap(ISO8601Milliseconds.parse) ?? .distantPast,
                        $1["eventID"]?.stringValue ?? ""
                    )
            }
            let document = EPCISEvents.document(events, creationDate: Date())
            do {
                try Data(document.serialized()).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw CLIError(message: "cannot write the export to \(output): \(error.localizedDescription)")
            }
            Console.current.print("\(events.count) EPCIS events of \(records.count) returns written to \(output)")
        }
    }
}
