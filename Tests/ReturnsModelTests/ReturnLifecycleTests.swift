import Foundation
import ReturnsModel
import Testing

private let now = Date(timeIntervalSince1970: 1_780_000_000)

private func makeReturn(reason: ReturnReason = .defective, quantity: Int = 1) throws -> ProductReturn {
    try ProductReturn(
        id: ReturnID.make(at: now),
        storeID: StoreID("store-12"),
        kioskID: KioskID("kiosk-a"),
        orderID: OrderID("ORD-1"),
        gtin: GTIN("4006381333931"),
        quantity: quantity,
        reason: reason,
        createdAt: now
    )
}

private func inspected(
    _ condition: ItemCondition,
    test: TestResult = .notTested,
    reason: ReturnReason = .defective
) throws -> ProductReturn {
    var item = try makeReturn(reason: reason)
    try item.inspect(condition: condition, testResult: test, by: "k", at: now)
    return item
}

private func expectCode(
    _ code: ReturnsModelError.Code,
    mentioning text: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    #expect(sourceLocation: sourceLocation) {
        try body()
    } throws: { error in
        guard let error = error as? ReturnsModelError else { return false }
        return error.code == code && error.message.contains(text)
    }
}

@Suite struct ReturnLifecycleTests {
    @Test func aReturnMovesThroughItsLifecycle() throws {
        var item = try makeReturn()
        #expect(item.status == .received)
        #expect(item.condition == .unknown && item.testResult == .notTested && item.disposition == .undecided)

        let inspection = try item.inspect(condition: .used, testResult: .pass, note: "works", by: "k", at: now + 1)
        #expect(
            inspection == ReturnUpdate(status: .inspected, condition: .used, testResult: .pass, addedNotes: ["works"])
        )
        #expect(item.status == .inspected)
        #expect(item.notes.map(\.text) == ["works"])
        #expect(item.updatedAt == now + 1)

        let routing = try item.assignDisposition(.restock, by: "k", at: now + 2)
        #expect(routing == ReturnUpdate(status: .dispositioned, disposition: .restock))
        #expect(item.status == .dispositioned)

        try item.close(at: now + 3)
        #expect(item.status == .closed)
        #expect(!item.needsReview)
    }

    @Test func quantityMustBePositiveAndBounded() throws {
        for quantity in [0, -1, ProductReturn.maximumQuantity + 1] {
            expectCode(.invalidQuantity, mentioning: "quantity \(quantity)") { _ = try makeReturn(quantity: quantity) }
        }
        #expect(try makeReturn(quantity: ProductReturn.maximumQuantity).quantity == ProductReturn.maximumQuantity)
    }

    @Test func closedAndVoidedReturnsCannotBeEditedButTakeNotes() throws {
        var closed = try inspected(.unopened)
        try closed.assignDisposition(.restock, by: "k", at: now)
        try closed.close(at: now)
        expectCode(.returnClosed, mentioning: "closed") { try closed.inspect(condition: .used, by: "k", at: now) }
        expectCode(.returnClosed, mentioning: "closed") { try closed.assignDisposition(.repair, by: "k", at: now) }
        expectCode(.returnClosed, mentioning: "closed") { try closed.void(note: "oops", by: "k", at: now) }
        expectCode(.returnClosed, mentioning: "closed") { try closed.close(at: now) }
        try closed.addNote("customer called back", by: "k", at: now)
        #expect(closed.notes.map(\.text) == ["customer called back"])

        var voided = try makeReturn()
        try voided.void(note: "captured twice", by: "k", at: now)
        #expect(voided.status == .voided)
        expectCode(.returnVoided, mentioning: "voided") { try voided.inspect(condition: .used, by: "k", at: now) }
        expectCode(.returnVoided, mentioning: "voided") { try voided.void(note: "again", by: "k", at: now) }
        expectCode(.returnVoided, mentioning: "voided") { try voided.close(at: now) }
    }

    @Test func orderOfTheLifecycleIsEnforced() throws {
        var item = try makeReturn()
        expectCode(.invalidTransition, mentioning: "inspect it before") {
            try item.assignDisposition(.repair, by: "k", at: now)
        }
        expectCode(.invalidTransition, mentioning: "only a dispositioned return can be closed") {
            try item.close(at: now)
        }
        expectCode(.invalidValue, mentioning: "condition 'unknown'") {
            try item.inspect(condition: .unknown, by: "k", at: now)
        }
        try item.inspect(condition: .used, by: "k", at: now)
        expectCode(.invalidValue, mentioning: "disposition 'undecided'") {
            try item.assignDisposition(.undecided, by: "k", at: now)
        }
        expectCode(.invalidNote, mentioning: "blank") { try item.void(note: "  ", by: "k", at: now) }
        #expect(item.status == .inspected)
    }

    @Test(arguments: [Disposition.restock, .repackage, .repair, .returnToVendor])
    func aHazardousItemCanOnlyBeQuarantinedRecycledOrDisposed(disposition: Disposition) throws {
        var item = try inspected(.hazardous)
        expectCode(.dispositionNotAllowed, mentioning: "hazardous") {
            try item.assignDisposition(disposition, by: "k", at: now)
        }
        #expect(item.status == .inspected && item.disposition == .undecided)
    }

    @Test(arguments: [Disposition.quarantine, .recycle, .dispose])
    func aHazardousItemCanBeMadeSafe(disposition: Disposition) throws {
        var item = try inspected(.hazardous)
        try item.assignDisposition(disposition, by: "k", at: now)
        #expect(item.disposition == disposition)
    }

    @Test(arguments: [
        (ItemCondition.damaged, TestResult.notTested, ReturnReason.damaged, "damaged"),
        (.defective, .notTested, .defective, "defective"),
        (.used, .fail, .defective, "failed its test"),
        (.unopened, .notTested, .recall, "recalled"),
    ])
    func restockNeedsASoundItem(condition: ItemCondition, test: TestResult, reason: ReturnReason, why: String) throws {
        var item = try inspected(condition, test: test, reason: reason)
        expectCode(.dispositionNotAllowed, mentioning: why) { try item.assignDisposition(.restock, by: "k", at: now) }
    }

    @Test func repackageIsAllowedForDamagedPackagingButNotForDefects() throws {
        var damaged = try inspected(.damaged, reason: .damaged)
        try damaged.assignDisposition(.repackage, by: "k", at: now)
        var defective = try inspected(.defective)
        expectCode(.dispositionNotAllowed, mentioning: "defective") {
            try defective.assignDisposition(.repackage, by: "k", at: now)
        }
    }

    @Test func reinspectionCannotInvalidateTheChosenDisposition() throws {
        var item = try inspected(.unopened)
        try item.assignDisposition(.restock, by: "k", at: now)
        expectCode(.dispositionNotAllowed, mentioning: "change the disposition") {
            try item.inspect(condition: .damaged, by: "k", at: now)
        }
        #expect(item.condition == .unopened)
        // Re-routing first, then re-inspecting, is fine; the status stays dispositioned.
        try item.assignDisposition(.returnToVendor, by: "k", at: now)
        let update = try item.inspect(condition: .damaged, by: "k", at: now)
        #expect(update.status == nil)
        #expect(item.status == .dispositioned && item.condition == .damaged)
    }

    @Test func violationsDescribeStatesOnlyAMergeCanProduce() throws {
        let merged = try ProductReturn(
            id: ReturnID.make(at: now),
            storeID: StoreID("s"),
            kioskID: KioskID("k"),
            orderID: OrderID("o"),
            gtin: GTIN("96385074"),
            reason: .damaged,
            status: .dispositioned,
            condition: .hazardous,
            disposition: .restock,
            createdAt: now
        )
        #expect(merged.needsReview)
        #expect(ReturnRules.violations(of: merged).contains { $0.contains("hazardous") })

        let voided = try ProductReturn(
            id: merged.id,
            storeID: merged.storeID,
            kioskID: merged.kioskID,
            orderID: merged.orderID,
            gtin: merged.gtin,
            reason: .damaged,
            status: .voided,
            condition: .hazardous,
            disposition: .restock,
            createdAt: now
        )
        #expect(!voided.needsReview)
    }
}
