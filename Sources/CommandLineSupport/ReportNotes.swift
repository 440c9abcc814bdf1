import ReplicaStore
import ReturnSyncJSON

/// The reports both HQ's command line and its console offer, and the notes that tell a person what their less
/// obvious columns count.
public enum ReportNotes {
    /// Every report by name (``ReplicaStore/reportKinds``).
    public static var kinds: [String] { ReplicaStore.reportKinds }

    /// The note under report `by` (with `money`, the money report's), lines broken for a terminal.
    public static func note(by: String, money: Bool) -> String? { money ? moneyFootnote : footnotes[by] }

    public static let moneyFootnote =
        "Amounts in each currency's decimals. VALUERETURNED is the order line's unit price × quantity (UNPRICED returns "
        + "have no priced\norder line); REFUNDED and FEESKEPT are what refunds paid back and kept; VALUERECOVERED is "
        + "what restocked and repackaged units are worth\nplus the credits vendors gave. Voided and rejected returns are "
        + "in no figure."

    public static let footnotes = [
        "ageing":
            "Whole days since the unit was shipped to the vendor (else captured) or sent for repair. A vendor claim is "
            + "open until its credit\nis recorded ('returns credit'); a repair until it is repaired or beyond repair.",
        "store":
            "Voided and rejected returns are counted apart, in no total. RETURNEDUNITS count at the store that sold the "
            + "unit\n(the store of the order line with the return's order and GTIN), else at the store that took it back.",
        "gtin": "Voided and rejected returns are counted apart, in no total.",
        "reason": "Voided and rejected returns are counted apart, in no total.",
        "status": "Voided and rejected returns are counted apart, in no total.",
        "disposition": "Voided and rejected returns are counted apart, in no total.",
        "recall": "UNITSRETURNED counts certain matches; uncertain ones are still being inspected.",
    ]

    /// A report as `report --format` prints it: `json`, `csv` (text that looks like a formula neutralised), or a
    /// table.
    public static func render(_ report: ReplicaStore.Report, as format: String) -> String {
        func text(_ value: ReplicaStore.ReportValue) -> String {
            switch value {
            case .text(let text): return text
            case .number(let number): return String(number)
            case .decimal(let number): return String(number)
            case .none: return ""
            }
        }
        switch format {
        case "json":
            let objects: [JSONValue] = report.rows.map { row in
                .object(
                    Dictionary(
                        uniqueKeysWithValues: zip(report.columns, row).map { column, value in
                            switch value {
                            case .text(let text): return (column, JSONValue.string(text))
                            case .number(let number): return (column, .integer(number))
                            case .decimal(let number): return (column, .double(number))
                            case .none: return (column, .null)
                            }
                        }
                    )
                )
            }
            return JSONValue.array(objects).serializedString
        case "csv":
            return
                ([report.columns.joined(separator: ",")]
                + report.rows.map { row in
                    row.map { value in
                        if case .text(let text) = value { return Format.csvField(text, neutralisingFormulas: true) }
                        return Format.csvField(text(value))
                    }.joined(separator: ",")
                }).joined(separator: "\n")
        default:
            return Format.table(report.columns.map { $0.uppercased() }, report.rows.map { $0.map(text) })
        }
    }
}
