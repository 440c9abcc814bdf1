import PropertyBased
import SyncEngine
import Testing

/// A write (dot) has one content wherever it travels: versions that disagree on one are refused
/// (`conflictingWrite`), never merged into replicas that then hold equal clocks and different values.
@Suite struct ConflictingWriteTests {
    static let kiosk = try! ReplicaID("store-1/a")

    static func version(_ reason: FieldValue, stamp: UInt64 = 1_000) throws -> VersionedRecord {
        var record = VersionedRecord(entityType: "return", id: "r")
        try record.apply(
            RecordEdit(assignments: ["reason": reason, "status": "received"], additions: ["notes": ["box dented"]]),
            by: kiosk,
            stamp: HLCTimestamp(physical: stamp)
        )
        return record
    }

    @Test func theSameDotWithAnotherValueIsRefusedEvenWithEqualClocks() throws {
        var honest = try Self.version("defective")
        let twin = try Self.version("damaged")
        #expect(honest.clock == twin.clock)
        #expect {
            try honest.merge(twin)
        } throws: { error in (error as? SyncEngineError)?.code == .conflictingWrite }
        #expect(honest == (try Self.version("defective")), "nothing merged")
    }

    @Test func theSameDotWithAnotherStampIsRefused() throws {
        var honest = try Self.version("defective")
        #expect(throws: SyncEngineError.self) { try honest.merge(Self.version("defective", stamp: 2_000)) }
    }

    @Test func anElementAddedUnderAKnownDotIsRefused() throws {
        var honest = try Self.version("defective")
        let dot = try #require(honest.values(of: "reason").first)
        let forged = try VersionedRecord(
            entityType: "return",
            id: "r",
            clock: honest.clock,
            registers: honest.registers,
            sets: [
                "notes": honest.elements(of: "notes") + [
                    DottedValue(value: "sneaked in", dot: dot.dot, stamp: dot.stamp)
                ]
            ]
        )
        #expect(throws: SyncEngineError.self) { try honest.merge(forged) }
        // And the other way round: the forged side is told too.
        var other = forged
        #expect(throws: SyncEngineError.self) { try other.merge(honest) }
    }

    @Test func aRegisterDroppedAlthoughItsWriteWasSeenIsRefused() throws {
        var honest = try Self.version("defective")
        var registers = honest.registers
        registers["reason"] = nil
        let forged = try VersionedRecord(
            entityType: "return",
            id: "r",
            clock: honest.clock,
            registers: registers,
            sets: honest.sets
        )
        #expect(throws: SyncEngineError.self) { try honest.merge(forged) }
    }

    @Test func aClockAtItsLargestStampRefusesToTickInsteadOfOverflowing() throws {
        var hlc = HybridLogicalClock(latest: try HLCTimestamp(physical: HLCTimestamp.maximumPhysical, logical: .max))
        #expect(throws: SyncEngineError.self) { try hlc.tick(wallClock: .max) }
        #expect(hlc.latest.physical == HLCTimestamp.maximumPhysical)
    }

    @Test func stampsFurtherAheadThanTheDriftBoundAreRefused() throws {
        let now: UInt64 = 1_780_000_000_000
        try HybridLogicalClock.checkDrift(HLCTimestamp(physical: now + HybridLogicalClock.maximumDrift), wallClock: now)
        try HybridLogicalClock.checkDrift(HLCTimestamp(physical: 5), wallClock: now)
        #expect {
            try HybridLogicalClock.checkDrift(
                HLCTimestamp(physical: now + HybridLogicalClock.maximumDrift + 1),
                wallClock: now
            )
        } throws: { error in (error as? SyncEngineError)?.code == .clockSkew }
    }

    /// Honest histories and forged versions (an honest version with one write's content changed under its dot),
    /// merged in any order: every merge either is refused as a conflicting write, or its result has equal clocks
    /// only with versions it equals. So no sequence of pushes leaves two replicas with equal clocks and different
    /// values — the state `unchanged` used to answer.
    @Test func noMergeLeavesEqualClocksWithDifferentValues() async throws {
        await propertyCheck(count: 300, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let simulation = try Simulation.run(plan)
                guard !simulation.archive.isEmpty else { return }
                var generator = SplitMix64(seed: plan.picks[0])
                let honest = simulation.archive
                let forged = honest.shuffled(using: &generator).prefix(6).compactMap {
                    Self.forge($0, using: &generator)
                }
                let versions = honest + forged + simulation.states
                var refusedHonestPairs = 0
                for _ in 0..<60 {
                    let a = versions.randomElement(using: &generator)!
                    let b = versions.randomElement(using: &generator)!
                    var merged = a
                    do {
                        try merged.merge(b)
                    } catch let error as SyncEngineError {
                        #expect(error.code == .conflictingWrite)
                        #expect(merged == a, "a refused merge changes nothing")
                        if !forged.contains(a) && !forged.contains(b) { refusedHonestPairs += 1 }
                        continue
                    }
                    if merged.clock == a.clock { #expect(merged == a, "equal clocks, different values") }
                    if merged.clock == b.clock { #expect(merged == b, "equal clocks, different values") }
                }
                #expect(refusedHonestPairs == 0, "honest versions always merge")
            } catch {
                Issue.record(error)
            }
        }
    }

    /// `version` with one write changed under its own dot, or `nil` when it holds nothing to change.
    static func forge(_ version: VersionedRecord, using generator: inout SplitMix64) -> VersionedRecord? {
        var registers = version.registers
        var sets = version.sets
        switch Int.random(in: 0..<3, using: &generator) {
        case 0:  // another value under the same dot
            guard let field = registers.keys.sorted().randomElement(using: &generator), var values = registers[field]
            else { return nil }
            let index = Int.random(in: values.indices, using: &generator)
            values[index] = DottedValue(value: "forged", dot: values[index].dot, stamp: values[index].stamp)
            registers[field] = values
        case 1:  // another stamp for the same dot
            guard let field = registers.keys.sorted().randomElement(using: &generator), var values = registers[field]
            else { return nil }
            let index = Int.random(in: values.indices, using: &generator)
            values[index] = DottedValue(
                value: values[index].value,
                dot: values[index].dot,
                stamp: values[index].stamp.successor
            )
            registers[field] = values
        default:  // an element added under a dot the version has seen
            guard let any = registers.values.joined().first else { return nil }
            sets[Plan.setField, default: []].append(DottedValue(value: .integer(-1), dot: any.dot, stamp: any.stamp))
        }
        return try? VersionedRecord(
            entityType: version.entityType,
            id: version.id,
            clock: version.clock,
            registers: registers,
            sets: sets,
            conflictHistory: version.conflictHistory
        )
    }
}
