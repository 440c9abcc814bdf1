import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel

/// The `--db` option every command takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "The kiosk database (default: $KIOSK_DB, else ./kiosk.sqlite).")
    var db: String?
    @Option(
        name: .customLong("operator"),
        help: "Who makes the edit, recorded with it (a staff id; default: $KIOSK_OPERATOR)."
    )
    var operatorText: String?

    /// The operator the edits of this command record: `--operator`, else `$KIOSK_OPERATOR`, else `operator` in the
    /// agent's config file (`$KIOSK_CONFIG`), else none.
    var operatorID: OperatorID? {
        get throws {
            // The agent's settings, so its config file reads with every key it may hold.
            let settings = try Settings(
                keys: AgentSettings.keys,
                flags: [AgentSettings.operatorID.name: operatorText],
                configFile: nil,
                environmentPrefix: "KIOSK_"
            )
            return try settings.value(AgentSettings.operatorID).map(OperatorID.init)
        }
    }

    /// The kiosk database, its edits recorded as the operator's.
    func openEditor() throws -> any ReturnEditing {
        try openStore().operated(by: operatorID)
    }

    /// The database path: `--db`, else `$KIOSK_DB`, else `./kiosk.sqlite`.
    var path: String {
        if let db { return db }
        if let fromEnvironment = ProcessInfo.processInfo.environment["KIOSK_DB"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "./kiosk.sqlite"
    }

    /// Opens the existing kiosk database, with an error that says how to create one.
    func openStore() throws -> ReplicaStore {
        do {
            return try ReplicaStore.open(at: path, configuration: ReplicaStore.Configuration().announcingMigrations())
        } catch let error as ReplicaStoreError where error.code == .databaseMissing {
            throw CLIError(
                message: "no kiosk database at \(path): run 'kiosk init --store STORE --kiosk KIOSK' first, "
                    + "or pass --db PATH"
            )
        }
    }
}

/// `--json`.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}

/// Parses a quantity given as text, so a bad one gets the same one-line error as every other value.
func parseQuantity(_ text: String) throws -> Int {
    guard let quantity = Int(text), (1...ProductReturn.maximumQuantity).contains(quantity) else {
        throw ReturnsModelError(
            code: .invalidQuantity,
            message: "invalid quantity '\(text)': expected a whole number from 1 to \(ProductReturn.maximumQuantity)"
        )
    }
    return quantity
}
