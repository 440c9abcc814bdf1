import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServerCLI
import ReturnsSync
import SyncEngine
import Testing

/// Every number HQ reads means what its label says, and the text, JSON and HTML views of one database agree.
@Suite struct ReportNumbersTests {
    static let noon = ISO8601DateFormatter().date(from: "2026-11-03T12:00:00Z")!

    /// HQ and the kiosks of a day, every clock at noon on 2026-11-03 unless told otherwise.
    struct Day {
        let directory: TemporaryDirectory
        let server: ReplicaStore
        let clock: @Sendable () -> Date
        var kiosks: [String: ReplicaStore] = [:]

        /// - Parameter clock: every replica's clock; the wall clock for a day whose stores the command line (which
        ///   always writes at the wall clock's time) edits too.
        init(clock: @escaping @Sendable () -> Date = { ReportNumbersTests.noon }) throws {
            self.clock = clock
            directory = try TemporaryDirectory()
            server = try ReplicaStore.create(
                at: directory.file("hq.sqlite"),
                identity: .server(replicaID: ReplicaID("hq")),
                configuration: ReplicaStore.Configuration(now: clock)
            )
        }

        mutating func kiosk(_ store: String) throws -> ReplicaStore {
            if let kiosk = kiosks[store] { return kiosk }
            let kiosk = try ReplicaStore.create(
                at: directory.file("\(store).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID("k")),
                configuration: ReplicaStore.Configuration(now: clock)
            )
            // The kiosk knows HQ's recall campaigns, as after a sync.
            for campaign in try server.recalls() {
                try kiosk.merge(#require(try server.record(entityType: RecallEntity.entityType, id: campaign.id)))
            }
            kiosks[store] = kiosk
            return kiosk
        }

        /// Captures a return at `store` and sends it to HQ.
        @discardableResult
        mutating func capture(
            at store: String,
            order: String = "ORD-9",
            gtin: String = "4006381333931",
            reason: ReturnReason = .defective,
            serial: String? = nil,
            quantity: Int = 1
        ) throws -> ReturnID {
            let kiosk = try kiosk(store)
            let item = try kiosk.recordReturn(
                ReturnCapture(
                    orderID: OrderID(order),
                    gtin: GTIN(gtin),
                    reason: reason,
                    serial: try serial.map { try ItemCode($0, kind: "serial") },
                    quantity: quantity
                )
            )
            try server.merge(kiosk.returnRecord(item.id))
            return item.id
        }

        /// HQ and `store`'s kiosk inspect a return alike, then route it differently at the same time: a disposition
        /// conflict, merged into HQ unless told not to.
        mutating func routeConcurrently(
            _ id: ReturnID,
            at store: String,
            condition: ItemCondition = .defective,
            hq: Disposition = .recycle,
            kiosk: Disposition = .repair,
            merge: Bool = true
        ) throws {
            let replica = try self.kiosk(store)
            for side in [server, replica] {
                try side.updateReturn(id, operation: "inspect") { item, author, date in
                    try item.inspect(condition: condition, testResult: .fail, by: author, at: date)
                }
            }
            for (side, disposition) in [(server, hq), (replica, kiosk)] {
                try side.updateReturn(id, operation: "disposition") { item, author, date in
                    try item.assignDisposition(disposition, by: author, at: date)
                }
            }
            if merge { try server.merge(replica.returnRecord(id)) }
        }

        /// HQ imports a sale of `quantity` units of the usual product at `store`, the day before.
        func sell(order: String, at store: String, quantity: Int) throws {
            _ = try server.importOrders([
                try OrderLine(
                    orderID: OrderID(order),
                    storeID: StoreID(store),
                    line: 1,
                    gtin: GTIN("4006381333931"),
                    quantity: quantity,
                    unitPriceCents: 1999,
                    soldAt: ReportNumbersTests.noon.addingTimeInterval(-86_400)
                )
            ])
        }

        func measures() throws -> [String: Int64] {
            Dictionary(
                uniqueKeysWithValues: try server.summaryReport().rows.map { row in
                    guard case .text(let name) = row[0], case .number(let value) = row[1] else {
                        Issue.record("not a measure: \(row)")
                        return ("?", -1)
                    }
                    return (name, value)
                }
            )
        }
    }

    static func recall(_ id: String, units: Int, gtin: String = "4006381333931") throws -> RecallCampaign {
        try RecallCampaign(
            id: id,
            gtins: [GTIN(gtin)],
            hazard: "battery may overheat",
            instructions: "quarantine",
            unitsAffected: units,
            createdAt: Date(millisecondsSince1970: 1_780_000_000_000)
        )
    }

    @Test func voidedAndRejectedReturnsAreTheirOwnFiguresInNoTotal() throws {
        var day = try Day()
        try day.server.createRecall(Self.recall("RC-1", units: 10))
        try day.server.createRecall(Self.recall("RC-2", units: 50))  // no returns yet
        let standing = try day.capture(at: "store-1", reason: .recall, quantity: 2)
        let voided = try day.capture(at: "store-1", reason: .recall, quantity: 3)
        // Another product, under no campaign.
        try day.capture(at: "store-1", gtin: "96385074", reason: .damaged, serial: "SN-1")
        let duplicate = try day.capture(at: "store-1", gtin: "96385074", reason: .damaged, serial: "SN-1", quantity: 4)
        #expect(try day.server.reviewQueue().map(\.id) == [duplicate.rawValue])
        try day.server.updateReturn(voided, operation: "void") { item, author, date in
            try item.void(note: "scanned twice", by: author, at: date)
        }
        try day.server.decideReview(duplicate, outcome: .rejected, note: "refunded already")

        let measures = try day.measures()
        #expect(measures["returns"] == 2 && measures["units"] == 3)
        #expect(measures["voided"] == 1 && measures["rejected"] == 1)
        #expect(measures["recallReturns"] == 1)
        #expect(measures["reviewQueue"] == 0 && measures["futureDated"] == 0)

        // The recall report agrees with the summary, and lists the campaign nobody returned yet at 0 %.
        let recall = try day.server.recallCompletionReport()
        let byCampaign = Dictionary(grouping: recall.rows) { recall.value("campaign", in: $0)! }
        #expect(recall.rows.compactMap { recall.value("returns", in: $0)?.integer }.reduce(0, +) == 1)
        #expect(byCampaign[.text("RC-1")]?.first.map { recall.value("unitsReturned", in: $0) } == .number(2))
        #expect(byCampaign[.text("RC-1")]?.first.map { recall.value("completion", in: $0) } == .decimal(0.2))
        let untouched = try #require(byCampaign[.text("RC-2")]?.first)
        #expect(recall.value("store", in: untouched) == ReplicaStore.ReportValue.none)
        #expect(recall.value("returns", in: untouched) == .number(0))
        #expect(recall.value("completion", in: untouched) == .decimal(0))

        // Grouped reports count the standing returns and carry the others in their own columns.
        let byReason = try day.server.groupedReport(by: .reason, withTotal: true)
        let rows = Dictionary(uniqueKeysWithValues: byReason.rows.map { (byReason.value("reason", in: $0)!, $0) })
        let total = try #require(rows[.text("total")])
        #expect(byReason.value("returns", in: total) == .number(2))
        #expect(byReason.value("units", in: total) == .number(3))
        #expect(byReason.value("voided", in: total) == .number(1))
        #expect(byReason.value("rejected", in: total) == .number(1))
        #expect(rows[.text("recall")].map { byReason.value("returns", in: $0) } == .number(1))
        let byStatus = try day.server.groupedReport(by: .status, withTotal: false)
        let voidedRow = try #require(byStatus.rows.first { byStatus.value("status", in: $0) == .text("voided") })
        #expect(byStatus.value("returns", in: voidedRow) == .number(0))
        #expect(byStatus.value("voided", in: voidedRow) == .number(1))

        // The dashboard's totals and mixes follow the same rule.
        let dashboard = try day.server.dashboard()
        #expect(dashboard.returns == 2 && dashboard.units == 3)
        #expect(dashboard.voided == 1 && dashboard.rejected == 1)
        #expect(dashboard.reasons.map { "\($0.key)=\($0.returns)" } == ["damaged=1", "recall=1"])
        #expect(dashboard.perDay.map(\.returns).reduce(0, +) == 2)
        #expect(try day.server.returnRows().contains { $0.id == standing.rawValue && $0.reason == "recall" })
    }

    @Test func aReturnCountsAgainstTheStoreThatSoldIt() async throws {
        var day = try Day()
        try day.sell(order: "ORD-1", at: "store-1", quantity: 4)
        // Sold at store-1, brought back to store-2; and a return at store-2 whose order HQ does not know.
        try day.capture(at: "store-2", order: "ORD-1")
        try day.capture(at: "store-2", order: "ORD-UNKNOWN", quantity: 2)

        let report = try day.server.groupedReport(by: .store, withTotal: true)
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { (report.value("store", in: $0)!, $0) })
        let seller = try #require(rows[.text("store-1")])
        #expect(report.value("returns", in: seller) == .number(0), "nothing was taken back at store-1")
        #expect(report.value("returnedUnits", in: seller) == .number(1))
        #expect(report.value("soldUnits", in: seller) == .number(4))
        #expect(report.value("returnRate", in: seller) == .decimal(0.25))
        let taker = try #require(rows[.text("store-2")])
        #expect(report.value("returns", in: taker) == .number(2))
        #expect(report.value("units", in: taker) == .number(3))
        #expect(report.value("returnedUnits", in: taker) == .number(2), "the unknown order stays with store-2")
        let total = try #require(rows[.text("total")])
        #expect(report.value("units", in: total) == report.value("returnedUnits", in: total))
        #expect(report.value("returnRate", in: total) == .decimal(0.25), "store-2's unknown sales stay out of it")

        // The table says so; JSON stays data.
        let db = day.server.path
        let table = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--by", "store", "--db", db])
        }
        #expect(table.stdout.contains("RETURNEDUNITS count at the store that sold the unit"))
        let json = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["report", "--by", "store", "--db", db, "--format", "json"])
        }
        #expect(json.status == 0 && !json.stdout.contains("sold the unit"))
    }

    @Test func aReturnDatedInTheFutureIsCountedAndFlaggedNotPlotted() throws {
        var day = try Day()
        try day.capture(at: "store-1")
        // A kiosk (a third-party one, or one whose clock jumped) writes a capture time a year ahead.
        let kiosk = try day.kiosk("store-1")
        let id = try day.capture(at: "store-1")
        var record = try kiosk.returnRecord(id)
        var edit = RecordEdit()
        edit.set(ReturnEntity.Field.createdAt, to: .integer(Self.noon.millisecondsSince1970 + 365 * 86_400_000))
        try record.apply(
            edit,
            by: ReplicaID("store-1/k"),
            stamp: HLCTimestamp(physical: UInt64(Self.noon.millisecondsSince1970) + 1, logical: 5)
        )
        try day.server.merge(record)

        let dashboard = try day.server.dashboard()
        #expect(dashboard.returns == 2)
        #expect(dashboard.futureDated == 1)
        #expect(dashboard.lastDay == "2026-11-03", "the window ends on the report's day, not the future date")
        #expect(dashboard.firstDay == "2026-10-05")
        #expect(dashboard.perDay.map { "\($0.day) \($0.returns)" } == ["2026-11-03 1"])
        #expect(try day.measures()["futureDated"] == 1)
    }

    @Test func totalsAreCountsWhileListsAreCappedAndSaySo() throws {
        var day = try Day()
        for _ in 0..<6 { try day.capture(at: "store-1", serial: "SN-7") }
        let dashboard = try day.server.dashboard(listLimit: 2)
        #expect(dashboard.reviewQueueCount == 5)
        #expect(dashboard.reviewQueue.count == 2)
    }
}
