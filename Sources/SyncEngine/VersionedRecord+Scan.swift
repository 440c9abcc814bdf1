import ReturnSyncJSON

// Reading a record straight from the frame's bytes: no JSONValue tree, no reader per member. It reads the shape
// every replica writes (docs/sync-semantics.md) and gives up — `nil` — on anything else, from a settled conflict's
// history to a byte out of place; the caller then reads the frame through the tree, which accepts and refuses
// exactly what it always did and names the fault. Only what this reader accepts must agree with the tree's result,
// and the records it builds go through the same initialiser and its invariant checks (a property test holds both
// paths to that).

extension VersionedRecord {
    /// A record's fields as read, before the writes their values name are known: each name with the range of its
    /// values in the record's one list of values.
    private typealias Pending = [PendingField]

    // Structs, not tuples: an array of tuples is freed through the runtime's generic tuple witnesses, its tuple type
    // looked up each time (push frame decode micro-benchmark: ~3 % of a record's reading).

    /// A field as read: its name and the range of its values in the record's one list of values.
    private struct PendingField {
        var name: String
        var range: Range<Int>
    }

    /// A value as read, with the index in `writes` of the write it names.
    private struct PendingValue {
        var value: FieldValue
        var write: Int
    }

    /// A write as read: its dot and stamp.
    private struct Write {
        var dot: Dot
        var stamp: HLCTimestamp
    }

    /// Reads one record at the scanner's position, `depth` levels deep in the document; `nil` if the record is not
    /// in the usual shape or not valid (read it through ``init(jsonValue:)`` then, for the verdict and the error).
    public static func scanned(from scanner: inout JSONScanner, depth: Int) -> VersionedRecord? {
        try? scan(&scanner, depth: depth)
    }

    private static func scan(_ scanner: inout JSONScanner, depth: Int) throws -> VersionedRecord? {
        // Values name their write by its index in `writes`, which may come after them: resolved at the end. Held as
        // one list of values with each field's range of it, so reading a record builds one dictionary of fields (the
        // record's), not two, and one array of values for all its fields (issue 18: a tenth of the event loop's
        // time in a sync went to the second dictionary and the per-field arrays).
        var type: String?
        var id: String?
        var clock: VectorClock?
        var writes: [Write]?
        var fields: Pending?
        var sets: Pending?
        var values: [PendingValue] = []
        // The last two replicas named: a record's writes name the replicas of its clock, usually one or two, and
        // one already read is not checked and made again.
        var replicas = SeenReplicas()
        // Room for a captured return's values, and below its fields, at once: grown from empty, each list was
        // allocated again at every doubling (push frame decode micro-benchmark: 15,000 → 11,000 allocations for
        // 500 returns, −5 % time). Neither list outlives the record's reading.
        values.reserveCapacity(32)
        guard scanner.consume(UInt8(ascii: "{")), depth + 3 <= 64 else { return nil }
        // Whether the record's bytes are the ones `writeJSON` would write for it, worked out on the way: the scanner
        // sees white space, escapes and `-0`; the order of keys, writes and values, and parts the record's initialiser
        // or `writeJSON` would drop, are checked here.
        let start = scanner.offset - 1
        let compactAround = scanner.isCompact
        scanner.isCompact = true
        defer { scanner.isCompact = scanner.isCompact && compactAround }
        var inOrder = true
        // `writeJSON`'s key order: clock, fields, history, id, sets, type, writes.
        var lastKey = -1
        func ranked(_ rank: Int) {
            if rank <= lastKey { inOrder = false }
            lastKey = rank
        }
        if scanner.consume(UInt8(ascii: "}")) { return nil }
        repeat {
            guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "type" where type == nil:
                guard let text = try scanner.string() else { return nil }
                type = text
                ranked(5)
            case "id" where id == nil:
                guard let text = try scanner.string() else { return nil }
                id = text
                ranked(3)
            case "clock" where clock == nil:
                guard let read = try scanClock(&scanner, inOrder: &inOrder, seen: &replicas) else { return nil }
                clock = read
                ranked(0)
            case "writes" where writes == nil:
                guard let read = try scanWrites(&scanner, inOrder: &inOrder, seen: &replicas) else { return nil }
                writes = read
                ranked(6)
            case "fields" where fields == nil:
                guard let read = try scanFields(&scanner, into: &values, inOrder: &inOrder) else { return nil }
                fields = read
                ranked(1)
            case "sets" where sets == nil:
                guard let read = try scanFields(&scanner, into: &values, inOrder: &inOrder) else { return nil }
                sets = read
                ranked(4)
                if read.isEmpty { inOrder = false }  // `writeJSON` leaves no sets out
            default:
                return nil  // a history, an unknown key, a duplicate: the tree decides
            }
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "}")), let type, let id, let clock, let writes, let fields else {
            return nil
        }
        // `writeJSON` lists each write a value names, once: a bit per write, no array allocated per record (a
        // record of more than 64 writes, rare, is written again).
        var named: UInt64 = 0
        if writes.count > 64 { inOrder = false }
        func resolve(_ pending: Pending) -> [String: [DottedValue]]? {
            // Made at its size: `reserveCapacity` on an empty dictionary went through the unspecialised resize
            // path and the storage's generic metadata for every record (4 % of reading a pushed return; issue 18,
            // thirty-eighth part).
            var resolved = [String: [DottedValue]](minimumCapacity: pending.count)
            for field in pending {
                var dotted: [DottedValue] = []
                dotted.reserveCapacity(field.range.count)
                for value in values[field.range] {
                    let index = value.write
                    guard writes.indices.contains(index) else { return nil }
                    if index < 64 { named |= 1 << index }
                    let next = DottedValue(value: value.value, dot: writes[index].dot, stamp: writes[index].stamp)
                    // The initialiser sorts a field's values (and drops a set's repeated ones) unless they are in
                    // order already.
                    if let last = dotted.last, !(last < next) { inOrder = false }
                    dotted.append(next)
                }
                // A field named twice: the tree decides (and refuses it).
                guard resolved.updateValue(dotted, forKey: field.name) == nil else { return nil }
            }
            return resolved
        }
        guard let registers = resolve(fields), let resolvedSets = resolve(sets ?? []) else { return nil }
        var record = try VersionedRecord(
            entityType: type,
            id: id,
            clock: clock,
            registers: registers,
            sets: resolvedSets
        )
        // `>= 64`: no shift of 64 or more is ever subtracted from (a record of more writes is not in order anyway).
        if inOrder, scanner.isCompact, named == (writes.count >= 64 ? ~0 : (1 << writes.count) - 1) {
            record.compactJSON = scanner.text(from: start)
        }
        return record
    }

    /// `{"replica": counter, …}`; `inOrder` turns `false` unless the replicas are in `writeJSON`'s order and no
    /// counter is zero (the clock drops those).
    private static func scanClock(
        _ scanner: inout JSONScanner,
        inOrder: inout Bool,
        seen: inout SeenReplicas
    ) throws -> VectorClock? {
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var counters: [ReplicaID: UInt64] = [:]
        var last: ReplicaID?
        if !scanner.consume(UInt8(ascii: "}")) {
            repeat {
                guard let key = try scanner.string(), scanner.consume(UInt8(ascii: ":")),
                    let number = try scanner.integer(), number >= 0, UInt64(number) <= VectorClock.maximumCounter
                else { return nil }
                let replica = try replicaID(key, seen: &seen)
                guard counters.updateValue(UInt64(number), forKey: replica) == nil else { return nil }
                if number == 0 || last.map({ !($0 < replica) }) ?? false { inOrder = false }
                last = replica
            } while scanner.consume(UInt8(ascii: ","))
            guard scanner.consume(UInt8(ascii: "}")) else { return nil }
        }
        return try VectorClock(counters)
    }

    /// `[[replica, counter, physical, logical], …]`; `inOrder` turns `false` unless the writes are in
    /// `writeJSON`'s order, each once.
    private static func scanWrites(
        _ scanner: inout JSONScanner,
        inOrder: inout Bool,
        seen: inout SeenReplicas
    ) throws -> [Write]? {
        guard scanner.consume(UInt8(ascii: "[")) else { return nil }
        var writes: [Write] = []
        if scanner.consume(UInt8(ascii: "]")) { return writes }
        repeat {
            guard scanner.consume(UInt8(ascii: "[")), let replica = try scanner.string(),
                scanner.consume(UInt8(ascii: ",")), let counter = try scanner.integer(),
                counter >= 1, UInt64(counter) <= VectorClock.maximumCounter,
                scanner.consume(UInt8(ascii: ",")), let physical = try scanner.integer(), physical >= 0,
                scanner.consume(UInt8(ascii: ",")), let logical = try scanner.integer(),
                (0...Int64(UInt32.max)).contains(logical), scanner.consume(UInt8(ascii: "]"))
            else { return nil }
            let dot = try Dot(replica: replicaID(replica, seen: &seen), counter: UInt64(counter))
            let stamp = try HLCTimestamp(physical: UInt64(physical), logical: UInt32(logical))
            if let last = writes.last, !((last.dot, last.stamp) < (dot, stamp)) { inOrder = false }
            writes.append(Write(dot: dot, stamp: stamp))
        } while scanner.consume(UInt8(ascii: ","))
        guard scanner.consume(UInt8(ascii: "]")) else { return nil }
        return writes
    }

    /// The last two replicas a record's reading made, kept in place (no array to allocate for each record).
    private struct SeenReplicas {
        var last: ReplicaID?
        var before: ReplicaID?
    }

    /// The replica named `text`: one of `seen` if it is there, else checked and made (and kept as the last).
    private static func replicaID(_ text: String, seen: inout SeenReplicas) throws -> ReplicaID {
        if let last = seen.last, last.rawValue == text { return last }
        if let before = seen.before, before.rawValue == text { return before }
        let replica = try ReplicaID(text)
        seen.before = seen.last
        seen.last = replica
        return replica
    }

    /// `{"field": [[value, index], …], …}`: each field's name and the range of `values` its values were appended
    /// to; `inOrder` turns `false` unless the fields are in `writeJSON`'s order (their values' order is checked once
    /// the writes they name are known). A field named twice is found when the fields are resolved.
    private static func scanFields(
        _ scanner: inout JSONScanner,
        into values: inout [PendingValue],
        inOrder: inout Bool
    ) throws -> Pending? {
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var fields: Pending = []
        if scanner.consume(UInt8(ascii: "}")) { return fields }
        fields.reserveCapacity(32)
        var last: String?
        repeat {
            guard let field = try scanner.string(), scanner.consume(UInt8(ascii: ":")),
                scanner.consume(UInt8(ascii: "["))
            else { return nil }
            let start = values.count
            if !scanner.consume(UInt8(ascii: "]")) {
                repeat {
                    guard scanner.consume(UInt8(ascii: "[")), let value = try scanValue(&scanner),
                        scanner.consume(UInt8(ascii: ",")), let index = try scanner.integer(),
                        let small = Int(exactly: index), scanner.consume(UInt8(ascii: "]"))
                    else { return nil }
                    values.append(PendingValue(value: value, write: small))
                } while scanner.consume(UInt8(ascii: ","))
                guard scanner.consume(UInt8(ascii: "]")) else { return nil }
            }
            if last.map({ !($0 < field) }) ?? false { inOrder = false }
            last = field
            fields.append(PendingField(name: field, range: start..<values.count))
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
