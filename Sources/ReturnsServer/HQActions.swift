import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync

extension ReturnAdministration {
    /// Records HQ's decision on each return's exceptions, once every return is known to wait for one: what
    /// `returns-server review approve|reject` and the console's review queue both do.
    ///
    /// Every id is checked first — a return not waiting for a review, or a rejection without a note, refuses the
    /// whole batch and decides nothing. Each decision is then its own HQ edit, recorded as `operatorID`'s.
    public func decideReviews(
        _ ids: [ReturnID],
        outcome: ReviewDecision.Outcome,
        note: String?,
        operatorID: OperatorID? = nil
    ) async throws -> [ProductReturn] {
        // A dry run of each decision on the return as stored: the same checks and messages the edits make.
        for id in ids {
            var item = try ProductReturn(record: try await returnRecord(id))
            try item.decideReview(outcome, note: note, at: Date())
        }
        var decided: [ProductReturn] = []
        for id in ids {
            decided.append(
                try await editReturn(id, operation: "review", operatorID: operatorID) { item, _, date in
                    try item.decideReview(outcome, note: note, at: date)
                }
            )
        }
        return decided
    }
}

/// HQ's recall actions, the same from the command line (`returns-server recall add|close`) and the console.
public enum RecallActions {
    /// What starting a campaign found among the returns HQ already holds.
    public struct Started: Sendable {
        public var campaign: RecallCampaign
        /// Returns the campaign covers, now flagged with it.
        public var flagged: Int
        /// Of those, units that had already left quarantine's reach (restocked, repackaged, repaired).
        public var alerts: Int
    }

    /// Starts `campaign` as an HQ edit recorded as `operatorID`'s: every kiosk receives it with its next sync.
    ///
    /// - Throws: when a campaign with its id exists.
    public static func start(
        _ campaign: RecallCampaign,
        in storage: some ReturnAdministration & ReferenceAdministration,
        operatorID: OperatorID?
    ) async throws -> Started {
        try await storage.write(GlobalEdit.createRecall(campaign).operated(by: operatorID))
        let flagged = try await storage.findReturns(ReturnSearch(recallCampaign: campaign.id), records: false)
        let alerts = try await storage.findReturns(
            ReturnSearch(recallCampaign: campaign.id, recallAlerts: true),
            records: false
        )
        return Started(campaign: campaign, flagged: flagged.returns.count, alerts: alerts.returns.count)
    }

    /// Closes campaign `id` as an HQ edit recorded as `operatorID`'s; the closed campaign.
    public static func close(
        _ id: String,
        in storage: some ReferenceAdministration,
        operatorID: OperatorID?
    ) async throws -> RecallCampaign {
        try RecallCampaign(record: await storage.write(GlobalEdit.closeRecall(id).operated(by: operatorID)))
    }
}

extension ReferenceAdministration {
    /// Imports the order lines of an orders CSV (``OrderCSV``), all or nothing, as `returns-server orders import`
    /// and the console's upload do: a `sold_at` that is a bare day is that day's start in the store's time zone.
    ///
    /// - Throws: ``OrderCSV/ParseError`` naming the first bad line, before anything is stored.
    /// - Returns: how many lines the file held, and what the import did.
    public func importOrders(
        csv text: String,
        defaultCurrency: Currency?
    ) async throws -> (lines: Int, outcome: OrderImportOutcome) {
        let lines = try OrderCSV.parse(text, defaultCurrency: defaultCurrency)
        let zones = try await storeTimeZones()
        let zoned =
            zones.zones.isEmpty ? lines : try OrderCSV.parse(text, defaultCurrency: defaultCurrency, timeZones: zones)
        return (lines.count, try await importOrders(zoned))
    }
}
