import Foundation
import PropertyBased
import ReturnSyncJSON
import SyncEngine
import Testing

/// The fast JSON path and the Codable form of a record are one format: same bytes, same records.
@Suite struct RecordJSONTests {
    /// A record with many faulty members gets the same error however often it is read: the first fault in key
    /// order. (Dictionaries iterate in an order seeded per instance; the fuzz test once caught two readings of one
    /// frame naming different fields.)
    @Test func aRecordWithSeveralFaultsIsAlwaysRefusedNamingTheFirstInKeyOrder() throws {
        let letters = "abcdefghijklmnopqrstuvwxyz".map(String.init)
        let fields = letters.map { "\"\($0)\":[[1,7]]" }.joined(separator: ",")
        let clock = letters.map { "\"\($0)?\":1" }.joined(separator: ",")
        let withBadFields =
            #"{"type":"return","id":"r","clock":{"k":1},"writes":[["k",1,5,0]],"fields":{"# + fields + "}}"
        let withBadClock =
            #"{"type":"return","id":"r","clock":{"# + clock + #"},"writes":[["k",1,5,0]],"fields":{"a":[[1,0]]}}"#
        for (json, expected) in [
            (withBadFields, "invalid record.fields.a[0]: expected [value, index into writes] with an index below 1"),
            (withBadClock, "a?"),
        ] {
            var errors: Set<String> = []
            for _ in 0..<50 {
                do {
                    _ = try VersionedRecord(jsonValue: JSONValue.parse(json))
                    Issue.record("accepted \(json)")
                } catch {
                    errors.insert("\(error)")
                }
            }
            #expect(errors.count == 1, "\(errors)")
            #expect(errors.allSatisfy { $0.contains(expected) }, "\(errors)")
        }
    }

    @Test func theFastPathAndCodableAgreeOnRandomHistories() async throws {
        await propertyCheck(count: 200, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for record in simulation.archive.suffix(5) + simulation.states {
                    let fast = record.jsonString
                    #expect(fast == record.jsonValue.serializedString)
                    #expect(fast == String(decoding: try encoder.encode(record), as: UTF8.self))
                    #expect(try VersionedRecord(jsonValue: JSONValue.parse(fast)) == record)
                    #expect(try JSONDecoder().decode(VersionedRecord.self, from: Data(fast.utf8)) == record)
                    #expect(
                        record.clock.jsonString == String(decoding: try encoder.encode(record.clock), as: UTF8.self)
                    )
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    /// Every kind of value the fast path writes by hand — negative and extreme integers, strings that need escapes,
    /// long and non-ASCII ones, Booleans and null — in clocks of one replica (written without sorting) and of
    /// several: the same bytes as the JSON tree writes.
    @Test func theFastPathWritesEveryKindOfValueAsTheTreeDoes() async throws {
        let texts = [
            "", "plain", "a\"quote", "back\\slash", "tab\tand\nnewline", "\u{01}control", "\u{1F}", "é and ü",
            "🙂 far beyond fifteen bytes of UTF-8", "a/slash",
        ]
        let integers: [Int64] = [.min, .min + 1, -1_000_000_007, -1, 0, 9, 10, 1_796_633_942_118, .max]
        func value(_ seed: Int) -> FieldValue {
            switch seed % 4 {
            case 0: return .string(texts[seed / 4 % texts.count])
            case 1: return .integer(integers[seed / 4 % integers.count])
            case 2: return .bool(seed / 4 % 2 == 0)
            default: return .null
            }
        }
        let input = Gen.int(in: 0...1_000_000).array(of: 1...14)
        await propertyCheck(count: 200, input: input) { seeds in
            do {
                let replicas = try (0...(seeds[0] % 3)).map { try ReplicaID("store-\($0)/kiosk-\(seeds[0] % 7)") }
                var clock: [ReplicaID: UInt64] = [:]
                var registers: [String: [DottedValue]] = [:]
                var sets: [String: [DottedValue]] = [:]
                for (index, seed) in seeds.enumerated() {
                    let replica = replicas[seed % replicas.count]
                    let counter = (clock[replica] ?? 0) + 1
                    clock[replica] = counter
                    let written = DottedValue(
                        value: value(seed),
                        dot: try Dot(replica: replica, counter: counter),
                        stamp: try HLCTimestamp(physical: UInt64(seed), logical: UInt32(index))
                    )
                    if seed % 5 == 0 {
                        sets["set-\(seed % 2)", default: []].append(written)
                    } else {
                        registers["field-\(index)-\(texts[seed % texts.count].count)"] = [written]
                    }
                }
                let record = try VersionedRecord(
                    entityType: "return",
                    id: "id-\(seeds[0])",
                    clock: VectorClock(clock),
                    registers: registers,
                    sets: sets
                )
                let fast = record.jsonString
                #expect(fast == record.jsonValue.serializedString)
                #expect(record.clock.jsonString == record.clock.jsonValue.serializedString)
                #expect(try VersionedRecord(jsonValue: JSONValue.parse(fast)) == record)
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test(arguments: [
        (
            #"{"type":"t","id":"1","clock":{},"writes":[["r",1,1,0]],"fields":{"a":[["x",0]]}}"#,
            "has dot r:1 beyond the record's clock"
        ),
        (
            #"{"type":"t","id":"1","clock":{"r":1},"writes":[["r",0,1,0]],"fields":{"a":[["x",0]]}}"#,
            "record.writes[0][1]"
        ),
        (#"{"type":"t","id":"1","clock":{"r":-1},"writes":[],"fields":{}}"#, "record.clock.r"),
        (#"{"type":"t","id":"1","clock":{"r":9007199254740992},"writes":[],"fields":{}}"#, "record.clock.r"),
        (
            #"{"type":"t","id":"1","clock":{"bad replica":1},"writes":[],"fields":{}}"#,
            "invalid replica id 'bad replica'"
        ),
        (
            #"{"type":"t","id":"1","clock":{"r":1},"writes":[["r",1,1,0]],"fields":{"a":[[[1],0]]}}"#,
            "record.fields.a[0][0]"
        ),
        (
            #"{"type":"t","id":"1","clock":{"r":1},"writes":[["r",1,1,0]],"fields":{"a":[["x",1]]}}"#,
            "record.fields.a[0]: expected [value, index into writes] with an index below 1"
        ),
        (
            #"{"type":"t","id":"1","clock":{"r":1},"writes":[["r",1,-1,0]],"fields":{"a":[["x",0]]}}"#,
            "record.writes[0]"
        ),
        (#"{"type":"t","clock":{},"writes":[],"fields":{}}"#, "missing key 'id'"),
        (#"{"type":"t","id":"1","clock":{},"fields":{}}"#, "missing key 'writes'"),
        (#"{"type":"t","id":"1","clock":{"r":1},"writes":[],"fields":{"a":[]}}"#, "holds no value"),
        // Asked of each register only when some set shares a name with some register (issue 18).
        (
            #"{"type":"t","id":"1","clock":{"r":1},"writes":[["r",1,1,0]],"fields":{"a":[["x",0]],"b":[["y",0]]},"#
                + #""sets":{"b":[["z",0]],"c":[["w",0]]}}"#,
            "field 'b' is both a register and a set"
        ),
    ])
    func malformedRecordsAreRefusedNamingTheKey(json: String, expected: String) {
        #expect {
            try VersionedRecord(jsonValue: JSONValue.parse(json))
        } throws: { error in
            "\(error)".contains(expected)
        }
    }
}
