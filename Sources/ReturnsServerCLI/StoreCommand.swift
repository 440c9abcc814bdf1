import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// `returns-server store`: a store's settings, set at HQ and received by every kiosk — its time zone, its GLN, how
/// long its kiosks keep closed and voided returns.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract:
            "A store's settings: its time zone (where its days begin), its GLN (where EPCIS events happen) and "
            + "its kiosks' retention (how long they keep closed and voided returns).",
        subcommands: [SetStore.self, List.self]
    )

    struct SetStore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a store's time zone, GLN or retention; its kiosks receive them at their next sync.",
            discussion: """
                Days of the store — a search's --since/--until day, the per-day chart, the last day of a return \
                window — begin at midnight in its time zone; a store without one keeps UTC days. Its GLN (GS1 \
                Global Location Number) is where the EPCIS export places its events. Its retention is how many \
                days its kiosks keep a closed or voided return after its last change, once HQ holds it (180 \
                unless set); HQ keeps every return, and `kiosk fetch ID` brings one back. What is not given is \
                left as it was.
                """
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The store id.") var store: String
        @Option(help: ArgumentHelp("An IANA time zone: Europe/Berlin, America/New_York, UTC.", valueName: "zone"))
        var timeZone: String?
        @Option(help: ArgumentHelp("The store's GS1 Global Location Number (13 digits).", valueName: "gln"))
        var gln: String?
        @Option(
            help: ArgumentHelp(
                "Days the store's kiosks keep a closed or voided return after its last change (7-3650; 180 unless set).",
                valueName: "days"
            )
        )
        var retentionDays: Int?

        func run() async throws {
            let store = try StoreID(store)
            let zone = try timeZone.map(StoreTimeZone.init)
            let location = try gln.map(GLN.init)
            let retention = try retentionDays.map(StoreEntity.validatedRetention)
            guard zone != nil || location != nil || retention != nil else {
                throw CLIError(
                    message: "nothing to set: give --time-zone ZONE, --gln GLN, --retention-days DAYS or several"
                )
            }
            _ = try await database.withStorage(create: true) {
                try await $0.write(.setStore(store, timeZone: zone, gln: location, retentionDays: retention))
            }
            let said = [
                zone.map { "time zone \($0)" }, location.map { "GLN \($0)" },
                retention.map { "retention \($0) days" },
            ].compactMap { $0 }
            Console.current.print("store \(store) set: \(said.joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The stores' time zones, GLNs and retention."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let records = try await database.withStorage { try await $0.storeRecords() }
            let zones = StoreTimeZones.decoding(records)
            let glns = StoreEntity.glns(in: records)
            let retentions = StoreEntity.retentions(in: records)
            let stores = Set(zones.zones.keys).union(glns.keys).union(retentions.keys).sorted {
                $0.rawValue < $1.rawValue
            }
            if json {
                try Console.current.printJSON(
                    stores.map { store -> [String: JSONValue] in
                        [
                            "storeId": .string(store.rawValue), "timeZone": .string(zones[store].identifier),
                            "gln": glns[store].map { .string($0.digits) } ?? .null,
                            "retentionDays": .integer(Int64(retentions[store] ?? StoreEntity.defaultRetentionDays)),
                        ]
                    }
                )
            } else {
                Console.current.print(
                    Format.table(
                        ["STORE", "TIME ZONE", "GLN", "RETENTION"],
                        stores.map {
                            [
                                $0.rawValue, zones[$0].identifier, glns[$0]?.digits ?? "-",
                                "\(retentions[$0] ?? StoreEntity.defaultRetentionDays) days",
                            ]
                        }
                    ) + "\nevery other store: UTC, no GLN, retention \(StoreEntity.defaultRetentionDays) days"
                )
            }
        }
    }
}
