import Foundation
import ReturnsModel
import Testing

@Suite struct RepairAndHandoffTests {
    private let now = Date(millisecondsSince1970: 1_780_000_000_000)

    private func routed(_ disposition: Disposition, condition: ItemCondition = .defective) throws -> ProductReturn {
        var item = try ProductReturn(
            id: ReturnID.make(at: now),
            storeID: StoreID("s"),
            kioskID: KioskID("k"),
            orderID: OrderID("O"),
            gtin: GTIN("96385074"),
            reason: .defective,
            createdAt: now
        )
        try item.inspect(condition: condition, testResult: .fail, by: "k", at: now)
        try item.assignDisposition(disposition, by: "k", at: now)
        return item
    }

    @Test func aRepairRecordsItsProgressAndTurnaround() throws {
        var item = try routed(.repair)
        try item.recordRepair(RepairRecord(vendor: "Acme", status: .sent, sentOn: "2026-11-20"), at: now)
        #expect(item.repair?.turnaroundDays == nil)
        try item.recordRepair(
            RepairRecord(vendor: "Acme", status: .repaired, sentOn: "2026-11-20", backOn: "2026-12-04"),
            at: now
        )
        #expect(item.repair?.status == .repaired)
        #expect(item.repair?.turnaroundDays == 14)
    }

    @Test(arguments: [
        ("", RepairRecord.Status.sent, "2026-11-20", String?.none, "vendor"),
        ("Acme", .repaired, "2026-11-20", nil, "needs the day it came back"),
        ("Acme", .beyondRepair, "2026-11-20", "2026-11-19", "before it was sent"),
        ("Acme", .sent, "2026-02-30", nil, "no such day"),
    ])
    func repairRecordsAreValidated(
        vendor: String,
        status: RepairRecord.Status,
        sent: String,
        back: String?,
        why: String
    ) {
        #expect { try RepairRecord(vendor: vendor, status: status, sentOn: sent, backOn: back) } throws: {
            "\($0)".contains(why)
        }
    }

    @Test func onlyAReturnRoutedToRepairTakesARepair() throws {
        var item = try routed(.returnToVendor)
        #expect {
            try item.recordRepair(RepairRecord(vendor: "Acme", status: .sent, sentOn: "2026-11-20"), at: self.now)
        } throws: { "\($0)".contains("not repair") }
    }

    @Test(arguments: [Disposition.recycle, .dispose])
    func aRecycledOrDisposedReturnClosesOnlyWithItsHandoff(disposition: Disposition) throws {
        var item = try routed(disposition, condition: .damaged)
        #expect { try item.close(at: self.now) } throws: { "\($0)".contains("record the hand-off") }
        try item.recordHandoff(
            CustodyHandoff(party: "GreenCycle", document: "MAN-881", weightGrams: 2300, handedOverOn: "2026-11-29"),
            at: now
        )
        try item.close(at: now)
        #expect(item.status == .closed)
        #expect(item.handoff?.document == "MAN-881")
        #expect(!item.needsReview)
    }

    @Test func handoffsAreValidatedAndOnlyForRecycleOrDispose() throws {
        #expect { try CustodyHandoff(party: "G", document: "M", handedOverOn: "2026-11-29") } throws: {
            "\($0)".contains("weight or a count")
        }
        #expect { try CustodyHandoff(party: " ", document: "M", count: 1, handedOverOn: "2026-11-29") } throws: {
            "\($0)".contains("hand-off party")
        }
        #expect { try CustodyHandoff(party: "G", document: "M", count: 0, handedOverOn: "2026-11-29") } throws: {
            "\($0)".contains("count 0")
        }
        var item = try routed(.repair)
        let handoff = try CustodyHandoff(party: "G", document: "M", count: 1, handedOverOn: "2026-11-29")
        #expect { try item.recordHandoff(handoff, at: self.now) } throws: { "\($0)".contains("recycle or dispose") }
    }
}
