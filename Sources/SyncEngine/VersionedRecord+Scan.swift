import ReturnSyncJSON

// Reading a record straight from the frame's bytes: no JSONValue tree, no reader per member. It reads the shape
// every replica writes (docs/sync-semantics.md) and gives up — `nil` — on anything else, from a settled conflict's
// history to a byte out of place; the caller then reads the frame through the tree, which accepts and refuses
// exactly what it always did and names the fault. Only what this reader accepts must agree with the tree's result,
// and the records it builds go through the same initialiser and its invariant checks (a property test holds both
// paths to that).

extension VersionedRecord {
    /// Reads one record at the scanner's position, `depth` levels deep in the document; `nil` if the record is not
    /// in the usual shape or not valid (read it through ``init(jsonValue:)`` then, for the verdict and the error).
    public static func scanned(from scanner: inout JSONScanner, depth: Int) -> VersionedRecord? {
        try? scan(&scanner, depth: depth)
    }

    private static func scan(_ scanner: inout JSONScanner, depth: Int) throws -> VersionedRecord? {
        // Values name their write by its index in `writes`, which may come after them: resolved at the end.
        typealias Pending = [String: [(FieldValue, Int)]]
        var type: String?
        var id: String?
        var clock: VectorClock?
        var writes: [(Dot, HLCTimestamp)]?
        var fields: Pending?
        var sets: Pending?
        guard scanner.consume(UInt8(ascii: "{")), depth + 3 <= 64 else { return nil }
        if scanner.consume(UInt8(ascii: "}")) { return nil }
        repeat {
            guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "type" where type == nil:
                guard let text = try scanner.string() else { return nil }
                type = text
            case "id" where id == nil:
                guard let text = try scanner.string() else { return nil }
                id = text
            case "clock" where clock == nil:
                guard let read = try scanClock(&scanner) else { return nil }
                clock = read
            case "writes" where writes == nil:
                guard let read = try scanWrites(&scanner) else { return nil }
                writes = read
            case "fields" where fields == nil:
                guard let read = try scanFields(&scanner) else { return nil }
                fields = read
            case "sets" where sets == nil:
                guard let read = try scanFields(&scanner) else { return nil }
                sets = read
            default:
                return nil  // a history, an unknown key, a duplicate: the tree decides
            }
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "}")), let type, let id, let clock, let writes, let fields else {
            return nil
        }
        func resolve(_ pending: Pending) -> [String: [DottedValue]]? {
            var resolved: [String: [DottedValue]] = [:]
            resolved.reserveCapacity(pending.count)
            for (field, values) in pending {
                var dotted: [DottedValue] = []
                dotted.reserveCapacity(values.count)
                for (value, index) in values {
                    guard writes.indices.contains(index) else { return nil }
                    dotted.append(DottedValue(value: value, dot: writes[index].0, stamp: writes[index].1))
                }
                resolved[field] = dotted
            }
            return resolved
        }
        guard let registers = resolve(fields), let resolvedSets = resolve(sets ?? [:]) else { return nil }
        return try VersionedRecord(entityType: type, id: id, clock: clock, registers: registers, sets: resolvedSets)
    }

    /// `{"replica": counter, …}`.
    private static func scanClock(_ scanner: inout JSONScanner) throws -> VectorClock? {
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var counters: [ReplicaID: UInt64] = [:]
        if !scanner.consume(UInt8(ascii: "}")) {
            repeat {
                guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")),
                    let number = try scanner.integer(), number >= 0, UInt64(number) <= VectorClock.maximumCounter
                else { return nil }
                let replica = try ReplicaID(key)
                guard counters.updateValue(UInt64(number), forKey: replica) == nil else { return nil }
            } while scanner.consume(UInt8(ascii: ","))
            guard scanner.consume(UInt8(ascii: "}")) else { return nil }
        }
        return try VectorClock(counters)
    }

    /// `[[replica, counter, physical, logical], …]`.
    private static func scanWrites(_ scanner: inout JSONScanner) throws -> [(Dot, HLCTimestamp)]? {
        guard scanner.consume(UInt8(ascii: "[")) else { return nil }
        var writes: [(Dot, HLCTimestamp)] = []
        if scanner.consume(UInt8(ascii: "]")) { return writes }
        repeat {
            guard scanner.consume(UInt8(ascii: "[")), let replica = try scanner.string(),
                scanner.consume(UInt8(ascii: ",")), let counter = try scanner.integer(),
                counter >= 1, UInt64(counter) <= VectorClock.maximumCounter,
                scanner.consume(UInt8(ascii: ",")), let physical = try scanner.integer(), physical >= 0,
                scanner.consume(UInt8(ascii: ",")), let logical = try scanner.integer(),
                (0...Int64(UInt32.max)).contains(logical), scanner.consume(UInt8(ascii: "]"))
            else { return nil }
            let dot = try Dot(replica: ReplicaID(replica), counter: UInt64(counter))
            writes.append((dot, try HLCTimestamp(physical: UInt64(physical), logical: UInt32(logical))))
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "]")) else { return nil }
        return writes
    }

    /// `{"field": [[value, index], …], …}`.
    private static func scanFields(_ scanner: inout JSONScanner) throws -> [String: [(FieldValue, Int)]]? {
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var fields: [String: [(FieldValue, Int)]] = [:]
        if scanner.consume(UInt8(ascii: "}")) { return fields }
        repeat {
            guard let field = try scanner.string(), fields[field] == nil, scanner.consume(UInt8(ascii: ":")),
                scanner.consume(UInt8(ascii: "["))
            else { return nil }
            var values: [(FieldValue, Int)] = []
            if !scanner.consume(UInt8(ascii: "]")) {
                repeat {
                    guard scanner.consume(UInt8(ascii: "[")), let value = try scanValue(&scanner),
                        scanner.consume(UInt8(ascii: ",")), let index = try scanner.integer(),
                        let small = Int(exactly: index), scanner.consume(UInt8(ascii: "]"))
                    else { return nil }
                    values.append((value, small))
                } while scanner.consume(UInt8(ascii: ","))
                guard scanner.consume(UInt8(ascii: "]")) else { return nil }
            }
            fields[field] = values
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "}")) else { return nil }
        return fields
    }

    /// A field's value: null, a Boolean, a whole number or a string.
    private static func scanValue(_ scanner: inout JSONScanner) throws -> FieldValue? {
        switch scanner.peek() {
        case UInt8(ascii: "\""): return try scanner.string().map(FieldValue.string)
        case UInt8(ascii: "n"), UInt8(ascii: "t"), UInt8(ascii: "f"):
            switch try scanner.value(depth: 0) {
            case .null: return .null
            case .bool(let flag): return .bool(flag)
            default: return nil
            }
        default: return try scanner.integer().map(FieldValue.integer)
        }
    }
}
