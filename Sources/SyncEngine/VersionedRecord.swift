import ReturnSyncJSON

/// One version of a replicated record: its vector clock and its fields, each value tagged with its write's dot.
///
/// A record has two kinds of field:
/// - **registers** (multi-value registers) hold one value, or several *concurrent* values when replicas wrote the
///   field without seeing each other's writes. A field holding several distinct values is *in conflict*; an
///   ``EntityPolicy`` chooses which one is visible, the same on every replica, and a later edit that has seen them
///   all resolves the conflict, leaving the replaced values in ``conflictHistory``.
/// - **grow-only sets** collect every element ever added (notes, say); concurrent additions never conflict.
///
/// ``merge(_:_:)`` is a join (commutative, associative, idempotent), so replicas that exchange versions in any
/// order, with duplicates, converge to the same record.
public struct VersionedRecord: Hashable, Sendable {
    /// The kind of entity, such as `"return"`.
    public let entityType: String
    /// The record's id, unique within its entity type.
    public let id: String
    /// Every write this version has seen.
    public private(set) var clock: VectorClock {
        didSet { compactJSON = nil }
    }
    /// Register fields: each holds its concurrent values in canonical order; never empty.
    public private(set) var registers: [String: [DottedValue]] {
        didSet { compactJSON = nil }
    }
    /// Grow-only-set fields: each holds every element added, in canonical order; never empty.
    public private(set) var sets: [String: [DottedValue]] {
        didSet { compactJSON = nil }
    }
    /// Conflicts resolved so far, in canonical order.
    public private(set) var conflictHistory: [ConflictResolution] {
        didSet { compactJSON = nil }
    }
    /// The record's JSON exactly as ``writeJSON(into:)`` writes it, when the record was read from such bytes and
    /// has not changed since: a pushed or pulled record is then stored as it came instead of written again
    /// (issue 18, "bytes in, bytes stored"). Any change of a part drops it (the `didSet`s); it takes no part in
    /// equality.
    var compactJSON: String?

    public static func == (lhs: VersionedRecord, rhs: VersionedRecord) -> Bool {
        lhs.entityType == rhs.entityType && lhs.id == rhs.id && lhs.clock == rhs.clock
            && lhs.registers == rhs.registers && lhs.sets == rhs.sets && lhs.conflictHistory == rhs.conflictHistory
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entityType)
        hasher.combine(id)
        hasher.combine(clock)
        hasher.combine(registers)
        hasher.combine(sets)
        hasher.combine(conflictHistory)
    }

    /// Creates an empty record that no replica has written yet.
    public init(entityType: String, id: String) {
        self.entityType = entityType
        self.id = id
        self.clock = VectorClock()
        self.registers = [:]
        self.sets = [:]
        self.conflictHistory = []
    }

    /// Creates a record from its parts, checking that it is internally consistent.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/invalidRecord`` when a value's dot is not covered by
    ///   `clock`, when a field is empty or is both a register and a set, or when a register holds one dot twice.
    public init(
        entityType: String,
        id: String,
        clock: VectorClock,
        registers: [String: [DottedValue]],
        sets: [String: [DottedValue]] = [:],
        conflictHistory: [ConflictResolution] = []
    ) throws {
        // A record with several faults names the first in field order: which one a dictionary's order happens to
        // meet first would differ from one decoding to the next. The order is only needed once a fault is found.
        if let fault =
            Self.firstFault(registers: registers, sets: sets, history: conflictHistory, clock: clock, sorted: false)
        {
            let first = Self.firstFault(
                registers: registers,
                sets: sets,
                history: conflictHistory,
                clock: clock,
                sorted: true
            )
            throw SyncEngineError(
                code: .invalidRecord,
                message: "invalid record \(entityType) '\(id)': \(first ?? fault)"
            )
        }
        self.entityType = entityType
        self.id = id
        self.clock = clock
        self.registers = registers.allSatisfy { $0.value.count == 1 } ? registers : registers.mapValues { $0.sorted() }
        self.sets = sets.allSatisfy { $0.value.count == 1 } ? sets : sets.mapValues { Self.canonical($0) }
        self.conflictHistory = Self.canonical(conflictHistory)
    }

    /// What is wrong with a record's parts, if anything: the first fault met, in field order when `sorted`.
    private static func firstFault(
        registers: [String: [DottedValue]],
        sets: [String: [DottedValue]],
        history: [ConflictResolution],
        clock: VectorClock,
        sorted: Bool
    ) -> String? {
        // Fields with their values, as the dictionary holds them or in field order: no lookup per field.
        typealias Fields = Sequence<(key: String, value: [DottedValue])>
        // Whether any field is both: asked of each register only then, so a record's fields are not hashed once
        // more each (a return's sets are a few, its registers dozens; issue 18).
        let overlaps = !sets.isEmpty && sets.keys.contains { registers[$0] != nil }
        func registerFault(_ fields: some Fields) -> String? {
            for (field, values) in fields {
                guard !values.isEmpty else { return "register '\(field)' holds no value" }
                // Almost every register holds one value; only conflicts need the duplicate check.
                guard values.count == 1 || Set(values.map(\.dot)).count == values.count else {
                    return "register '\(field)' holds one dot twice"
                }
                if let stray = values.first(where: { !clock.covers($0.dot) }) {
                    return "value of '\(field)' has dot \(stray.dot) beyond the record's clock \(clock)"
                }
                if overlaps, sets[field] != nil { return "field '\(field)' is both a register and a set" }
            }
            return nil
        }
        func setFault(_ fields: some Fields) -> String? {
            for (field, elements) in fields {
                guard !elements.isEmpty else { return "set '\(field)' holds no element" }
                if let stray = elements.first(where: { !clock.covers($0.dot) }) {
                    return "element of '\(field)' has dot \(stray.dot) beyond the record's clock \(clock)"
                }
            }
            return nil
        }
        func inOrder(_ fields: [String: [DottedValue]]) -> [(key: String, value: [DottedValue])] {
            fields.sorted { $0.key < $1.key }
        }
        if let fault = sorted ? registerFault(inOrder(registers)) : registerFault(registers) { return fault }
        if let fault = sorted ? setFault(inOrder(sets)) : setFault(sets) { return fault }
        for entry in history where !clock.covers(entry.resolution.dot) {
            return "history entry of '\(entry.field)' has dot \(entry.resolution.dot) beyond the clock \(clock)"
        }
        return nil
    }

    // MARK: Reading

    /// The values register `field` holds: one, several when in conflict, none when never written.
    public func values(of field: String) -> [DottedValue] {
        registers[field] ?? []
    }

    /// The elements grow-only-set `field` holds.
    public func elements(of field: String) -> [DottedValue] {
        sets[field] ?? []
    }

    /// The value of `field` that every replica shows, chosen by `policy` when the field is in conflict.
    public func visibleValue(of field: String, policy: EntityPolicy) -> DottedValue? {
        guard let values = registers[field] else { return nil }
        if values.count == 1 { return values[0] }
        return policy.policy(for: field).winner(among: values)
    }

    /// Whether register `field` holds more than one distinct value.
    ///
    /// Equal values written concurrently (two kiosks both marking a return inspected) are not a conflict: there is
    /// nothing to choose between.
    public func isInConflict(_ field: String) -> Bool {
        guard let values = registers[field], values.count > 1 else { return false }
        let first = values[0].value
        return values.contains { $0.value != first }
    }

    /// Whether any register is in conflict; cheaper than ``openConflicts(policy:)`` when only that is needed.
    public var hasOpenConflicts: Bool {
        // Over the values, not the keys: no field name is hashed (this runs on every stored write).
        registers.values.contains { values in values.count > 1 && values.contains { $0.value != values[0].value } }
    }

    /// The open conflicts, by field name, each with the value its policy shows.
    public func openConflicts(policy: EntityPolicy) -> [FieldConflict] {
        registers.keys.sorted().compactMap { field in
            guard isInConflict(field), let values = registers[field],
                let winner = policy.policy(for: field).winner(among: values)
            else { return nil }
            return FieldConflict(field: field, values: values, winner: winner)
        }
    }

    /// The greatest stamp of any value or element, or `nil` for a record never written.
    public var latestStamp: HLCTimestamp? {
        // Plain loops: the lazy `joined` sequences and the array of both maxima this was cost a kiosk's pull about
        // a twelfth of preparing each page (twice a record: its return's `updatedAt`, its write's drift check).
        var newest: HLCTimestamp?
        for values in registers.values {
            for value in values where newest.map({ value.stamp > $0 }) ?? true { newest = value.stamp }
        }
        for values in sets.values {
            for value in values where newest.map({ value.stamp > $0 }) ?? true { newest = value.stamp }
        }
        return newest
    }

    /// Whether this version has seen every write `other` has seen, so merging `other` would change nothing.
    ///
    /// This is the cheap test that makes sync idempotent: a version already known is acknowledged, not merged.
    public func hasSeen(_ other: VersionedRecord) -> Bool {
        clock.dominates(other.clock)
    }

    /// Whether this version holds writes that a peer whose knowledge of the record is `clock` has not seen.
    public func hasChanges(since clock: VectorClock) -> Bool {
        !clock.dominates(self.clock)
    }

    // MARK: Writing

    /// Applies a local edit made at `replica`, and returns the edit's dot.
    ///
    /// The replica's counter is incremented once. Every register the edit sets then holds exactly one value, tagged
    /// with the new dot: the edit has seen, and so replaces, every value the field held. When the field was in
    /// conflict, the replaced values are added to ``conflictHistory``.
    ///
    /// - Parameters:
    ///   - edit: what to set and add.
    ///   - replica: the replica making the edit.
    ///   - stamp: a stamp from `replica`'s ``HybridLogicalClock``.
    /// - Throws: ``SyncEngineError/Code-swift.struct/emptyEdit`` for an edit that changes nothing, and
    ///   ``SyncEngineError/Code-swift.struct/fieldKindMismatch`` when the edit sets a set or adds to a register.
    @discardableResult
    public mutating func apply(_ edit: RecordEdit, by replica: ReplicaID, stamp: HLCTimestamp) throws -> Dot {
        guard !edit.isEmpty else {
            throw SyncEngineError(code: .emptyEdit, message: "an edit of \(entityType) '\(id)' must change something")
        }
        for field in edit.assignments.keys where sets[field] != nil || edit.additions[field] != nil {
            throw SyncEngineError(
                code: .fieldKindMismatch,
                message: "field '\(field)' of \(entityType) '\(id)' is a grow-only set: add to it, do not set it"
            )
        }
        for field in edit.additions.keys where registers[field] != nil {
            throw SyncEngineError(
                code: .fieldKindMismatch,
                message: "field '\(field)' of \(entityType) '\(id)' is a register: set it, do not add to it"
            )
        }

        let dot = clock.increment(replica)
        for (field, value) in edit.assignments {
            let written = DottedValue(value: value, dot: dot, stamp: stamp)
            if isInConflict(field), let replaced = registers[field] {
                insertHistory(ConflictResolution(field: field, replaced: replaced, resolution: written))
            }
            registers[field] = [written]
        }
        for (field, elements) in edit.additions where !elements.isEmpty {
            let added = elements.map { DottedValue(value: $0, dot: dot, stamp: stamp) }
            sets[field] = Self.canonical((sets[field] ?? []) + added)
        }
        return dot
    }

    // MARK: Merging

    /// The join of two versions of the same record.
    ///
    /// Per register: a value of one side is kept unless the other side's clock covers its dot and the other side no
    /// longer holds it (it was overwritten there); values both sides hold stay. Grow-only sets and the conflict
    /// history are unions; the clock is the pointwise maximum. No winner is chosen here: that would not be
    /// associative with three or more replicas.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/recordMismatch`` when the versions belong to different records.
    public static func merge(_ a: VersionedRecord, _ b: VersionedRecord) throws -> VersionedRecord {
        var result = a
        try result.merge(b)
        return result
    }

    /// Merges `other` into this version.
    ///
    /// - Returns: whether anything changed, and which conflicts the merge detected.
    /// - Throws: ``SyncEngineError/Code-swift.struct/recordMismatch`` when `other` is a version of another record.
    @discardableResult
    public mutating func merge(_ other: VersionedRecord) throws -> MergeOutcome {
        guard entityType == other.entityType, id == other.id else {
            throw SyncEngineError(
                code: .recordMismatch,
                message: "cannot merge \(other.entityType) '\(other.id)' into \(entityType) '\(id)'"
            )
        }
        // Checked before anything else: equal clocks with different contents must not pass as "known".
        try checkConsistency(with: other)
        let mineDominates = clock.dominates(other.clock)
        let theirsDominate = other.clock.dominates(clock)
        var joined = self
        let outcome = joined.join(other)
        // The catch-all behind the detailed checks above: a version that has seen every write of the other holds, in
        // any honest history, exactly their join's values. If it does not, the two disagree about some write, and
        // accepting either as the merge would leave two replicas with equal clocks and different values. The
        // conflict history is left out: a kiosk drops settled entries HQ holds (``droppingHistory(coveredBy:)``), so
        // a version that has seen everything may hold fewer of them; the join keeps the union.
        if (mineDominates && !joined.holdsTheSameWrites(as: self))
            || (theirsDominate && !joined.holdsTheSameWrites(as: other))
        {
            throw SyncEngineError(
                code: .conflictingWrite,
                message: "\(entityType) '\(id)': a version that has seen every write of the other holds them "
                    + "differently"
            )
        }
        if mineDominates { return MergeOutcome(changed: false, detectedConflicts: []) }
        self = joined
        return outcome
    }

    /// Whether both versions hold the same clock, values and elements (their conflict histories aside).
    public func holdsTheSameWrites(as other: VersionedRecord) -> Bool {
        clock == other.clock && registers == other.registers && sets == other.sets
    }

    /// This version without the conflict-history entries whose resolving write `clock` covers.
    ///
    /// The history is an audit of settled conflicts: no visible value, open conflict or merge result of the fields
    /// depends on it. A kiosk keeps none of it once HQ holds it (pass the clock of the version HQ acknowledged): HQ
    /// keeps every entry (its EPCIS export declares the replaced values), a merge there takes the union again, and
    /// a dominating version lacking entries is not a conflicting write (``merge(_:)``). So a kiosk's storage does
    /// not grow with every conflict a return ever had.
    public func droppingHistory(coveredBy clock: VectorClock) -> VersionedRecord {
        guard conflictHistory.contains(where: { clock.covers($0.resolution.dot) }) else { return self }
        var result = self
        result.conflictHistory.removeAll { clock.covers($0.resolution.dot) }
        return result
    }

    /// Joins `other` into this version, without checks.
    private mutating func join(_ other: VersionedRecord) -> MergeOutcome {
        var detected: [String] = []
        var mergedRegisters: [String: [DottedValue]] = [:]
        mergedRegisters.reserveCapacity(max(registers.count, other.registers.count))
        for field in Set(registers.keys).union(other.registers.keys) {
            let mine = registers[field] ?? []
            let theirs = other.registers[field] ?? []
            let kept = Self.joinRegister(mine, clock, theirs, other.clock)
            guard !kept.isEmpty else { continue }
            mergedRegisters[field] = kept
            if kept != mine, kept.count > 1, kept.contains(where: { $0.value != kept[0].value }) {
                detected.append(field)
            }
        }
        let before = (registers, sets, conflictHistory)
        registers = mergedRegisters
        for (field, elements) in other.sets {
            sets[field] = Self.canonical((sets[field] ?? []) + elements)
        }
        if !other.conflictHistory.isEmpty {
            conflictHistory = Self.canonical(conflictHistory + other.conflictHistory)
        }
        let previousClock = clock
        clock.merge(other.clock)
        let changed =
            clock != previousClock || before.0 != registers || before.1 != sets || before.2 != conflictHistory
        return MergeOutcome(changed: changed, detectedConflicts: detected.sorted())
    }

    /// Checks that `other` tells the same story as this version about every write both have seen.
    ///
    /// A write — a dot — has one stamp and one set of values, wherever it travels. Two versions that disagree on
    /// one (a value or stamp changed under a known dot, an element added under a dot the other side saw without
    /// it, a register dropped although its every write was seen) cannot both be honest, and merging them would
    /// leave replicas with equal clocks and different values for ever.
    ///
    /// - Throws: ``SyncEngineError/Code-swift.struct/conflictingWrite`` naming the field and the dot.
    public func checkConsistency(with other: VersionedRecord) throws {
        func conflicting(_ field: String, _ dot: Dot, _ what: String) -> SyncEngineError {
            SyncEngineError(
                code: .conflictingWrite,
                message: "\(entityType) '\(id)': write \(dot) of '\(field)' \(what) in the two versions"
            )
        }
        var stamps: [Dot: HLCTimestamp] = [:]
        for value in registers.values.joined() { stamps[value.dot] = value.stamp }
        for value in sets.values.joined() { stamps[value.dot] = value.stamp }
        for (field, values) in other.registers {
            for value in values where stamps[value.dot].map({ $0 != value.stamp }) ?? false {
                throw conflicting(field, value.dot, "has different stamps")
            }
            let mine = registers[field] ?? []
            for value in values {
                if let held = mine.first(where: { $0.dot == value.dot }), held != value {
                    throw conflicting(field, value.dot, "holds different values")
                }
            }
            if mine.isEmpty, values.allSatisfy({ clock.covers($0.dot) }) {
                throw conflicting(field, values[0].dot, "is missing from one")
            }
        }
        for (field, values) in registers where other.registers[field] == nil {
            if values.allSatisfy({ other.clock.covers($0.dot) }) {
                throw conflicting(field, values[0].dot, "is missing from one")
            }
        }
        for (field, elements) in other.sets {
            let mine = sets[field] ?? []
            for element in elements {
                if stamps[element.dot].map({ $0 != element.stamp }) ?? false {
                    throw conflicting(field, element.dot, "has different stamps")
                }
                if clock.covers(element.dot), !mine.contains(element) {
                    throw conflicting(field, element.dot, "adds different elements")
                }
            }
        }
        for (field, elements) in sets {
            let theirs = other.sets[field] ?? []
            for element in elements where other.clock.covers(element.dot) && !theirs.contains(element) {
                throw conflicting(field, element.dot, "adds different elements")
            }
        }
    }

    /// The values and set elements of this version written by writes `clock` has not seen: what merging this
    /// version into a replica whose version has `clock` brings that is new.
    public func writes(notCoveredBy clock: VectorClock) -> [(field: String, value: DottedValue)] {
        var found: [(field: String, value: DottedValue)] = []
        for (field, values) in registers {
            for value in values where !clock.covers(value.dot) { found.append((field, value)) }
        }
        for (field, elements) in sets {
            for element in elements where !clock.covers(element.dot) { found.append((field, element)) }
        }
        return found
    }

    private static func joinRegister(
        _ mine: [DottedValue],
        _ myClock: VectorClock,
        _ theirs: [DottedValue],
        _ theirClock: VectorClock
    ) -> [DottedValue] {
        var kept: [DottedValue] = []
        kept.reserveCapacity(mine.count + theirs.count)
        for value in mine where theirs.contains(value) || !theirClock.covers(value.dot) {
            kept.append(value)
        }
        for value in theirs where !mine.contains(value) && !myClock.covers(value.dot) {
            kept.append(value)
        }
        if kept.count > 1 { kept.sort() }
        return kept
    }

    private mutating func insertHistory(_ entry: ConflictResolution) {
        conflictHistory = Self.canonical(conflictHistory + [entry])
    }

    private static func canonical<T: Comparable>(_ items: [T]) -> [T] {
        var result = items.sorted()
        var index = result.startIndex
        // Remove adjacent duplicates in place: the array is sorted, so equal items are neighbours.
        while index < result.endIndex {
            let next = result.index(after: index)
            if next < result.endIndex, result[next] == result[index] {
                result.remove(at: next)
            } else {
                index = next
            }
        }
        return result
    }
}

extension VersionedRecord {
    /// This version with every value of `replica`'s writes passed through `rewrite` (given its field): the way a
    /// replica corrects the stamps of its own writes that no other replica holds yet (a kiosk whose clock was wrong,
    /// ``HybridLogicalClock``), before they travel. The clock and every dot stay; values of other replicas' writes
    /// are untouched.
    ///
    /// One write, one content: `rewrite` must give the same stamp for every value of one write, whichever field
    /// holds it — a function of the old stamp does.
    public func rewritingWrites(
        of replica: ReplicaID,
        _ rewrite: (_ field: String, _ value: DottedValue) -> DottedValue
    ) -> VersionedRecord {
        func rewritten(_ field: String, _ value: DottedValue) -> DottedValue {
            guard value.dot.replica == replica else { return value }
            let new = rewrite(field, value)
            precondition(new.dot == value.dot, "a rewrite keeps the write's dot")
            return new
        }
        var result = self
        for (field, values) in registers where values.contains(where: { $0.dot.replica == replica }) {
            result.registers[field] = values.map { rewritten(field, $0) }.sorted()
        }
        for (field, elements) in sets where elements.contains(where: { $0.dot.replica == replica }) {
            result.sets[field] = Self.canonical(elements.map { rewritten(field, $0) })
        }
        if conflictHistory.contains(where: { entry in
            entry.resolution.dot.replica == replica || entry.replaced.contains { $0.dot.replica == replica }
        }) {
            result.conflictHistory = Self.canonical(
                conflictHistory.map { entry in
                    ConflictResolution(
                        field: entry.field,
                        replaced: entry.replaced.map { rewritten(entry.field, $0) },
                        resolution: rewritten(entry.field, entry.resolution)
                    )
                }
            )
        }
        return result
    }
}

extension VersionedRecord: Codable {
    /// Decodes a record from its compact JSON form and checks its invariants, so a malformed or forged record
    /// never enters a replica.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        do {
            try self.init(jsonValue: value)
        } catch let error as SyncEngineError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.message)
            )
        }
    }

    /// Encodes the record in its compact JSON form (see ``jsonValue``).
    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}
