import Foundation
import PropertyBased
import ReturnsModel
import Testing

/// A store's days: where they begin in its zone, daylight-saving changes included.
@Suite struct StoreTimeZoneTests {
    static let day20261025 = ReturnDates.dayNumber("2026-10-25")!

    @Test func unknownZonesAreRefusedNamingThem() throws {
        for bad in ["Mars/Olympus", "", "utc ", "Europe/Berlin\u{0}", String(repeating: "A", count: 65)] {
            #expect {
                _ = try StoreTimeZone(bad)
            } throws: { error in
                "\(error)".contains("unknown time zone '\(bad)'")
            }
        }
        #expect(try StoreTimeZone("Europe/Berlin").identifier == "Europe/Berlin")
    }

    @Test func daysBeginAtLocalMidnight() throws {
        let berlin = try StoreTimeZone("Europe/Berlin")
        // 2026-10-25 is the day Berlin leaves summer time (25 hours long): it starts at 22:00 UTC the day before
        // (UTC+2) and the next starts at 23:00 UTC (UTC+1).
        let start = berlin.start(ofDay: Self.day20261025)
        #expect(start == 1_792_879_200_000)  // 2026-10-24T22:00:00Z
        let next = berlin.start(ofDay: Self.day20261025 + 1)
        #expect(next - start == 25 * 3_600_000)
        #expect(berlin.day(of: start) == Self.day20261025 && berlin.day(of: start - 1) == Self.day20261025 - 1)
        #expect(StoreTimeZone.utc.start(ofDay: Self.day20261025) == Int64(Self.day20261025) * 86_400_000)
    }

    @Test func aDayStartsWhereTheZoneSkipsMidnight() throws {
        // Havana moved its clocks from 00:00 to 01:00 on 2026-03-08: that day starts at 01:00 local.
        let havana = try StoreTimeZone("America/Havana")
        let day = ReturnDates.dayNumber("2026-03-08")!
        let start = havana.start(ofDay: day)
        #expect(havana.day(of: start) == day && havana.day(of: start - 1) == day - 1)
    }

    @Test func everyInstantLiesInTheDayThatStartsBeforeIt() async {
        let zones = [
            "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Kiritimati",
        ]
        .map { try! StoreTimeZone($0) }
        await propertyCheck(count: 400, input: Gen.int(in: 0..<zones.count), Gen.int(in: 0...4_000_000_000_000)) {
            index,
            milliseconds in
            let zone = zones[index]
            let day = zone.day(of: Int64(milliseconds))
            #expect(zone.start(ofDay: day) <= Int64(milliseconds), "\(zone) \(milliseconds)")
            #expect(zone.start(ofDay: day + 1) > Int64(milliseconds), "\(zone) \(milliseconds)")
        }
    }
}

/// A sale dated by day alone is that day's start at the store that sold it.
@Suite struct OrderDayTests {
    @Test func aBareSaleDayStartsAtTheStoresMidnight() throws {
        let csv = """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            O-1,nyc,1,4006381333931,,1,9.99,2026-11-20
            O-2,utc,1,4006381333931,,1,9.99,2026-11-20
            O-3,nyc,1,4006381333931,,1,9.99,2026-11-20T10:15:00Z

            """
        let zones = StoreTimeZones([try StoreID("nyc"): try StoreTimeZone("America/New_York")])
        let lines = try OrderCSV.parse(csv, timeZones: zones)
        // 2026-11-20T05:00:00Z (New York is UTC-5 in November), midnight UTC, and a time as given.
        #expect(lines.map(\.soldAt.millisecondsSince1970) == [1_795_150_800_000, 1_795_132_800_000, 1_795_169_700_000])
        #expect(try OrderCSV.parse(csv).map(\.soldAt.millisecondsSince1970)[0] == 1_795_132_800_000)
    }
}

/// A store's GS1 Global Location Number.
@Suite struct GLNTests {
    @Test func glnsAreThirteenDigitsWithTheirCheckDigit() throws {
        #expect(try GLN("4012345000009").digits == "4012345000009")
        for bad in ["4012345000008", "401234500000", "40123450000090", "401234500000x", "４012345000009"] {
            #expect {
                _ = try GLN(bad)
            } throws: { error in
                "\(error)".contains("invalid GLN '\(bad)'")
            }
        }
    }
}
