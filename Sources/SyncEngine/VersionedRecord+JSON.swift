import ReturnSyncJSON

// The fast path to and from the JSON form of a record (docs/sync-semantics.md). It produces and accepts exactly
// what the `Codable` conformances do; tests hold the two to that.

extension VersionedRecord {
    /// The record as a JSON value.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            "type": .string(entityType),
            "id": .string(id),
            "clock": clock.jsonValue,
            "fields": .object(registers.mapValues { .array($0.map(\.jsonValue)) }),
        ]
        if !sets.isEmpty { members["sets"] = .object(sets.mapValues { .array($0.map(\.jsonValue)) }) }
        if !conflictHistory.isEmpty { members["history"] = .array(conflictHistory.map(\.jsonValue)) }
        return .object(members)
    }

    /// Reads a record from its JSON form and checks its invariants, like `init(from:)`.
    ///
    /// - Throws: ``SyncEngineError`` with code `invalidRecord` naming the offending key.
    public init(jsonValue: JSONValue) throws {
        let reader = try JSONFieldReader(jsonValue, path: "record")
        let registers = try reader.object("fields").mapValues { try $0.array().map(DottedValue.init(reading:)) }
        let sets = try reader.optionalObject("sets")?.mapValues { try $0.array().map(DottedValue.init(reading:)) }
        try self.init(
            entityType: reader.string("type"),
            id: reader.string("id"),
            clock: VectorClock(reading: reader.member("clock")),
            registers: registers,
            sets: sets ?? [:],
            conflictHistory: reader.optionalArray("history")?.map(ConflictResolution.init(reading:)) ?? []
        )
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
        for (key, value) in try reader.object() {
            let replica = try ReplicaID(key)
            counters[replica] = try value.counter(allowZero: true)
        }
        try self.init(counters)
    }
}

extension Dot {
    /// The dot as `{"replica": …, "counter": …}`.
    public var jsonValue: JSONValue {
        .object(["replica": .string(replica.rawValue), "counter": .integer(Int64(counter))])
    }

    init(reading reader: JSONFieldReader) throws {
        try self.init(
            replica: ReplicaID(reader.string("replica")),
            counter: reader.member("counter").counter(allowZero: false)
        )
    }
}

extension HLCTimestamp {
    /// The stamp as `[physical, logical]`.
    public var jsonValue: JSONValue {
        .array([.integer(Int64(physical)), .integer(Int64(logical))])
    }

    init(reading reader: JSONFieldReader) throws {
        let parts = try reader.array()
        guard parts.count == 2, let physical = parts[0].value.integerValue, let logical = parts[1].value.integerValue,
            physical >= 0, (0...Int64(UInt32.max)).contains(logical)
        else { throw reader.invalid("expected [physical, logical] as two non-negative integers") }
        try self.init(physical: UInt64(physical), logical: UInt32(logical))
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

    init(reading reader: JSONFieldReader) throws {
        try self.init(
            value: FieldValue(reading: reader.member("value")),
            dot: Dot(reading: reader.member("dot")),
            stamp: HLCTimestamp(reading: reader.member("stamp"))
        )
    }
}

extension ConflictResolution {
    /// The entry as `{"field": …, "replaced": […], "resolution": …}`.
    public var jsonValue: JSONValue {
        .object([
            "field": .string(field),
            "replaced": .array(replaced.map(\.jsonValue)),
            "resolution": resolution.jsonValue,
        ])
    }

    init(reading reader: JSONFieldReader) throws {
        try self.init(
            field: reader.string("field"),
            replaced: reader.member("replaced").array().map(DottedValue.init(reading:)),
            resolution: DottedValue(reading: reader.member("resolution"))
        )
    }
}

/// Reads a JSON value with its path, so errors name the offending key: `record.fields.status[0].dot.counter`.
struct JSONFieldReader {
    let value: JSONValue
    let path: String

    init(_ value: JSONValue, path: String) throws {
        self.value = value
        self.path = path
    }

    func invalid(_ message: String) -> SyncEngineError {
        SyncEngineError(code: .invalidRecord, message: "invalid \(path): \(message)")
    }

    func object() throws -> [String: JSONFieldReader] {
        guard case .object(let members) = value else { throw invalid("expected an object, got \(value.typeName)") }
        var readers: [String: JSONFieldReader] = [:]
        readers.reserveCapacity(members.count)
        for (key, member) in members { readers[key] = try JSONFieldReader(member, path: "\(path).\(key)") }
        return readers
    }

    func array() throws -> [JSONFieldReader] {
        guard case .array(let elements) = value else { throw invalid("expected an array, got \(value.typeName)") }
        return try elements.enumerated().map { try JSONFieldReader($0.element, path: "\(path)[\($0.offset)]") }
    }

    func member(_ key: String) throws -> JSONFieldReader {
        guard case .object(let members) = value else { throw invalid("expected an object, got \(value.typeName)") }
        guard let member = members[key] else { throw invalid("missing key '\(key)'") }
        return try JSONFieldReader(member, path: "\(path).\(key)")
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
        // Keys in sorted order, as JSONValue writes them.
        output.append(contentsOf: #"{"clock":"#.utf8)
        clock.writeJSON(into: &output)
        output.append(contentsOf: #","fields":"#.utf8)
        Self.writeFields(registers, into: &output)
        if !conflictHistory.isEmpty {
            output.append(contentsOf: #","history":["#.utf8)
            for (index, entry) in conflictHistory.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output.append(contentsOf: #"{"field":"#.utf8)
                JSONValue.writeString(entry.field, into: &output)
                output.append(contentsOf: #","replaced":["#.utf8)
                for (valueIndex, value) in entry.replaced.enumerated() {
                    if valueIndex > 0 { output.append(UInt8(ascii: ",")) }
                    value.writeJSON(into: &output)
                }
                output.append(contentsOf: #"],"resolution":"#.utf8)
                entry.resolution.writeJSON(into: &output)
                output.append(UInt8(ascii: "}"))
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(contentsOf: #","id":"#.utf8)
        JSONValue.writeString(id, into: &output)
        if !sets.isEmpty {
            output.append(contentsOf: #","sets":"#.utf8)
            Self.writeFields(sets, into: &output)
        }
        output.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(entityType, into: &output)
        output.append(UInt8(ascii: "}"))
    }

    /// The record's compact JSON text.
    public var jsonString: String {
        var output: [UInt8] = []
        output.reserveCapacity(1024)
        writeJSON(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    private static func writeFields(_ fields: [String: [DottedValue]], into output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, name) in fields.keys.sorted().enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(name, into: &output)
            output.append(contentsOf: #":["#.utf8)
            for (valueIndex, value) in fields[name]!.enumerated() {
                if valueIndex > 0 { output.append(UInt8(ascii: ",")) }
                value.writeJSON(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(UInt8(ascii: "}"))
    }
}

extension VectorClock {
    /// Appends the clock's compact JSON, replicas sorted.
    public func writeJSON(into output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, entry) in sortedEntries.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(entry.replica.rawValue, into: &output)
            output.append(UInt8(ascii: ":"))
            output.append(contentsOf: String(entry.counter).utf8)
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

extension DottedValue {
    /// Appends `{"dot":{"counter":…,"replica":…},"stamp":[…],"value":…}`.
    func writeJSON(into output: inout [UInt8]) {
        output.append(contentsOf: #"{"dot":{"counter":"#.utf8)
        output.append(contentsOf: String(dot.counter).utf8)
        output.append(contentsOf: #","replica":"#.utf8)
        JSONValue.writeString(dot.replica.rawValue, into: &output)
        output.append(contentsOf: #"},"stamp":["#.utf8)
        output.append(contentsOf: String(stamp.physical).utf8)
        output.append(UInt8(ascii: ","))
        output.append(contentsOf: String(stamp.logical).utf8)
        output.append(contentsOf: #"],"value":"#.utf8)
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): output.append(contentsOf: String(number).utf8)
        case .string(let text): JSONValue.writeString(text, into: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}
