import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnLabel
import ReturnsModel

struct LabelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Write a printable return label (SVG): where the unit goes, and its id as a Code 128 barcode.",
        discussion: """
            The label shows the store, the return's short id, the product, reason and disposition, and the \
            destination in large type: restock shelf, repair, the vendor with its RMA, recycler, disposal — or the \
            quarantine cage, in red. The barcode holds the whole return id: scanning it gives an id every kiosk \
            command takes. 4x6 is a 6 × 4 in label (landscape); a6 is 148 × 105 mm.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Option(help: "The SVG file to write (replaced atomically).") var output: String
    @Option(help: "The label stock: 4x6 or a6.") var size = "4x6"

    func run() async throws {
        guard let stock = ReturnLabel.Size(rawValue: size) else {
            throw CLIError(message: "invalid --size '\(size)': expected 4x6 or a6")
        }
        guard output.lowercased().hasSuffix(".svg") else {
            throw CLIError(message: "invalid --output '\(output)': the label is SVG; name the file .svg")
        }
        let store = try database.openStore()
        let item = try ProductReturn(record: store.returnRecord(try await store.resolveReturnID(id)))
        let svg = try ReturnLabel(item, size: stock).svg()
        do {
            try Data(svg.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw CLIError(message: "cannot write the label to \(output): \(error.localizedDescription)")
        }
        Console.current.print("label for \(item.id) written to \(output)")
    }
}
