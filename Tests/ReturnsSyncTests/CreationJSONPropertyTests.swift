import Foundation
import PropertyBased
import ReturnsModel
import SyncEngine
import Testing

@testable import ReturnsSync

/// A kiosk import writes each new return's record JSON straight from the return, without making the record
/// (issue 18): the text must be exactly the one the record would be written as, byte for byte — or the store would
/// hold another text than `kiosk record` stores for the same return, and a push would carry it.
@Suite struct CreationJSONPropertyTests {
    @Test func aNewReturnsJSONIsItsRecordsByteForByte() async throws {
        let input = Gen.int(in: 0...1_000_000).array(of: 8...8)
        await propertyCheck(count: 300, input: input) { seeds in
            do {
                let item = try Self.item(seeds)
                let replica = try ReplicaID(seeds[1] % 2 == 0 ? "store-12/kiosk-a" : "store-12/kiosk-b.2")
                let stamp = try HLCTimestamp(physical: UInt64(1_796_633_942_118 + seeds[2]), logical: UInt32(seeds[3]))
                let operatorID = seeds[4] % 3 == 0 ? try OperatorID("op-\(seeds[4] % 5)") : nil
                let record = try ReturnEntity.makeRecord(for: item, by: replica, stamp: stamp, operatorID: operatorID)
                let direct = ReturnEntity.creationJSON(for: item, by: replica, stamp: stamp, operatorID: operatorID)
                #expect(direct == record.jsonString)
                // In their names' order, which spares the writer sorting them for each return of an import.
                let names = ReturnEntity.creationValues(of: item, operatorID: operatorID).registers.map(\.name)
                #expect(names == names.sorted() && Set(names).count == names.count, "\(names)")
            } catch {
                Issue.record(error)
            }
        }
    }

    /// Registers given in any order are written in their names' order: a caller need not sort them.
    @Test func registersInAnyOrderWriteTheSameText() async throws {
        let input = Gen.int(in: 0...1_000_000).array(of: 8...8)
        await propertyCheck(count: 200, input: input) { seeds in
            do {
                let item = try Self.item(seeds)
                let replica = try ReplicaID("store-12/kiosk-a")
                let stamp = try HLCTimestamp(physical: 1_796_633_942_118, logical: 0)
                let values = ReturnEntity.creationValues(of: item, operatorID: nil)
                // A permutation chosen by the seeds: rotated, then every other pair swapped.
                let registers = values.registers
                let cut = seeds[1] % registers.count
                var shuffled: [(name: String, value: FieldValue)] = Array(registers[cut...]) + Array(registers[..<cut])
                for index in stride(from: seeds[2] % 2, to: shuffled.count - 1, by: 2) {
                    shuffled.swapAt(index, index + 1)
                }
                func text(_ registers: [(name: String, value: FieldValue)]) -> String {
                    VersionedRecord.firstWriteJSON(
                        entityType: ReturnEntity.entityType,
                        id: item.id.rawValue,
                        replica: replica,
                        stamp: stamp,
                        registers: registers,
                        sets: values.sets
                    )
                }
                #expect(text(shuffled) == ReturnEntity.creationJSON(for: item, by: replica, stamp: stamp))
            } catch {
                Issue.record(error)
            }
        }
    }

    /// A return with every part a creating write may set or leave out, chosen by `seeds`.
    static func item(_ seeds: [Int]) throws -> ProductReturn {
        let pick = seeds[5]
        // Two notes of one text (the first and fourth) are one element of the set: the record drops the repeat.
        let texts = ["smells burnt", "box \"crushed\"", "back\\slash", "smells burnt", "line\nbreak", "é"]
        let notes = try (0..<(pick % 4)).map { index in
            try ReturnNote(
                text: texts[(pick / 4 + index * 3) % texts.count],
                author: "store-12/kiosk-a",
                createdAt: Date(timeIntervalSince1970: 1_796_633_942)
            )
        }
        let flags = seeds[6]
        return try ProductReturn(
            id: ReturnID.make(milliseconds: 1_796_633_942_118, sequence: UInt32(seeds[0] % 1000)),
            storeID: StoreID("store-12"),
            kioskID: KioskID("kiosk-a"),
            orderID: OrderID("ORD-\(seeds[0])"),
            gtin: GTIN("4006381333931"),
            serial: flags & 1 == 0 ? try ItemCode("SN-\(seeds[7])", kind: "serial") : nil,
            lot: flags & 2 == 0 ? try ItemCode("LOT-\(seeds[7] % 9)", kind: "lot") : nil,
            expiry: flags & 4 == 0 ? "2027-03-0\(seeds[7] % 9 + 1)" : nil,
            recallCampaign: flags & 8 == 0 ? "RC-\(seeds[7] % 3)" : nil,
            recallMatch: flags & 8 == 0 ? (flags & 16 == 0 ? .certain : .uncertain) : nil,
            quantity: seeds[7] % 5 + 1,
            reason: ReturnReason.allCases[seeds[0] % ReturnReason.allCases.count],
            notes: notes,
            receipt: flags & 32 == 0,
            customerRef: flags & 64 == 0 ? try CustomerReference("cust-\(seeds[7] % 11)") : nil,
            verification: flags & 128 == 0
                ? PurchaseVerification.allCases[seeds[7] % PurchaseVerification.allCases.count] : nil,
            exceptions: flags & 256 == 0 ? Array(ReturnException.allCases.prefix(seeds[7] % 3)) : [],
            createdAt: Date(timeIntervalSince1970: Double(1_796_633_942 - seeds[2] % 86_400))
        )
    }
}
