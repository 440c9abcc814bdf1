import Foundation
import PropertyBased
import ReturnsModel
import Testing

@Suite struct IdentifierTests {
    @Test func returnIDsAreVersion7UUIDsOrderedByTime() throws {
        let earlier = ReturnID.make(at: Date(timeIntervalSince1970: 1_780_000_000))
        let later = ReturnID.make(at: Date(timeIntervalSince1970: 1_780_000_000.002))
        #expect(earlier < later)
        let text = earlier.rawValue
        #expect(text.count == 36)
        #expect(text == text.lowercased())
        #expect(Array(text)[14] == "7")
        #expect("89ab".contains(Array(text)[19]))
        #expect(earlier.timestamp == Date(timeIntervalSince1970: 1_780_000_000))
        #expect(try ReturnID(text.uppercased()) == earlier)
    }

    @Test func returnIDsMadeInTheSameMillisecondDiffer() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...4_000_000_000_000)) { millis in
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let ids = (0..<50).map { _ in ReturnID.make(at: date) }
            #expect(Set(ids).count == ids.count)
            #expect(ids.allSatisfy { $0.timestamp == Date(timeIntervalSince1970: Double(millis) / 1000) })
        }
    }

    /// An id made from a replica's stamp is spelled as Foundation spells the same UUID, and holds the stamp's
    /// millisecond and sequence where RFC 9562's method 1 puts them (the text is written by hand, issue 18).
    @Test func anIDMadeFromAStampHoldsItsTimeAndSequenceInTheUsualSpelling() async {
        await propertyCheck(
            count: 2_000,
            input: Gen.int(in: 0...0xFFFF_FFFF_FFFF),
            Gen.int(in: 0...0x3FFF_FFFF)
        ) { millis, sequence in
            let id = ReturnID.make(milliseconds: UInt64(millis), sequence: UInt32(sequence))
            #expect(UUID(uuidString: id.rawValue)?.uuidString.lowercased() == id.rawValue, "\(id)")
            let digits = id.rawValue.replacingOccurrences(of: "-", with: "")
            let high = UInt64(digits.prefix(16), radix: 16) ?? 0
            let low = UInt64(digits.suffix(16), radix: 16) ?? 0
            #expect(high >> 16 == UInt64(millis) && high >> 12 & 0xF == 7, "\(id)")
            #expect(
                high & 0xFFF == UInt64(sequence) >> 18 && low >> 44 & 0x3FFFF == UInt64(sequence) & 0x3FFFF,
                "\(id)"
            )
            #expect(low >> 62 == 2, "the variant: \(id)")
        }
    }

    /// An import makes its ids with random bits drawn 32 values at a time: across many refills every value is
    /// new, its bits are not stuck (each bit is set in about half of them), and the ids are valid, distinct and in
    /// the order of their sequence numbers.
    @Test func idsMadeFromBatchedRandomBitsAreDistinctAndOrdered() throws {
        var generator = BatchedSystemRandomNumberGenerator()
        let values = (0..<10_000).map { _ in generator.next() }
        #expect(Set(values).count == values.count)
        for bit in 0..<64 {
            let set = values.filter { $0 >> bit & 1 == 1 }.count
            #expect((4_000...6_000).contains(set), "bit \(bit) set in \(set) of 10,000")
        }
        let ids = (0..<2_000).map {
            ReturnID.make(milliseconds: 1_796_633_942_118, sequence: UInt32($0), using: &generator)
        }
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { UUID(uuidString: $0.rawValue)?.uuidString.lowercased() == $0.rawValue })
    }

    /// Reading an id keeps canonical text as it is instead of parsing it (issue 18): every text, canonical or not,
    /// must still read exactly as Foundation's parse, lower-cased, reads it — or be refused as it refuses it.
    @Test func readingAnIDAgreesWithTheUUIDParseForEveryText() async {
        let characters = Array("0123456789abcdefABCDEFgG-_ é")
        await propertyCheck(
            count: 2_000,
            input: Gen.int(in: 0...4_000_000_000_000),
            Gen.int(in: 0...40).array(of: 0...4),
            Gen.int(in: 0...(characters.count - 1)).array(of: 0...4),
            Gen.int(in: 0...2)
        ) { millis, positions, replacements, edit in
            var text = Array(ReturnID.make(at: Date(timeIntervalSince1970: Double(millis) / 1000)).rawValue)
            for (position, replacement) in zip(positions, replacements) {
                switch edit {
                case 0 where position < text.count: text[position] = characters[replacement]
                case 1: text.insert(characters[replacement], at: min(position, text.count))
                case 2 where position < text.count: text.remove(at: position)
                default: text = text.map { $0.uppercased().first ?? $0 }
                }
            }
            let string = String(text)
            let expected = string.utf8.count == 36 ? UUID(uuidString: string)?.uuidString.lowercased() : nil
            #expect((try? ReturnID(string))?.rawValue == expected, "\(string)")
        }
    }

    @Test(arguments: ["", "not-a-uuid", "0192f5e0-7a3c-7def-8123-456789abcdeg", "0192f5e07a3c7def8123456789abcdef0000"])
    func rejectsMalformedReturnIDs(text: String) {
        #expect { try ReturnID(text) } throws: { error in
            (error as? ReturnsModelError)?.code == .invalidIdentifier && "\(error)".contains("'\(text)'")
        }
    }

    @Test(arguments: ["", "store 12", "store/12", String(repeating: "s", count: 65), "städt"])
    func rejectsMalformedStoreAndKioskIDs(text: String) {
        #expect { try StoreID(text) } throws: { "\($0)".contains("store id '\(text)'") }
        #expect { try KioskID(text) } throws: { "\($0)".contains("kiosk id '\(text)'") }
    }

    @Test func acceptsOrderNumbersAsPrinted() throws {
        #expect(try OrderID("#ORD-2026/0001").rawValue == "#ORD-2026/0001")
        #expect(throws: ReturnsModelError.self) { try OrderID("ORD 1") }
        #expect { try ItemCode("", kind: "serial") } throws: { "\($0)".contains("invalid serial ''") }
    }

    @Test func vocabularyParsesKebabCaseAndNamesAllowedValues() throws {
        #expect(try ReturnReason.parse("not-as-described") == .notAsDescribed)
        #expect(try Disposition.parse("return-to-vendor") == .returnToVendor)
        #expect(try TestResult.parse("not-tested") == .notTested)
        #expect(try ItemCondition.parse("like-new") == .likeNew)
        #expect { try ReturnReason.parse("broken") } throws: { error in
            let message = "\(error)"
            return (error as? ReturnsModelError)?.code == .invalidValue && message.contains("reason 'broken'")
                && message.contains(
                    "damaged, defective, not-as-described, wrong-item, no-longer-needed, recall, "
                        + "repair, end-of-life, other"
                )
        }
        #expect { try Disposition.parse("Restock") } throws: { "\($0)".contains("disposition 'Restock'") }
    }

    @Test func vocabularyMatchesTheContract() {
        #expect(
            ReturnStatus.allCases.map(\.rawValue) == ["received", "inspected", "dispositioned", "closed", "voided"]
        )
        #expect(
            Disposition.allCases.map(\.rawValue) == [
                "undecided", "restock", "repackage", "repair", "return-to-vendor", "recycle", "dispose", "quarantine",
            ]
        )
        #expect(
            ItemCondition.allCases.map(\.rawValue) == [
                "unknown", "unopened", "like-new", "used", "damaged", "defective", "hazardous", "incomplete",
            ]
        )
        #expect(TestResult.allCases.map(\.rawValue) == ["not-tested", "pass", "fail"])
        #expect(Set(Disposition.safetyOrder) == Set(Disposition.allCases))
        #expect(Set(ReturnStatus.precedenceOrder) == Set(ReturnStatus.allCases))
    }
}
