import Foundation
import ReplicaStore
import ReturnsModel

/// The JSON form of a recall campaign in `recalls --json` and `recall list --json`.
public struct RecallDocument: Encodable {
    public var id: String
    public var gtins: [String]
    public var lots: [String]
    public var serials: [String]
    public var hazard: String
    public var instructions: String
    public var unitsAffected: Int
    public var status: String
    public var createdAt: Date

    public init(_ campaign: RecallCampaign) {
        id = campaign.id
        gtins = campaign.gtins.map(\.digits)
        lots = campaign.lots.map(\.rawValue)
        serials = campaign.serials.map(\.rawValue)
        hazard = campaign.hazard
        instructions = campaign.instructions
        unitsAffected = campaign.unitsAffected
        status = campaign.status.rawValue
        createdAt = campaign.createdAt
    }
}

extension Format {
    /// Recall campaigns as a table.
    public static func recallsTable(_ campaigns: [RecallCampaign]) -> String {
        let rows = campaigns.map { campaign in
            [
                campaign.id, campaign.status.rawValue, campaign.gtins.map(\.digits).joined(separator: " "),
                campaign.lots.isEmpty ? "all" : campaign.lots.map(\.rawValue).joined(separator: " "),
                campaign.serials.isEmpty ? "all" : campaign.serials.map(\.rawValue).joined(separator: " "),
                String(campaign.unitsAffected), campaign.hazard,
            ]
        }
        let header = ["RECALL", "STATUS", "GTINS", "LOTS", "SERIALS", "UNITS", "HAZARD"]
        return table(header, rows) + "\n\(campaigns.count) recall\(campaigns.count == 1 ? "" : "s")"
    }
}

extension Format {
    /// Each campaign with what to do, and the units of it this replica holds — `found` is every flagged return here,
    /// with short ids — each recall alert marked: for `kiosk recalls`, where staff read what to do with a unit.
    public static func recallInstructions(_ campaigns: [RecallCampaign], found: ReturnSearchResult) -> String {
        let byCampaign = Dictionary(grouping: found.returns) { $0.row.recallCampaign ?? "" }
        return campaigns.map { campaign in
            let units = byCampaign[campaign.id] ?? []
            var lines = [
                "\(campaign.id) (\(campaign.status.rawValue)): \(campaign.hazard)",
                "  what to do: \(campaign.instructions)",
                "  returns here under it: \(units.count)",
            ]
            lines += units.map { found in
                let row = found.row
                let alert = recallAlert(row).map { "  ALERT: \($0)" } ?? ""
                return "    \(found.shortID)  \(row.recallMatch ?? "")  \(row.status)  \(row.disposition)\(alert)"
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    /// Recall alerts as a table, with the count and what to do.
    public static func recallAlertsTable(_ result: ReturnSearchResult) -> String {
        let rows = result.returns.map { found in
            let row = found.row
            return [
                found.shortID, row.storeId, row.recallCampaign ?? "", row.recallMatch ?? "", row.gtin,
                row.serial ?? "-", row.lot ?? "-", row.status, row.disposition,
            ]
        }
        let count = result.returns.count
        return table(["ID", "STORE", "RECALL", "MATCH", "GTIN", "SERIAL", "LOT", "STATUS", "DISPOSITION"], rows)
            + "\n\(count) recall alert\(count == 1 ? "" : "s")"
            + (count == 0 ? "" : ": recalled units that were restocked, repackaged or sent for repair; find each one")
    }

    /// Why a flagged return is a recall alert, or `nil` when it is not one.
    static func recallAlert(_ row: ReturnRow) -> String? {
        guard row.recallCampaign != nil, row.status != ReturnStatus.voided.rawValue,
            let disposition = Disposition(rawValue: row.disposition),
            ProductReturn.recallAlertDispositions.contains(disposition)
        else { return nil }
        return disposition == .repair
            ? "sent for repair: the unit may be back with the customer"
            : "\(disposition.rawValue)ed: the unit may be back on sale"
    }
}
