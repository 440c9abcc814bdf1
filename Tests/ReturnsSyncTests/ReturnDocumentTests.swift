import Foundation
import PropertyBased
import ReturnSyncJSON
import ReturnSyncTestSupport
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

    /// A line read from its bytes (``ReturnDocument/scanned(_:)``, the import's fast path) is the document the tree
    /// reads from it, or not read at all — so a line the tree refuses is refused with the tree's message — and
    /// every flat line of the usual shape is read that way, or the fast path would be no faster.
    @Test func aFlatLineReadFromItsBytesIsTheDocumentTheTreeReads() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...Int.max)) { seed in
            var random = SeededRandom(seed: UInt64(seed))
            for _ in 0..<20 {
                let (text, usual) = Self.flatLine(&random)
                let tree = try? ReturnDocument(jsonValue: JSONValue.parse(text))
                let scanned = ReturnDocument.scanned(Array(text.utf8))
                if scanned != nil { #expect(scanned == tree, "\(text)") }
                if usual {
                    #expect(tree != nil, "\(text)")
                    #expect(scanned != nil, "not read from its bytes: \(text)")
                }
            }
        }
    }

    static let textKeys = [
        "id", "storeId", "kioskId", "orderId", "gtin", "serial", "lot", "expiry", "recallCampaign", "recallMatch",
        "reason", "status", "condition", "testResult", "disposition", "verification", "customerRef",
    ]

    /// A random line of flat keys and whether it is of the usual shape (known keys, each once, each holding a value
    /// of its type, nothing after the object); the others differ from it in one or more ways the tree refuses, or
    /// reads and the fast path leaves to it.
    static func flatLine(_ random: inout SeededRandom) -> (String, Bool) {
        var usual = true
        var members: [String] = []
        var keys = (textKeys + ["quantity", "createdAt", "updatedAt", "needsReview", "receipt"]).shuffled(
            using: &random
        )
        keys = Array(keys.prefix(random.below(keys.count + 1)))
        func odd(_ chance: Int) -> Bool {
            guard random.below(chance) == 0 else { return false }
            usual = false
            return true
        }
        func space() -> String { random.below(8) == 0 ? [" ", "\t", "\r\n", "  "][random.below(4)] : "" }
        if odd(15) { keys.append(keys.first ?? "id") }  // a key twice
        if odd(15) { keys.insert(["notes", "clock", "record", "serials", "Id"][random.below(5)], at: 0) }
        for key in keys {
            var value: String
            switch key {
            case "quantity":
                value = random.below(2) == 0 ? String(random.below(1_000) - 10) : "null"
                if odd(10) {
                    value = ["1.5", "2e1", "\"3\"", "true", "[]", "-0", "99999999999999999999"][random.below(7)]
                }
            case "createdAt", "updatedAt":
                let date = Date(millisecondsSince1970: Int64(random.below(4_000_000_000_000)))
                value =
                    [
                        JSONValue.string(ISO8601Milliseconds.format(date)).serializedString, "null",
                        #""2026-11-29T17:09:17Z""#, #""2026-11-29T18:09:17.500+01:00""#,
                    ][random.below(4)]
                if odd(10) { value = [#""2026-02-30T00:00:00.000Z""#, #""yesterday""#, "12", "{}"][random.below(4)] }
            case "needsReview", "receipt":
                value = ["true", "false", "null"][random.below(3)]
                if odd(10) { value = [#""yes""#, "1", "[true]"][random.below(3)] }
            default:
                let alphabet = Array("aZ09-_/ é\"\\\n\u{1}€😀")
                let text = String((0..<random.below(12)).map { _ in alphabet[random.below(alphabet.count)] })
                value = random.below(6) == 0 ? "null" : JSONValue.string(text).serializedString
                // The same text with an escape the compact writer does not use.
                if value.hasPrefix("\"a") { value = "\"\\u0061" + value.dropFirst(2) }
                if odd(12) { value = ["7", "false", "[]", #"{"a":1}"#, "-1.0"][random.below(5)] }
            }
            let name = key == "id" && random.below(10) == 0 ? #""\u0069d""# : JSONValue.string(key).serializedString
            if !(textKeys + ["quantity", "createdAt", "updatedAt", "needsReview", "receipt"]).contains(key) {
                value = ["[]", "{}", "null", #""x""#][random.below(4)]
            }
            members.append(space() + name + space() + ":" + space() + value + space())
        }
        var line = space() + "{" + members.joined(separator: ",") + "}" + space()
        if odd(20) { line += ["{}", "x", ",", "]"][random.below(4)] }
        if odd(20) { line = String(line.dropLast(1 + random.below(max(1, line.count / 2)))) }
        return (line, usual)
    }
}
