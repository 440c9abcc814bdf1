import Foundation
import PropertyBased
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

/// Issue 22, mixed versions: a value a newer release added to a field's vocabulary — any field, any spelling a
/// vocabulary could have — is read, kept untouched through edits and merges, shown as it is spelled and projected
/// as it is spelled; the return is read-only for lifecycle edits where the value is not understood. A spelling no
/// vocabulary could have is still refused.
@Suite struct NewerValuePropertyTests {
    /// The fields whose values are a vocabulary, each with a value this release knows.
    static let fields: [(field: String, known: String)] = [
        ("reason", "damaged"), ("status", "received"), ("condition", "unknown"), ("testResult", "not-tested"),
        ("disposition", "undecided"), ("recallMatch", "certain"), ("repairStatus", "sent"),
        ("reviewOutcome", "approved"), ("refundMethod", "original-payment"), ("verification", "verified"),
    ]

    struct Case: Sendable, CustomStringConvertible {
        var field: Int
        var spelling: String
        var description: String { "\(NewerValuePropertyTests.fields[field].field) = \(spelling)" }
    }

    /// Words of lower-case letters and digits joined by single hyphens, 1–40 characters, that no vocabulary of this
    /// release holds.
    static let cases = Generator<Case, Shrink.None<Case>>(run: { rng in
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let characters = letters + Array("0123456789")
        while true {
            let words = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                String(letters.randomElement(using: &rng)!)
                    + String(
                        (0..<Int.random(in: 0...9, using: &rng)).map { _ in characters.randomElement(using: &rng)! }
                    )
            }
            let spelling = words.joined(separator: "-")
            let field = Int.random(in: 0..<fields.count, using: &rng)
            guard spelling.count <= 40,
                ReturnEntity.isNewerValue(.string(spelling), of: fields[field].field)
            else { continue }
            return Case(field: field, spelling: spelling)
        }
    })

    /// A return with every vocabulary field written: recall flag, repair, review, refund and verification.
    static func baseRecord(_ kiosk: ReplicaID) throws -> VersionedRecord {
        let created = Date(millisecondsSince1970: 1_780_000_000_000)
        let item = try ProductReturn(
            id: ReturnID.make(at: created),
            storeID: StoreID("store-1"),
            kioskID: KioskID("kiosk-a"),
            orderID: OrderID("O-1"),
            gtin: GTIN("96385074"),
            reason: .damaged,
            createdAt: created
        )
        var clock = HybridLogicalClock()
        var record = try ReturnEntity.makeRecord(for: item, by: kiosk, stamp: clock.tick(wallClock: 1_780_000_000_000))
        let groups: [String: FieldValue] = [
            "recallCampaign": .string("RC-1"), "recallMatch": .string("certain"),
            "repairVendor": .string("Fixit"), "repairStatus": .string("sent"),
            "repairSentOn": .string("2026-11-01"), "repairBackOn": .null,
            "reviewOutcome": .string("approved"), "reviewNote": .null, "reviewExceptions": .string(""),
            "refundAmount": .integer(1_000), "refundFee": .integer(0), "refundCurrency": .string("EUR"),
            "refundMethod": .string("original-payment"), "refundExchangeGtin": .null, "refundReason": .null,
            "refundBy": .string("hq"), "verification": .string("verified"),
        ]
        try record.apply(
            RecordEdit(assignments: groups),
            by: ReplicaID("hq"),
            stamp: clock.tick(wallClock: 1_780_000_001_000)
        )
        return record
    }

    @Test func aNewerValueIsReadKeptShownAndProjectedAsSpelledAndTheReturnIsReadOnly() async throws {
        let kiosk = try ReplicaID("store-1/kiosk-a")
        let newer = try ReplicaID("store-1/kiosk-z")
        let base = try Self.baseRecord(kiosk)
        #expect(try ProductReturn(record: base).newerValues.isEmpty)
        await propertyCheck(count: 300, input: Self.cases) { example in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let field = Self.fields[example.field].field
                var record = base
                try record.apply(
                    RecordEdit(assignments: [field: .string(example.spelling)]),
                    by: newer,
                    stamp: HLCTimestamp(physical: 1_780_000_002_000, logical: 0)
                )
                let item = try ProductReturn(record: record)
                #expect(item.newerValues == [field: example.spelling], "\(example)")
                // Shown and projected as spelled.
                let document = try ReturnDocument(record: record).jsonValue.serializedString
                #expect(document.contains("\"\(example.spelling)\""), "\(example): \(document)")
                let projection = ReturnProjection(item, inConflict: false, updatedAt: nil)
                #expect(projection.values.contains(.text(example.spelling)), "\(example)")

                // Lifecycle edits refused, the record unchanged; a note taken, the value kept.
                var edited = record
                #expect(throws: ReturnsModelError.self, "\(example)") {
                    try edited.updateReturn(by: kiosk, stamp: HLCTimestamp(physical: 1_780_000_003_000, logical: 0)) {
                        item,
                        author,
                        date in try item.void(note: "wrong unit", by: author, at: date)
                    }
                }
                #expect(edited == record, "\(example)")
                try edited.updateReturn(by: kiosk, stamp: HLCTimestamp(physical: 1_780_000_003_000, logical: 0)) {
                    item,
                    author,
                    date in try item.addNote("seen", by: author, at: date)
                }
                #expect(edited.values(of: field) == record.values(of: field), "\(example)")

                // A replica that knew nothing of it merges it, in either order, to the same record.
                var other = base
                try other.updateReturn(
                    by: ReplicaID("store-1/kiosk-b"),
                    stamp: HLCTimestamp(physical: 1_780_000_004_000, logical: 0)
                ) {
                    item,
                    author,
                    date in try item.addNote("meanwhile", by: author, at: date)
                }
                var left = other
                try left.merge(edited)
                var right = edited
                try right.merge(other)
                #expect(left == right, "\(example)")
                #expect(left.values(of: field).map(\.value) == [.string(example.spelling)], "\(example)")
                #expect(try ProductReturn(record: left).newerValues == [field: example.spelling], "\(example)")

                // A spelling no vocabulary could have is refused, as before.
                var wrong = base
                try wrong.apply(
                    RecordEdit(assignments: [field: .string(example.spelling.uppercased())]),
                    by: newer,
                    stamp: HLCTimestamp(physical: 1_780_000_002_000, logical: 0)
                )
                #expect(throws: ReturnsModelError.self, "\(example)") { try ProductReturn(record: wrong) }
            } catch {
                Issue.record("\(example): \(error)")
            }
        }
    }

    @Test(arguments: [
        ("gift-return", true), ("a", true), ("end-of-life-2", true), (String(repeating: "a", count: 40), true),
        (String(repeating: "a", count: 41), false), ("", false), ("-a", false), ("a-", false), ("a--b", false),
        ("A", false), ("1a", false), ("a b", false), ("a_b", false), ("é", false),
    ])
    func vocabularySpellings(text: String, spelled: Bool) {
        #expect(isVocabularySpelling(text) == spelled)
        #expect(ReturnReason.isNewerSpelling(text) == spelled)
        #expect(!ReturnReason.isNewerSpelling("damaged"))
    }
}
