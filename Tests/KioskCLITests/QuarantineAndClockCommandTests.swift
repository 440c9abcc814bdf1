import Foundation
import ReplicaStore
import ReturnsModel
import Testing

/// `kiosk quarantine` and `kiosk clock`, as an operator types them.
@Suite struct QuarantineAndClockCommandTests {
    @Test func aRecordSetAsideIsListedCountedAndDropped() async throws {
        let kiosk = try KioskHarness()
        #expect(await kiosk.run("init", "--store", "store-12", "--kiosk", "kiosk-a").status == 0)
        let id = await kiosk.run("record", "--order", "ORD-1", "--gtin", "4006381333931", "--reason", "damaged").output
        // What a sync does when the server refuses the record for what it is.
        try ReplicaStore.open(at: kiosk.db).quarantine(
            recordID: id,
            code: "forged-clock",
            message: "return \(id) claims write store-12/ghost:1, which kiosk store-12/kiosk-a cannot hold"
        )

        let status = await kiosk.run("status")
        #expect(status.output.contains("quarantined  1 refused by the server, not synced (kiosk quarantine list)"))
        #expect(status.output.contains("unsynced     0"))
        let statusJSON = await kiosk.run("status", "--json")
        #expect(statusJSON.output.contains("\"quarantined\" : 1"))

        let list = await kiosk.run("quarantine", "list")
        #expect(list.status == 0)
        #expect(list.output.contains(id) && list.output.contains("forged-clock"))
        #expect(list.output.hasSuffix("1 record set aside"))
        #expect(await kiosk.run("quarantine").output == list.output, "list is the default")
        let json = await kiosk.run("quarantine", "list", "--json")
        #expect(json.output.contains("\"recordId\" : \"\(id)\"") && json.output.contains("\"code\" : \"forged-clock\""))

        let dropped = await kiosk.run("quarantine", "drop", id)
        #expect(dropped.status == 0 && dropped.output == "dropped \(id)")
        #expect(await kiosk.run("quarantine", "list").output.hasSuffix("0 records set aside"))
        #expect(await kiosk.run("show", id).status != 0)
        let again = await kiosk.run("quarantine", "drop", id)
        #expect(again.status != 0 && again.stderr.contains("'\(id)' is not set aside"))
    }

    @Test func clockShowsHowFarAheadItIsAndRepairSetsItBack() async throws {
        let kiosk = try KioskHarness()
        #expect(await kiosk.run("init", "--store", "store-12", "--kiosk", "kiosk-a").status == 0)
        // A kiosk whose wall clock was a year ahead when it captured: its clock stays there.
        let ahead = try ReplicaStore.open(
            at: kiosk.db,
            configuration: .init(now: { Date().addingTimeInterval(400 * 86_400) })
        )
        _ = try ahead.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        let show = await kiosk.run("clock")
        #expect(show.status == 0)
        #expect(show.output.contains("days ahead of the wall clock"), "\(show.output)")
        #expect(show.output.contains("run `clock repair`"))
        let repair = await kiosk.run("clock", "repair")
        #expect(repair.status == 0 && repair.output.hasPrefix("clock        "))
        let after = await kiosk.run("clock", "show")
        #expect(!after.output.contains("days ahead"))
    }
}
