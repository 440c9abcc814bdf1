import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// `returns-server store`: a store's settings, set at HQ and received by every kiosk — its time zone.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract:
            "A store's settings: its time zone (where its days begin) and its GLN (where EPCIS events happen).",
        subcommands: [SetStore.self, List.self]
    )

    struct SetStore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a store's time zone or GLN (or both); its kiosks receive them at their next sync.",
            discussion: """
                Days of the store — a search's --since/--until day, the per-day chart, the last day of a return \
                window — begin at midnight in its time zone; a store without one keeps UTC days. Its GLN (GS1 \
                Global Location Number) is where the EPCIS export places its events. What is not given is left \
                as it was.
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The store id.") var store: String
        @Option(help: ArgumentHelp("An IANA time zone: Europe/Berlin, America/New_York, UTC.", valueName: "zone"))
        var timeZone: String?
        @Option(help: ArgumentHelp("The store's GS1 Global Location Number (13 digits).", valueName: "gln"))
        var gln: String?

        func run() async throws {
            let store = try StoreID(store)
            let zone = try timeZone.map(StoreTimeZone.init)
            let location = try gln.map(GLN.init)
            guard zone != nil || location != nil else {
                throw CLIError(message: "nothing to set: give --time-zone ZONE, --gln GLN or both")
            }
            _ = try await database.withStorage(create: true) {
                try await $0.write(.setStore(store, timeZone: zone, gln: location))
            }
            let said = [zone.map { "time zone \($0)" }, location.map { "GLN \($0)" }].compactMap { $0 }
            Console.current.print("store \(store) set: \(said.joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The stores' time zones and GLNs."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let records = try await database.withStorage { try await $0.storeRecords() }
            let zones = StoreTimeZones.decoding(records)
            let glns = StoreEntity.glns(in: records)
            let stores = Set(zones.zones.keys).union(glns.keys).sorted { $0.rawValue < $1.rawValue }
            if json {
                try Console.current.printJSON(
                    stores.map { store in
                        ["storeId": store.rawValue, "timeZone": zones[store].identifier, "gln": glns[store]?.digits]
                    }
                )
            } else {
                Console.current.print(
                    Format.table(
                        ["STORE", "TIME ZONE", "GLN"],
                        stores.map { [$0.rawValue, zones[$0].identifier, glns[$0]?.digits ?? "-"] }
                    ) + "\nevery other store: UTC, no GLN"
                )
            }
        }
    }
}
