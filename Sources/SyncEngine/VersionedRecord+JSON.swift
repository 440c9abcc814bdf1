import ReturnSyncJSON

// The fast path to and from the JSON form of a record (docs/sync-semantics.md). It produces and accepts exactly
// what the `Codable` conformances do; tests hold the two to that.

extension VersionedRecord {
    /// The record as a JSON value, in the compact form of docs/sync-semantics.md: every write (dot and stamp)
    /// listed once in `writes`, sorted by dot, and every value as `[value, index into writes]`.
    public var jsonValue: JSONValue {
        let table = WriteTable(self)
        func values(_ list: [DottedValue]) -> JSONValue {
            .array(list.map { .array([$0.value.jsonValue, .integer(Int64(table.index(of: $0)))]) })
        }
        var members: [String: JSONValue] = [
            "type": .string(entityType),
            "id": .string(id),
            "clock": clock.jsonValue,
            "writes": .array(
                table.writes.map {
                    .array([
                        .string($0.dot.replica.rawValue), .integer(Int64($0.dot.counter)),
                        .integer(Int64($0.stamp.physical)), .integer(Int64($0.stamp.logical)),
                    ])
                }
            ),
            "fields": .object(registers.mapValues(values)),
        ]
        if !sets.isEmpty { members["sets"] = .object(sets.mapValues(values)) }
        if !conflictHistory.isEmpty {
            members["history"] = .array(
                conflictHistory.map { entry in
                    .object([
                        "field": .string(entry.field),
                        "replaced": values(entry.replaced),
                        "resolution": .array([
                            entry.resolution.value.jsonValue, .integer(Int64(table.index(of: entry.resolution))),
                        ]),
                    ])
                }
            )
        }
        return .object(members)
    }

    /// Reads a record from its JSON form and checks its invariants, like `init(from:)`.
    ///
    /// - Throws: ``SyncEngineError`` with code `invalidRecord` naming the offending key.
    public init(jsonValue: JSONValue) throws {
        let reader = try JSONFieldReader(jsonValue, path: "record")
        let writes = try reader.member("writes").array().map { entry -> (Dot, HLCTimestamp) in
            let parts = try entry.array()
            guard parts.count == 4, case .string(let replica) = parts[0].value else {
                throw entry.invalid("expected [replica, counter, physical, logical]")
            }
            let dot = try Dot(replica: ReplicaID(replica), counter: parts[1].counter(allowZero: false))
            guard case .integer(let physical) = parts[2].value, physical >= 0,
                case .integer(let logical) = parts[3].value, (0...Int64(UInt32.max)).contains(logical)
            else { throw entry.invalid("expected a stamp as two non-negative integers") }
            return (dot, try HLCTimestamp(physical: UInt64(physical), logical: UInt32(logical)))
        }
        func value(_ reader: JSONFieldReader) throws -> DottedValue {
            let parts = try reader.array()
            guard parts.count == 2, case .integer(let index) = parts[1].value, writes.indices.contains(Int(index))
            else {
                throw reader.invalid("expected [value, index into writes] with an index below \(writes.count)")
            }
            let write = writes[Int(index)]
            return DottedValue(value: try FieldValue(reading: parts[0]), dot: write.0, stamp: write.1)
        }
        let registers = try reader.object("fields").mapValuesNamingFirstFault { try $0.array().map(value) }
        let sets = try reader.optionalObject("sets")?.mapValuesNamingFirstFault { try $0.array().map(value) }
        let history = try reader.optionalArray("history")?.map { entry in
            try ConflictResolution(
                field: entry.string("field"),
                replaced: entry.member("replaced").array().map(value),
                resolution: value(entry.member("resolution"))
            )
        }
        try self.init(
            entityType: reader.string("type"),
            id: reader.string("id"),
            clock: VectorClock(reading: reader.member("clock")),
            registers: registers,
            sets: sets ?? [:],
            conflictHistory: history ?? []
        )
    }
}

/// The distinct writes (dot and stamp) a record's values come from, sorted, for the compact JSON form.
struct WriteTable {
    struct Write: Comparable {
        var dot: Dot
        var stamp: HLCTimestamp
        static func < (lhs: Write, rhs: Write) -> Bool { (lhs.dot, lhs.stamp) < (rhs.dot, rhs.stamp) }
    }

    let writes: [Write]

    init(_ record: VersionedRecord) {
        var found: [Write] = []
        func note(_ value: DottedValue) {
            let write = Write(dot: value.dot, stamp: value.stamp)
            // Records hold few distinct writes; a linear scan beats hashing them.
            if !found.contains(write) { found.append(write) }
        }
        for values in record.registers.values { values.forEach(note) }
        for values in record.sets.values { values.forEach(note) }
        for entry in record.conflictHistory {
            entry.replaced.forEach(note)
            note(entry.resolution)
        }
        found.sort()
        writes = found
    }

    func index(of value: DottedValue) -> Int {
        writes.firstIndex { $0.dot == value.dot && $0.stamp == value.stamp }!
    }
}

extension VectorClock {
    /// The clock as a JSON object, replica id to counter.
    public var jsonValue: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: counters.map { ($0.key.rawValue, .integer(Int64($0.value))) }))
    }

    /// Reads a clock from a JSON object.
    public init(jsonValue: JSONValue) throws {
        try self.init(reading: JSONFieldReader(jsonValue, path: "clock"))
    }

    init(reading reader: JSONFieldReader) throws {
        var counters: [ReplicaID: UInt64] = [:]
        let members = try reader.object()
        func read(_ members: some Sequence<(key: String, value: JSONFieldReader)>) throws {
            for (key, value) in members { counters[try ReplicaID(key)] = try value.counter(allowZero: true) }
        }
        do {
            try read(members)
        } catch {
            // Several faulty entries: the first in key order is named, whatever the dictionary's order.
            try read(members.sorted { $0.key < $1.key })
            throw error
        }
        try self.init(counters)
    }
}

extension Dot {
    /// The dot as `{"replica": …, "counter": …}`.
    public var jsonValue: JSONValue {
        .object(["replica": .string(replica.rawValue), "counter": .integer(Int64(counter))])
    }
}

extension HLCTimestamp {
    /// The stamp as `[physical, logical]`.
    public var jsonValue: JSONValue {
        .array([.integer(Int64(physical)), .integer(Int64(logical))])
    }
}

extension FieldValue {
    /// The value as a JSON scalar.
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .integer(let number): return .integer(number)
        case .string(let text): return .string(text)
        }
    }

    init(reading reader: JSONFieldReader) throws {
        switch reader.value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .integer(let number): self = .integer(number)
        case .string(let text): self = .string(text)
        default: throw reader.invalid("expected null, a Boolean, an integer or a string, got \(reader.value.typeName)")
        }
    }
}

extension DottedValue {
    /// The value as `{"value": …, "dot": …, "stamp": …}`.
    public var jsonValue: JSONValue {
        .object(["value": value.jsonValue, "dot": dot.jsonValue, "stamp": stamp.jsonValue])
    }
}

extension [String: JSONFieldReader] {
    /// `mapValues(transform)`, except that when several members fail, the error thrown is the first one's in key
    /// order: a dictionary's iteration order differs from one decoding of the same bytes to the next (Swift seeds
    /// each dictionary's hashing), and the error a frame gets must not. The order is only paid for on failure.
    func mapValuesNamingFirstFault<T>(_ transform: (JSONFieldReader) throws -> T) throws -> [String: T] {
        do {
            return try mapValues(transform)
        } catch {
            for (_, member) in sorted(by: { $0.key < $1.key }) { _ = try transform(member) }
            throw error
        }
    }
}

/// Reads a JSON value with its path, so errors name the offending key: `record.fields.status[0]`.
///
/// The path is only spelled out when an error needs it: building it for every member cost more than the parse.
struct JSONFieldReader {
    private final class Parent {
        let reader: JSONFieldReader
        init(_ reader: JSONFieldReader) { self.reader = reader }
    }

    private enum Step {
        case root(String)
        case key(Parent, String)
        case index(Parent, Int)
    }

    let value: JSONValue
    private let step: Step

    init(_ value: JSONValue, path: String) throws {
        self.value = value
        self.step = .root(path)
    }

    private init(_ value: JSONValue, step: Step) {
        self.value = value
        self.step = step
    }

    var path: String {
        switch step {
        case .root(let name): return name
        case .key(let parent, let key): return "\(parent.reader.path).\(key)"
        case .index(let parent, let index): return "\(parent.reader.path)[\(index)]"
        }
    }

    func invalid(_ message: String) -> SyncEngineError {
        SyncEngineError(code: .invalidRecord, message: "invalid \(path): \(message)")
    }

    func object() throws -> [String: JSONFieldReader] {
        guard case .object(let members) = value else { throw invalid("expected an object, got \(value.typeName)") }
        let parent = Parent(self)
        var readers: [String: JSONFieldReader] = [:]
        readers.reserveCapacity(members.count)
        for (key, member) in members { readers[key] = JSONFieldReader(member, step: .key(parent, key)) }
        return readers
    }

    func array() throws -> [JSONFieldReader] {
        guard case .array(let elements) = value else { throw invalid("expected an array, got \(value.typeName)") }
        let parent = Parent(self)
        return elements.enumerated().map { JSONFieldReader($0.element, step: .index(parent, $0.offset)) }
    }

    func member(_ key: String) throws -> JSONFieldReader {
        guard case .object(let members) = value else { throw invalid("expected an object, got \(value.typeName)") }
        guard let member = members[key] else { throw invalid("missing key '\(key)'") }
        return JSONFieldReader(member, step: .key(Parent(self), key))
    }

    func object(_ key: String) throws -> [String: JSONFieldReader] { try member(key).object() }

    func optionalObject(_ key: String) throws -> [String: JSONFieldReader]? {
        guard value[key] != nil else { return nil }
        return try member(key).object()
    }

    func optionalArray(_ key: String) throws -> [JSONFieldReader]? {
        guard value[key] != nil else { return nil }
        return try member(key).array()
    }

    func string(_ key: String) throws -> String {
        let reader = try member(key)
        guard case .string(let text) = reader.value else {
            throw reader.invalid("expected a string, got \(reader.value.typeName)")
        }
        return text
    }

    func counter(allowZero: Bool) throws -> UInt64 {
        guard case .integer(let number) = value, number >= (allowZero ? 0 : 1),
            UInt64(number) <= VectorClock.maximumCounter
        else {
            throw invalid(
                "expected an integer from \(allowZero ? 0 : 1) to \(VectorClock.maximumCounter), got \(value)"
            )
        }
        return UInt64(number)
    }
}

// MARK: Direct writing

extension VersionedRecord {
    /// Appends the record's compact JSON to `output`: the same bytes as `jsonValue.serialized()`, written without
    /// building the intermediate tree, which is what storing a record costs on every write.
    public func writeJSON(into output: inout [UInt8]) {
        let table = WriteTable(self)
        // Keys in sorted order, as JSONValue writes them.
        output.append(contentsOf: #"{"clock":"#.utf8)
        clock.writeJSON(into: &output)
        output.append(contentsOf: #","fields":"#.utf8)
        Self.writeFields(registers, table, into: &output)
        if !conflictHistory.isEmpty {
            output.append(contentsOf: #","history":["#.utf8)
            for (index, entry) in conflictHistory.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output.append(contentsOf: #"{"field":"#.utf8)
                JSONValue.writeString(entry.field, into: &output)
                output.append(contentsOf: #","replaced":"#.utf8)
                Self.writeValues(entry.replaced, table, into: &output)
                output.append(contentsOf: #","resolution":"#.utf8)
                Self.writeValue(entry.resolution, table, into: &output)
                output.append(UInt8(ascii: "}"))
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(contentsOf: #","id":"#.utf8)
        JSONValue.writeString(id, into: &output)
        if !sets.isEmpty {
            output.append(contentsOf: #","sets":"#.utf8)
            Self.writeFields(sets, table, into: &output)
        }
        output.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(entityType, into: &output)
        output.append(contentsOf: #","writes":["#.utf8)
        for (index, write) in table.writes.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(UInt8(ascii: "["))
            JSONValue.writeString(write.dot.replica.rawValue, into: &output)
            output.append(UInt8(ascii: ","))
            Self.writeInteger(write.dot.counter, into: &output)
            output.append(UInt8(ascii: ","))
            Self.writeInteger(write.stamp.physical, into: &output)
            output.append(UInt8(ascii: ","))
            Self.writeInteger(UInt64(write.stamp.logical), into: &output)
            output.append(UInt8(ascii: "]"))
        }
        output.append(contentsOf: "]}".utf8)
    }

    /// The size in bytes of ``jsonString`` when it is known without writing it — the record was read from exactly
    /// those bytes and has not changed since — or `nil`.
    public var knownJSONByteCount: Int? { compactJSON?.utf8.count }

    /// The record's compact JSON text: the bytes it was read from when they were exactly that text.
    public var jsonString: String {
        if let compactJSON { return compactJSON }
        var output: [UInt8] = []
        output.reserveCapacity(768)
        writeJSON(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    private static func writeFields(_ fields: [String: [DottedValue]], _ table: WriteTable, into output: inout [UInt8])
    {
        output.append(UInt8(ascii: "{"))
        // The fields' positions in the dictionary sorted by name, in a buffer on the stack: no hash and lookup of
        // each name again to find its values, and no array of the pairs, whose every name and list of values was
        // retained and released again (issue 18: the thread preparing an import's lines, its bound, spent a
        // quarter of its time writing records).
        withUnsafeTemporaryAllocation(of: Dictionary<String, [DottedValue]>.Index.self, capacity: fields.count) {
            positions in
            var count = 0
            var position = fields.startIndex
            while position != fields.endIndex {
                positions.initializeElement(at: count, to: position)
                count += 1
                position = fields.index(after: position)
            }
            var sorted = UnsafeMutableBufferPointer(rebasing: positions[..<count])
            // Names through `keys` and values through `values`: an element of the dictionary itself is the pair,
            // and reading a name from it retained and released its values too.
            let names = fields.keys
            sorted.sort { names[$0] < names[$1] }
            for index in 0..<count {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONValue.writeString(names[sorted[index]], into: &output)
                output.append(UInt8(ascii: ":"))
                writeValues(fields.values[sorted[index]], table, into: &output)
            }
            _ = sorted.deinitialize()
        }
        output.append(UInt8(ascii: "}"))
    }

    private static func writeValues(_ values: [DottedValue], _ table: WriteTable, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeValue(value, table, into: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    private static func writeValue(_ value: DottedValue, _ table: WriteTable, into output: inout [UInt8]) {
        writeValue(value.value, write: table.index(of: value), into: &output)
    }

    /// `[value, write]`: a value and the index of its write in the record's `writes`.
    private static func writeValue(_ value: FieldValue, write: Int, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number):
            if number < 0 { output.append(UInt8(ascii: "-")) }
            writeInteger(number.magnitude, into: &output)
        case .string(let text): JSONValue.writeString(text, into: &output)
        }
        output.append(UInt8(ascii: ","))
        writeInteger(UInt64(write), into: &output)
        output.append(UInt8(ascii: "]"))
    }

    /// The compact JSON of the record that one write makes — `replica`'s first, stamped `stamp` — setting each of
    /// `registers` to its value and adding `sets`' elements: exactly ``jsonString`` of that record, written without
    /// building it. A kiosk import makes each new return's record only to store this text, and building it (a
    /// dictionary of fields, a list for each) and writing it out again were two fifths of the import's bound thread
    /// (issue 18).
    ///
    /// Names are sorted here (registers given in their names' order are taken as they are, without a sorted copy);
    /// a set's elements are sorted and a repeated one dropped, as the record holds them. Registers and sets must not
    /// share a name, and no set may be empty (the record's initialiser refuses both).
    public static func firstWriteJSON(
        entityType: String,
        id: String,
        replica: ReplicaID,
        stamp: HLCTimestamp,
        registers: [(name: String, value: FieldValue)],
        sets: [(name: String, elements: [FieldValue])] = []
    ) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(768)
        output.append(contentsOf: #"{"clock":{"#.utf8)
        JSONValue.writeString(replica.rawValue, into: &output)
        output.append(contentsOf: #":1},"fields":{"#.utf8)
        var inOrder = true
        for index in registers.indices.dropFirst() where !(registers[index - 1].name < registers[index].name) {
            inOrder = false
            break
        }
        for (index, field) in (inOrder ? registers : registers.sorted(by: { $0.name < $1.name })).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field.name, into: &output)
            output.append(contentsOf: ":[".utf8)
            writeValue(field.value, write: 0, into: &output)
            output.append(UInt8(ascii: "]"))
        }
        output.append(contentsOf: #"},"id":"#.utf8)
        JSONValue.writeString(id, into: &output)
        if !sets.isEmpty {
            output.append(contentsOf: #","sets":{"#.utf8)
            for (index, set) in sets.sorted(by: { $0.name < $1.name }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONValue.writeString(set.name, into: &output)
                output.append(contentsOf: ":[".utf8)
                // One write: the elements' canonical order is their values' (``DottedValue``'s order).
                let elements = set.elements.sorted()
                for (position, element) in elements.enumerated()
                where position == 0 || element != elements[position - 1] {
                    if position > 0 { output.append(UInt8(ascii: ",")) }
                    writeValue(element, write: 0, into: &output)
                }
                output.append(UInt8(ascii: "]"))
            }
            output.append(UInt8(ascii: "}"))
        }
        output.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(entityType, into: &output)
        output.append(contentsOf: #","writes":[["#.utf8)
        JSONValue.writeString(replica.rawValue, into: &output)
        output.append(contentsOf: ",1,".utf8)
        writeInteger(stamp.physical, into: &output)
        output.append(UInt8(ascii: ","))
        writeInteger(UInt64(stamp.logical), into: &output)
        output.append(contentsOf: "]]}".utf8)
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes a non-negative integer's decimal digits without making a String.
    static func writeInteger(_ value: UInt64, into output: inout [UInt8]) {
        if value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var remaining = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while remaining > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { output.append(buffer[index]) }
        }
    }
}

extension VectorClock {
    /// Appends the clock's compact JSON, replicas sorted.
    public func writeJSON(into output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        func write(_ replica: ReplicaID, _ counter: UInt64) {
            JSONValue.writeString(replica.rawValue, into: &output)
            output.append(UInt8(ascii: ":"))
            VersionedRecord.writeInteger(counter, into: &output)
        }
        // Most records' clocks name one replica, the one that made them: nothing to sort (sorting made two arrays).
        if counters.count == 1, let (replica, counter) = counters.first {
            write(replica, counter)
        } else {
            for (index, entry) in sortedEntries.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(entry.replica, entry.counter)
            }
        }
        output.append(UInt8(ascii: "}"))
    }

    /// The clock's compact JSON text.
    public var jsonString: String {
        var output: [UInt8] = []
        writeJSON(into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
