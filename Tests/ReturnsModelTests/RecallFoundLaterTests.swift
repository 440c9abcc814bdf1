import Foundation
import ReturnsModel
import Testing

/// A campaign that reaches a replica after a unit's capture flags it as a capture would have — or, once the item
/// has left, says where it went.
@Suite struct RecallFoundLaterTests {
    static let start = Date(millisecondsSince1970: 1_790_000_000_000)
    static let campaign = try! RecallCampaign(
        id: "RC-9",
        gtins: [GTIN("4006381333931")],
        lots: [ItemCode("L1", kind: "lot")],
        hazard: "battery may overheat",
        instructions: "quarantine, do not charge",
        unitsAffected: 50,
        createdAt: start
    )

    /// A return of the recalled GTIN with `lot`, taken through `steps`.
    static func item(
        lot: String?,
        reason: ReturnReason = .noLongerNeeded,
        _ steps: (inout ProductReturn) throws -> Void = { _ in }
    ) throws -> ProductReturn {
        var item = try ProductReturn(
            id: ReturnID.make(at: start),
            storeID: StoreID("store-1"),
            kioskID: KioskID("k1"),
            orderID: OrderID("O-1"),
            gtin: GTIN("4006381333931"),
            lot: lot.map { try ItemCode($0, kind: "lot") },
            reason: reason,
            createdAt: start
        )
        try steps(&item)
        return item
    }

    static func routed(_ disposition: Disposition, close: Bool = false) -> (inout ProductReturn) throws -> Void {
        { item in
            try item.inspect(condition: .likeNew, testResult: .pass, by: "k1", at: start)
            try item.assignDisposition(disposition, by: "k1", at: start)
            if close { try item.close(at: start) }
        }
    }

    @Test func aCertainMatchStillOpenIsQuarantinedAsAtCapture() throws {
        var received = try Self.item(lot: "L1")
        let update = try #require(try received.flagRecall(Self.campaign, by: "hq", at: Self.start))
        #expect(update.recall == RecallFlag(campaign: "RC-9", match: .certain))
        #expect(received.disposition == .quarantine && received.status == .received)
        #expect(received.reason == .noLongerNeeded, "the customer's reason is kept")
        #expect(received.notes.map(\.text) == ["Recall RC-9 (certain match) found after capture; quarantined."])
        #expect(!received.needsReview)

        var routed = try Self.item(lot: "L1", Self.routed(.returnToVendor))
        _ = try routed.flagRecall(Self.campaign, by: "hq", at: Self.start)
        #expect(routed.disposition == .quarantine && routed.status == .dispositioned)
        #expect(routed.notes.last?.text.hasSuffix("quarantined (it was routed to return-to-vendor).") == true)
    }

    @Test func anUncertainMatchIsHeldAndQuarantinedOnlyWhereARecalledUnitMayNotGo() throws {
        var undecided = try Self.item(lot: nil)
        _ = try undecided.flagRecall(Self.campaign, by: "k1", at: Self.start)
        #expect(undecided.recallMatch == .uncertain && undecided.disposition == .undecided)
        #expect(undecided.notes.last?.text.contains("held for inspection") == true)
        #expect(throws: ReturnsModelError.self) {
            var copy = undecided
            try copy.inspect(condition: .likeNew, by: "k1", at: Self.start)
            try copy.assignDisposition(.restock, by: "k1", at: Self.start)
        }

        var restocking = try Self.item(lot: nil, Self.routed(.restock))
        _ = try restocking.flagRecall(Self.campaign, by: "k1", at: Self.start)
        #expect(restocking.disposition == .quarantine && restocking.status == .dispositioned)
        #expect(!restocking.isRecallAlert && !restocking.needsReview)
    }

    @Test func aClosedReturnIsFlaggedSaysWhereTheUnitWentAndARestockedOneIsAnAlert() throws {
        var restocked = try Self.item(lot: "L1", Self.routed(.restock, close: true))
        _ = try restocked.flagRecall(Self.campaign, by: "hq", at: Self.start)
        #expect(restocked.status == .closed && restocked.disposition == .restock)
        #expect(restocked.recallCampaign == "RC-9" && restocked.isRecallAlert)
        #expect(!restocked.needsReview, "not a broken rule: no edit of a closed return can fix it")
        #expect(
            restocked.notes.last?.text
                == "Recall RC-9 (certain match) found after capture; the return was closed: the unit was restocked: "
                + "it is back on sale."
        )

        var toVendor = try Self.item(lot: "L1", Self.routed(.returnToVendor, close: true))
        _ = try toVendor.flagRecall(Self.campaign, by: "hq", at: Self.start)
        #expect(!toVendor.isRecallAlert && toVendor.notes.last?.text.contains("went back to the vendor") == true)
    }

    @Test func nothingIsWrittenForAnotherLotAVoidedReturnAClosedCampaignOrAFlaggedReturn() throws {
        var otherLot = try Self.item(lot: "L2")
        #expect(try otherLot.flagRecall(Self.campaign, by: "hq", at: Self.start) == nil)
        var voided = try Self.item(lot: "L1") { try $0.void(note: "scanned twice", by: "k1", at: Self.start) }
        #expect(try voided.flagRecall(Self.campaign, by: "hq", at: Self.start) == nil)
        let closedCampaign = try RecallCampaign(
            id: "RC-9",
            gtins: [GTIN("4006381333931")],
            hazard: "battery may overheat",
            instructions: "quarantine",
            unitsAffected: 50,
            status: .closed,
            createdAt: Self.start
        )
        var unit = try Self.item(lot: "L1")
        #expect(try unit.flagRecall(closedCampaign, by: "hq", at: Self.start) == nil)
        _ = try unit.flagRecall(Self.campaign, by: "hq", at: Self.start)
        let once = unit
        #expect(try unit.flagRecall(Self.campaign, by: "k1", at: Self.start) == nil)
        #expect(unit == once)
    }
}
