import Foundation
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
