import Foundation
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@Suite struct ReturnDocumentTests {
    private func sampleRecord() throws -> VersionedRecord {
        let created = Date(millisecondsSince1970: 1_780_000_000_123)
        let item = try ProductReturn(
            id: ReturnID.make(at: created),
            storeID: StoreID("s1"),
            kioskID: KioskID("k1"),
            orderID: OrderID("O/1"),
            gtin: GTIN("96385074"),
            lot: ItemCode("L1", kind: "lot"),
            reason: .wrongItem,
            createdAt: created
        )
        var record = try ReturnEntity.makeRecord(
            for: item,
            by: ReplicaID("s1/k1"),
            stamp: HLCTimestamp(physical: 1_780_000_000_123)
        )
        try record.updateReturn(by: ReplicaID("hq"), stamp: HLCTimestamp(physical: 1_780_000_001_000)) {
            item,
            author,
            date in
            try item.addNote("a \"quoted\"\nnote", by: author, at: date)
        }
        return record
    }

    @Test func theFastPathAndCodableProduceTheSameDocument() throws {
        let document = try ReturnDocument(record: sampleRecord(), includeRecord: true)
        let fast = document.jsonValue.serializedString
        let codable = String(decoding: try ReturnDocument.makeEncoder().encode(document), as: UTF8.self)
        #expect(fast == codable)
        #expect(try ReturnDocument(jsonValue: JSONValue.parse(fast)) == document)
        #expect(try ReturnDocument.makeDecoder().decode(ReturnDocument.self, from: Data(fast.utf8)) == document)
        #expect(fast.contains(#""createdAt":"2026-05-28T20:26:40.123Z""#))
        #expect(fast.contains(#""serial":null"#))
    }

    @Test(arguments: [
        "2026-11-29T17:09:17.123Z", "1970-01-01T00:00:00.000Z", "2000-02-29T23:59:59.999Z", "2100-12-31T00:00:00.001Z",
    ])
    func canonicalTimesRoundTripExactly(text: String) throws {
        let date = try #require(ISO8601Milliseconds.parse(text))
        #expect(ISO8601Milliseconds.format(date) == text)
    }

    @Test func otherISO8601FormsAreAcceptedAndImpossibleDatesAreNot() {
        #expect(
            ISO8601Milliseconds.parse("2026-11-29T17:09:17Z") == ISO8601Milliseconds.parse("2026-11-29T17:09:17.000Z")
        )
        #expect(
            ISO8601Milliseconds.parse("2026-11-29T18:09:17.500+01:00")
                == ISO8601Milliseconds.parse("2026-11-29T17:09:17.500Z")
        )
        #expect(ISO8601Milliseconds.parse("2026-02-30T00:00:00.000Z") == nil)
        #expect(ISO8601Milliseconds.parse("yesterday") == nil)
    }
}
