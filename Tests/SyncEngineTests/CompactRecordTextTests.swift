import PropertyBased
import ReturnSyncJSON
import Testing

@testable import SyncEngine

/// A record read from bytes keeps them as its JSON (``VersionedRecord/jsonString``) only when they are exactly what
/// ``VersionedRecord/writeJSON(into:)`` writes for it: a server stores a pushed record's text as it came, so a
/// byte kept wrongly would be stored and sent to every replica of the store.
@Suite struct CompactRecordTextTests {
    /// What `writeJSON` writes for `record`, never the kept bytes.
    static func written(_ record: VersionedRecord) -> String {
        var output: [UInt8] = []
        record.writeJSON(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// `record` and the same record without its settled conflicts' history (the scanner leaves histories to the
    /// tree), so that most records of a random history are ones it reads.
    static func withAndWithoutHistory(_ record: VersionedRecord) throws -> [VersionedRecord] {
        guard !record.conflictHistory.isEmpty else { return [record] }
        return [
            record,
            try VersionedRecord(
                entityType: record.entityType,
                id: record.id,
                clock: record.clock,
                registers: record.registers,
                sets: record.sets
            ),
        ]
    }

    static func scan(_ text: String) -> VersionedRecord? {
        try? JSONScanner.scan(Array(text.utf8)) { scanner -> VersionedRecord? in
            guard let record = VersionedRecord.scanned(from: &scanner, depth: 0), scanner.isAtEnd() else {
                return nil
            }
            return record
        }
    }

    /// The same record written another way: each variant changes something `writeJSON` never writes (white space,
    /// an escape, `-0`, a key or write out of order, an empty set, a zero clock entry, an extra write), or nothing
    /// the scanner can tell apart from the record itself.
    static func variants(of text: String, _ random: inout SplitMix64) -> [String] {
        var result: [String] = []
        let bytes = Array(text.utf8)
        func replacing(_ old: String, _ new: String) {
            guard let range = text.range(of: old) else { return }
            result.append(text.replacingCharacters(in: range, with: new))
        }
        // White space after a random structural byte.
        let structural = bytes.indices.filter {
            [UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "[")].contains(bytes[$0])
        }
        if let at = structural.randomElement(using: &random) {
            var spaced = bytes
            spaced.insert(UInt8(ascii: [" ", "\t", "\r"].randomElement(using: &random)!), at: at + 1)
            result.append(String(decoding: spaced, as: UTF8.self))
        }
        result.append(text.dropLast() + " }")
        // A letter of a key and of a value as an escape, `/` escaped, a zero written `-0`.
        replacing(#""id":""#, #""\u0069d":""#)
        replacing(#""type":""#, #""type":"\u0074"#)
        replacing(#""/"#, #""\/"#)
        replacing(",0]", ",-0]")
        // Keys out of order; an empty set; a zero clock entry; a write no value names.
        if let clockEnd = text.range(of: #"},"fields":"#) {
            let clock = String(text[text.startIndex..<clockEnd.lowerBound]) + "}"
            result.append(
                #"{"fields":"# + text[clockEnd.upperBound...].dropLast() + #","clock":"# + clock.dropFirst(9) + "}"
            )
        }
        if !text.contains(#""sets":"#) { replacing(#","type":"#, #","sets":{},"type":"#) }
        replacing(#"{"clock":{"#, #"{"clock":{"0zero":0,"#)
        result.append(text.dropLast(2) + #",["zz-late",1,0,0]]}"#)
        // Two writes the other way round (the record changes: each value names the other write).
        if let second = text.range(
            of: "],[",
            range: (text.range(of: #""writes":[["#)?.upperBound ?? text.endIndex)..<text.endIndex
        ) {
            let writesStart = text.range(of: #""writes":["#)!.upperBound
            let first = text[writesStart..<second.lowerBound] + "]"
            let rest = text[second.upperBound...]
            if let end = rest.firstIndex(of: "]") {
                let other = "[" + rest[rest.startIndex..<end] + "]"
                result.append(String(text[..<writesStart]) + other + "," + first + rest[rest.index(after: end)...])
            }
        }
        // Two values of a field the other way round, written compactly (the tree writes keys in order).
        if case .object(var members)? = try? JSONValue.parse(text) {
            for key in ["fields", "sets"] {
                guard case .object(var fields)? = members[key],
                    let (name, values) = fields.first(where: {
                        if case .array(let values) = $0.value { return values.count > 1 } else { return false }
                    }), case .array(var list) = values
                else { continue }
                list.swapAt(0, list.count - 1)
                fields[name] = .array(list)
                members[key] = .object(fields)
                result.append(JSONValue.object(members).serializedString)
                // The same value twice in a set: the record keeps it once.
                if key == "sets" {
                    fields[name] = .array(list.sorted { $0.serializedString < $1.serializedString } + [list[0]])
                    members[key] = .object(fields)
                    result.append(JSONValue.object(members).serializedString)
                }
            }
        }
        return result
    }

    @Test func aRecordReadFromWhatWriteJSONWritesKeepsThoseBytes() async throws {
        await propertyCheck(count: 200, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                for record in try (simulation.archive.suffix(5) + simulation.states).flatMap(Self.withAndWithoutHistory)
                {
                    let text = Self.written(record)
                    guard let scanned = Self.scan(text) else {
                        // Only a settled conflict's history sends a record to the tree.
                        #expect(!record.conflictHistory.isEmpty, "not scanned: \(text)")
                        continue
                    }
                    #expect(scanned == record)
                    #expect(scanned.jsonString == text)
                    // The point of it: a record read from what `writeJSON` wrote is not written again.
                    #expect(scanned.compactJSON == text)
                    // What the push rules measure a record by (its size limit) without writing it.
                    #expect(scanned.knownJSONByteCount == text.utf8.count)
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func bytesWrittenAnyOtherWayAreNeverKept() async throws {
        var random = SplitMix64(seed: 0x2026_1205)
        var variantsScanned = 0
        await propertyCheck(count: 200, input: Plan.generator) { plan in
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                for record in try simulation.states.flatMap(Self.withAndWithoutHistory) {
                    let text = Self.written(record)
                    for variant in Self.variants(of: text, &random) where variant != text {
                        guard let scanned = Self.scan(variant) else { continue }
                        variantsScanned += 1
                        // Kept or not, the text is the record's own: what the tree makes of the variant, written.
                        let tree = try VersionedRecord(jsonValue: JSONValue.parse(variant))
                        #expect(scanned == tree, "\(variant)")
                        #expect(scanned.jsonString == Self.written(tree), "kept a text written another way: \(variant)")
                        #expect(scanned.compactJSON == nil, "kept \(variant) from \(text)")
                        // Its size is not the variant's: the limit measures the record written again.
                        #expect(scanned.knownJSONByteCount == nil)
                    }
                }
            } catch {
                Issue.record(error)
            }
        }
        #expect(variantsScanned > 1_000, "the variants should mostly still be records: \(variantsScanned)")
    }

    @Test func aChangedRecordIsWrittenAgain() throws {
        let kiosk = try ReplicaID("store-1/k1")
        var record = VersionedRecord(entityType: "return", id: "r1")
        var edit = RecordEdit()
        edit.set("status", to: .string("received"))
        try record.apply(edit, by: kiosk, stamp: HLCTimestamp(physical: 1_000))
        var scanned = try #require(Self.scan(Self.written(record)))
        #expect(scanned.compactJSON != nil)

        edit.set("status", to: .string("inspected"))
        try scanned.apply(edit, by: kiosk, stamp: HLCTimestamp(physical: 2_000))
        #expect(scanned.compactJSON == nil)
        #expect(scanned.knownJSONByteCount == nil)
        #expect(scanned.jsonString.contains("inspected"))
        #expect(scanned.jsonString == Self.written(scanned))

        var other = try #require(Self.scan(Self.written(record)))
        var hq = VersionedRecord(entityType: "return", id: "r1")
        edit.set("status", to: .string("refunded"))
        try hq.apply(edit, by: ReplicaID("hq"), stamp: HLCTimestamp(physical: 3_000))
        _ = try other.merge(hq)
        #expect(other.jsonString == Self.written(other))
        #expect(other.jsonString.contains("refunded"))
    }

    /// The scanner reads a record's values into one list and resolves its fields at the end: a field named twice is
    /// still left to the tree (which refuses it), in the registers and in the sets alike, as is a name that is both
    /// a register and a set.
    @Test func aFieldNamedTwiceIsLeftToTheTree() throws {
        let registers =
            #"{"clock":{"k":2},"fields":{"a":[["x",0]],"b":[["y",1]]},"id":"r","type":"t","writes":[["k",1,5,0],["k",2,6,0]]}"#
        let read = try #require(Self.scan(registers))
        #expect(read.registers["a"]?.map(\.value) == [.string("x")])
        #expect(read.registers["b"]?.map(\.value) == [.string("y")])
        #expect(read.jsonString == registers)
        for twice in [
            #"{"clock":{"k":2},"fields":{"a":[["x",0]],"a":[["y",1]]},"id":"r","type":"t","writes":[["k",1,5,0],["k",2,6,0]]}"#,
            #"{"clock":{"k":2},"fields":{"b":[["x",0]],"a":[["z",1]],"b":[["y",1]]},"id":"r","type":"t","writes":[["k",1,5,0],["k",2,6,0]]}"#,
            #"{"clock":{"k":2},"fields":{},"id":"r","sets":{"s":[["x",0]],"s":[["y",1]]},"type":"t","writes":[["k",1,5,0],["k",2,6,0]]}"#,
            #"{"clock":{"k":2},"fields":{"s":[["x",0]]},"id":"r","sets":{"s":[["y",1]]},"type":"t","writes":[["k",1,5,0],["k",2,6,0]]}"#,
        ] {
            #expect(Self.scan(twice) == nil, "\(twice)")
            #expect(throws: (any Error).self, "\(twice)") { try VersionedRecord(jsonValue: JSONValue.parse(twice)) }
        }
    }
}
