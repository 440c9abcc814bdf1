import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

@testable import ReturnsServerCLI

/// A store's days are its own: HQ sets its time zone, every replica receives it, and searches by day, the per-day
/// chart and return windows use it — on every backend.
@Suite struct StoreTimeZoneSyncTests {
    /// 23:30 UTC on 3 December: already 4 December in Berlin.
    static let lateEvening = Date(millisecondsSince1970: 1_796_340_600_000)
    static let december3 = ReturnDates.dayNumber("2026-12-03")!
    static let december4 = ReturnDates.dayNumber("2026-12-04")!
    static let berlin = try! StoreTimeZone("Europe/Berlin")

    /// The same moment's return at a Berlin store and at one on UTC, each against an order sold 30 days before (in
    /// Berlin, late on 3 November).
    static func day(in directory: TemporaryDirectory) throws -> (berlin: VersionedRecord, london: VersionedRecord) {
        func capture(_ store: String) throws -> VersionedRecord {
            let kiosk = try ReplicaStore.create(
                at: directory.file("\(store).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID("k1")),
                configuration: ReplicaStore.Configuration(now: { lateEvening })
            )
            let item = try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("O-\(store)"), gtin: GTIN("4006381333931"), reason: .noLongerNeeded)
            )
            return try kiosk.returnRecord(item.id)
        }
        return (try capture("berlin"), try capture("london"))
    }

    static func orders() throws -> [OrderLine] {
        try ["berlin", "london"].map {
            try OrderLine(
                orderID: OrderID("O-\($0)"),
                storeID: StoreID($0),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 1,
                unitPriceCents: 999,
                // 2026-11-03T22:30:00Z: 23:30 in Berlin.
                soldAt: Date(millisecondsSince1970: 1_793_745_000_000)
            )
        }
    }

    @Test(arguments: StorageBackend.all)
    func daysAreEachStoresOwnAtHQ(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let (berlin, london) = try Self.day(in: directory)
        try await backend.with { instance in
            let hq = try #require(
                instance.storage as? any ReferenceAdministration & ReturnAdministration & ReportSource
            )
            _ = try await hq.importOrders(Self.orders())
            _ = try await hq.write(.setStore(StoreID("berlin"), timeZone: Self.berlin))
            let zones = try await hq.storeTimeZones()
            #expect(zones.zones == [try StoreID("berlin"): Self.berlin])
            // Every store's kiosks receive it, as they do policies.
            for store in ["berlin", "london"] {
                let feed = try await instance.storage.encodedFeed(
                    store: StoreID(store),
                    after: 0,
                    limit: 100,
                    requester: nil
                )
                #expect(
                    feed.records.contains { $0.contains("\"timeZone\"") && $0.contains("Europe/Berlin") },
                    "\(backend)"
                )
            }
            _ = try await instance.storage.acceptPush([berlin], from: ReplicaID("berlin/k1"), store: StoreID("berlin"))
            _ = try await instance.storage.acceptPush([london], from: ReplicaID("london/k1"), store: StoreID("london"))

            // The window's last day is the 30th after the sale's day, in the store's zone: 3 December in both, and
            // the Berlin return came on the 4th there.
            let verdicts = Dictionary(
                uniqueKeysWithValues: try await hq.returnRecords(store: nil).map {
                    ($0.id, try ProductReturn(record: $0).verification)
                }
            )
            #expect(verdicts == [berlin.id: .outsideWindow, london.id: .verified], "\(backend)")

            func found(_ search: ReturnSearch) async throws -> Set<String> {
                Set(try await hq.findReturns(search, records: false).returns.map(\.row.id))
            }
            #expect(try await found(ReturnSearch(sinceDay: Self.december4, timeZones: zones)) == [berlin.id])
            #expect(try await found(ReturnSearch(untilDay: Self.december3, timeZones: zones)) == [london.id])
            #expect(
                try await found(ReturnSearch(store: StoreID("berlin"), sinceDay: Self.december4, timeZones: zones))
                    == [berlin.id]
            )
            #expect(
                try await found(ReturnSearch(store: StoreID("london"), sinceDay: Self.december4, timeZones: zones))
                    == []
            )
            // Without the zones, both are UTC returns of the 3rd.
            #expect(try await found(ReturnSearch(sinceDay: Self.december4)) == [])

            let dashboard = try await hq.dashboard(days: 2, endingOn: Date(millisecondsSince1970: 1_796_342_400_000))
            #expect(
                dashboard.perDay.map { "\($0.day) \($0.store) \($0.returns)" }
                    == ["2026-12-03 london 1", "2026-12-04 berlin 1"],
                "\(backend)"
            )
            #expect(dashboard.firstDay == "2026-12-03" && dashboard.lastDay == "2026-12-04")
        }
    }

    @Test func aKioskReceivesItsStoresZoneAndSearchesItsDays() throws {
        let directory = try TemporaryDirectory()
        let hq = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq")),
            configuration: ReplicaStore.Configuration(now: { Self.lateEvening })
        )
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("berlin"), kiosk: KioskID("k1")),
            configuration: ReplicaStore.Configuration(now: { Self.lateEvening })
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        #expect(try kiosk.status().timeZone == .utc)
        // As a pull brings it.
        let zoneRecord = try hq.write(.setStore(StoreID("berlin"), timeZone: Self.berlin))
        try kiosk.merge(zoneRecord)
        let zones = try kiosk.storeTimeZones()
        #expect(try kiosk.status().timeZone == Self.berlin)
        let found = try kiosk.findReturns(ReturnSearch(sinceDay: Self.december4, timeZones: zones), records: false)
        #expect(found.returns.map(\.row.id) == [item.id.rawValue])
        // A zone this replica's database does not know counts as UTC rather than stopping the kiosk.
        var unknown = zoneRecord
        _ = try unknown.apply(
            RecordEdit(assignments: [StoreEntity.Field.timeZone: "Atlantis/Capital"]),
            by: ReplicaID("hq"),
            stamp: HLCTimestamp(physical: UInt64(Self.lateEvening.millisecondsSince1970) + 60_000, logical: 0)
        )
        try kiosk.merge(unknown)
        #expect(try kiosk.storeTimeZones()[StoreID("berlin")] == .utc)
    }

    @Test func theStoreCommandSetsAndListsZones() async throws {
        let directory = try TemporaryDirectory()
        let db = directory.file("server.sqlite")
        func hq(_ arguments: String...) async -> (status: Int32, stdout: String, stderr: String) {
            let run = await runCaptured { await ReturnsServerCLI.run(arguments: arguments + ["--db", db]) }
            return (run.status, run.stdout, run.stderr)
        }
        let set = await hq("store", "set", "berlin", "--time-zone", "Europe/Berlin")
        #expect(set.status == 0 && set.stdout == "store berlin set: time zone Europe/Berlin\n", "\(set.stderr)")
        let bad = await hq("store", "set", "berlin", "--time-zone", "Europe/Berlinn")
        #expect(bad.status == 1 && bad.stderr.contains("unknown time zone 'Europe/Berlinn'"), "\(bad.stderr)")
        let badStore = await hq("store", "set", "Berlin Mitte", "--time-zone", "UTC")
        #expect(badStore.status == 1 && badStore.stderr.contains("Berlin Mitte"), "\(badStore.stderr)")
        // A GLN, set on its own, leaves the zone as it was.
        let gln = await hq("store", "set", "berlin", "--gln", "4012345000009")
        #expect(gln.stdout == "store berlin set: GLN 4012345000009\n", "\(gln.stderr)")
        let badGLN = await hq("store", "set", "berlin", "--gln", "4012345000008")
        #expect(badGLN.status == 1 && badGLN.stderr.contains("invalid GLN '4012345000008'"), "\(badGLN.stderr)")
        let nothing = await hq("store", "set", "berlin")
        #expect(nothing.status == 1 && nothing.stderr.contains("nothing to set"), "\(nothing.stderr)")
        // The kiosks' retention (issue 22), alone; out of range, refused naming the value and the range.
        let retention = await hq("store", "set", "berlin", "--retention-days", "90")
        #expect(retention.stdout == "store berlin set: retention 90 days\n", "\(retention.stderr)")
        for days in ["6", "3651"] {
            let refused = await hq("store", "set", "berlin", "--retention-days", days)
            #expect(
                refused.status == 1 && refused.stderr.contains("invalid retention \(days) days: expected 7...3650"),
                "\(refused.stderr)"
            )
        }
        let listed = await hq("store", "list")
        #expect(
            listed.stdout.contains("berlin  Europe/Berlin  4012345000009  90 days")
                && listed.stdout.hasSuffix("every other store: UTC, no GLN, retention 180 days\n"),
            "\(listed.stdout)"
        )
        let json = await hq("store", "list", "--json")
        #expect(json.stdout.contains("\"timeZone\" : \"Europe/Berlin\""), "\(json.stdout)")
        #expect(json.stdout.contains("\"gln\" : \"4012345000009\""), "\(json.stdout)")
        #expect(json.stdout.contains("\"retentionDays\" : 90"), "\(json.stdout)")
    }
}
