import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsServer

/// `returns-server store`: a store's settings, set at HQ and received by every kiosk — its time zone.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "A store's time zone: where its days begin in reports, searches and return windows.",
        subcommands: [SetStore.self, List.self]
    )

    struct SetStore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a store's time zone; its kiosks receive it at their next sync.",
            discussion: """
                Days of the store — a search's --since/--until day, the per-day chart, the last day of a return \
                window — begin at midnight in this zone. A store without one keeps UTC days.
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The store id.") var store: String
        @Option(help: ArgumentHelp("An IANA time zone: Europe/Berlin, America/New_York, UTC.", valueName: "zone"))
        var timeZone: String

        func run() async throws {
            let store = try StoreID(store)
            let zone = try StoreTimeZone(timeZone)
            _ = try await database.withStorage(create: true) { try await $0.write(.setTimeZone(zone, of: store)) }
            Console.current.print("store \(store) set: time zone \(zone)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The stores' time zones.")

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let zones = try await database.withStorage { try await $0.storeTimeZones() }.zones
                .sorted { $0.key.rawValue < $1.key.rawValue }
            if json {
                try Console.current.printJSON(
                    zones.map { ["storeId": $0.key.rawValue, "timeZone": $0.value.identifier] }
                )
            } else {
                Console.current.print(
                    Format.table(["STORE", "TIME ZONE"], zones.map { [$0.key.rawValue, $0.value.identifier] })
                        + "\nevery other store: UTC"
                )
            }
        }
    }
}
