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
            let file = try AtomicFileWriter(path: output, what: "the export")
            let written: (events: Int, returns: Int)
            do {
                written = try await database.withStorage { storage in
                    try await EPCISExportStream.write(from: storage, store: store, since: since, creationDate: Date()) {
                        try file.write(Data($0.utf8))
                    }
                }
                try file.finish()
            } catch {
                file.abandon()
                throw error
            }
            Console.current.print("\(written.0) EPCIS events of \(written.1) returns written to \(output)")
        }
    }
}
