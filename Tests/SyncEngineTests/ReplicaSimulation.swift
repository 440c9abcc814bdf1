import PropertyBased
import SyncEngine

/// A random history of several replicas editing one record and exchanging versions, as plain data so a failing
/// case prints and replays (with its `.fixedSeed`).
struct Plan: Sendable, CustomStringConvertible {
    enum Step: Sendable {
        /// Replica `replica` edits: sets each `(field, value)` and adds `additions` to the set field.
        case edit(replica: Int, assignments: [Int: Int], additions: [Int])
        /// Replica `to` merges replica `from`'s current version.
        case sync(from: Int, to: Int)
        /// Replica `to` merges an old version again: duplicated, late and reordered deliveries.
        case redeliver(version: Int, to: Int)
    }

    static let fields = ["a", "b", "c"]
    static let values: [FieldValue] = ["x", "y", "z", "w"]
    static let setField = "notes"

    var replicaCount: Int
    /// How far each replica's wall clock is off, in milliseconds.
    var skews: [UInt64]
    var steps: [Step]
    /// Random numbers for the checks: which versions to combine, how to shuffle.
    var picks: [Int]

    var description: String {
        "Plan(replicas: \(replicaCount), skews: \(skews), steps: \(steps), picks: \(picks))"
    }

    /// Histories of 3 or 4 replicas and up to 40 steps, about half of them edits.
    static let generator = Generator<Plan, Shrink.None<Plan>>(run: { rng in
        let replicaCount = Int.random(in: 3...4, using: &rng)
        let skews = (0..<replicaCount).map { _ in UInt64.random(in: 0...50, using: &rng) }
        let stepCount = Int.random(in: 1...40, using: &rng)
        var steps: [Step] = []
        for _ in 0..<stepCount {
            let replica = Int.random(in: 0..<replicaCount, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                var assignments: [Int: Int] = [:]
                for field in fields.indices where Bool.random(using: &rng) {
                    assignments[field] = Int.random(in: 0..<values.count, using: &rng)
                }
                let additions = Int.random(in: 0..<4, using: &rng) == 0 ? [Int.random(in: 0..<100, using: &rng)] : []
                if assignments.isEmpty && additions.isEmpty {
                    assignments[Int.random(in: fields.indices, using: &rng)] = 0
                }
                steps.append(.edit(replica: replica, assignments: assignments, additions: additions))
            case 5..<8:
                steps.append(.sync(from: Int.random(in: 0..<replicaCount, using: &rng), to: replica))
            default:
                steps.append(.redeliver(version: Int.random(in: 0..<1000, using: &rng), to: replica))
            }
        }
        let picks = (0..<8).map { _ in Int.random(in: 0..<1_000_000, using: &rng) }
        return Plan(replicaCount: replicaCount, skews: skews, steps: steps, picks: picks)
    })
}

/// Runs a ``Plan`` against real ``VersionedRecord``s and keeps what an oracle needs to judge the result.
struct Simulation {
    /// One register write, with the writer's clock just after it: everything the write had seen.
    struct Write {
        var field: String
        var value: DottedValue
        var clock: VectorClock
    }

    let replicas: [ReplicaID]
    var states: [VersionedRecord]
    var clocks: [HybridLogicalClock]
    /// Every version any replica ever held, in the order they appeared.
    var archive: [VersionedRecord] = []
    var writes: [Write] = []
    var additions: [DottedValue] = []
    /// The history entries the edits must have created: each edit of a field in conflict.
    var expectedHistory: [ConflictResolution] = []
    /// Checks made during the run that failed, described.
    var failures: [String] = []
    private var wallClock: UInt64 = 1_000_000
    private let skews: [UInt64]

    init(replicaCount: Int, skews: [UInt64] = []) {
        replicas = (0..<replicaCount).map { try! ReplicaID("replica-\($0)") }
        states = Array(repeating: VersionedRecord(entityType: "thing", id: "t"), count: replicaCount)
        clocks = Array(repeating: HybridLogicalClock(), count: replicaCount)
        self.skews = skews.isEmpty ? Array(repeating: 0, count: replicaCount) : skews
    }

    static func run(_ plan: Plan) throws -> Simulation {
        var simulation = Simulation(replicaCount: plan.replicaCount, skews: plan.skews)
        for step in plan.steps {
            try simulation.perform(step)
        }
        return simulation
    }

    mutating func perform(_ step: Plan.Step) throws {
        switch step {
        case .edit(let replica, let assignments, let additions):
            var edit = RecordEdit()
            for (field, value) in assignments { edit.set(Plan.fields[field], to: Plan.values[value]) }
            for addition in additions { edit.add(.integer(Int64(addition)), to: Plan.setField) }
            try self.edit(replica, edit)
        case .sync(let from, let to):
            try receive(states[from], at: to)
        case .redeliver(let version, let to):
            if !archive.isEmpty { try receive(archive[version % archive.count], at: to) }
        }
    }

    mutating func edit(_ replica: Int, _ edit: RecordEdit) throws {
        wallClock += 10
        let stamp = try clocks[replica].tick(wallClock: wallClock + skews[replica])
        let before = states[replica]
        let dot = try states[replica].apply(edit, by: replicas[replica], stamp: stamp)
        let after = states[replica]
        for (field, value) in edit.assignments {
            let written = DottedValue(value: value, dot: dot, stamp: stamp)
            writes.append(Write(field: field, value: written, clock: after.clock))
            if before.isInConflict(field) {
                expectedHistory.append(
                    ConflictResolution(field: field, replaced: before.values(of: field), resolution: written)
                )
            }
            // An edit that dominates replaces everything the field held.
            if after.values(of: field) != [written] {
                failures.append("edit \(dot) left \(after.values(of: field)) in '\(field)'")
            }
        }
        for (_, elements) in edit.additions {
            additions += elements.map { DottedValue(value: $0, dot: dot, stamp: stamp) }
        }
        if after.clock[replicas[replica]] != before.clock[replicas[replica]] + 1 {
            failures.append("edit \(dot) did not increment its replica's counter exactly once")
        }
        archive.append(after)
    }

    mutating func receive(_ version: VersionedRecord, at replica: Int) throws {
        if let stamp = version.latestStamp { clocks[replica].witness(stamp) }
        let alreadyKnown = states[replica].hasSeen(version)
        let before = states[replica]
        let outcome = try states[replica].merge(version)
        if alreadyKnown && (outcome.changed || states[replica] != before) {
            failures.append("merging a known version changed replica \(replica)")
        }
        archive.append(states[replica])
    }

    /// Every replica merges every other's version, twice around, so all have seen everything.
    mutating func exchangeAll() throws {
        for _ in 0..<2 {
            for from in states.indices {
                for to in states.indices where to != from {
                    try receive(states[from], at: to)
                }
            }
        }
    }

    /// What a converged record must hold in `field`: every write no other write to the field had seen.
    func expectedValues(of field: String) -> Set<DottedValue> {
        let fieldWrites = writes.filter { $0.field == field }
        return Set(
            fieldWrites.filter { write in
                !fieldWrites.contains { other in
                    other.value.dot != write.value.dot && other.clock.covers(write.value.dot)
                }
            }.map(\.value)
        )
    }
}

/// A small deterministic generator for shuffles inside a check, seeded from a plan's picks.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: Int) { state = UInt64(truncatingIfNeeded: seed) }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
