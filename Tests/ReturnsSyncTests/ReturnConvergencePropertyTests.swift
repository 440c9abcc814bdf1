import Foundation
import PropertyBased
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

/// Random days at a store: two kiosks and HQ run lifecycle operations on one return while apart, exchange
/// versions in random orders, and must agree on the return, its conflicts and its review flags.
@Suite struct ReturnConvergencePropertyTests {
    /// One step: replica `replica` runs operation `operation` (with `argument` picking its value), or, for
    /// operations 5 and above, merges replica `argument`'s version.
    struct Step: Sendable {
        var replica: Int
        var operation: Int
        var argument: Int
    }

    static let steps = Generator<[Step], Shrink.None<[Step]>>(run: { rng in
        (0..<Int.random(in: 1...30, using: &rng)).map { _ in
            Step(
                replica: Int.random(in: 0..<3, using: &rng),
                operation: Int.random(in: 0..<8, using: &rng),
                argument: Int.random(in: 0..<100, using: &rng)
            )
        }
    })

    @Test func replicasAgreeOnTheReturnItsConflictsAndItsReviewFlags() async throws {
        await propertyCheck(count: 300, input: Self.steps) { steps in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let replicas = try ["store-1/kiosk-a", "store-1/kiosk-b", "hq"].map(ReplicaID.init)
                var clocks = Array(repeating: HybridLogicalClock(), count: 3)
                let created = Date(millisecondsSince1970: 1_780_000_000_000)
                let item = try ProductReturn(
                    id: ReturnID.make(at: created),
                    storeID: StoreID("store-1"),
                    kioskID: KioskID("kiosk-a"),
                    orderID: OrderID("O-1"),
                    gtin: GTIN("96385074"),
                    reason: ReturnReason.allCases[steps.count % ReturnReason.allCases.count],
                    createdAt: created
                )
                let record = try ReturnEntity.makeRecord(
                    for: item,
                    by: replicas[0],
                    stamp: clocks[0].tick(wallClock: 1_780_000_000_000)
                )
                var states = Array(repeating: record, count: 3)
                var notes: Set<String> = []
                var wallClock: UInt64 = 1_780_000_000_000

                for (index, step) in steps.enumerated() {
                    wallClock += 1_000
                    let replica = replicas[step.replica]
                    if step.operation >= 5 {
                        try states[step.replica].merge(states[step.argument % 3])
                        continue
                    }
                    let before = states[step.replica]
                    let stamp = try clocks[step.replica].tick(wallClock: wallClock)
                    do {
                        try states[step.replica].updateReturn(by: replica, stamp: stamp) { item, author, date in
                            let note = "note \(index)"
                            switch step.operation {
                            case 0:
                                let conditions = ItemCondition.allCases.filter { $0 != .unknown }
                                return try item.inspect(
                                    condition: conditions[step.argument % conditions.count],
                                    testResult: TestResult.allCases[step.argument % 3],
                                    by: author,
                                    at: date
                                )
                            case 1:
                                let choices = Disposition.allCases.filter { $0 != .undecided }
                                return try item.assignDisposition(
                                    choices[step.argument % choices.count],
                                    by: author,
                                    at: date
                                )
                            case 2:
                                return try item.close(at: date)
                            case 3 where step.argument < 15:
                                return try item.void(note: note, by: author, at: date)
                            default:
                                return try item.addNote(note, by: author, at: date)
                            }
                        }
                        let added = Set(try ProductReturn(record: states[step.replica]).notes.map(\.text))
                            .subtracting(try ProductReturn(record: before).notes.map(\.text))
                        notes.formUnion(added)
                    } catch is ReturnsModelError {
                        // A refused operation leaves the replica's record exactly as it was.
                        #expect(states[step.replica] == before)
                    }
                }

                for _ in 0..<2 {
                    for from in 0..<3 {
                        for to in 0..<3 where to != from { try states[to].merge(states[from]) }
                    }
                }
                let converged = states[0]
                #expect(states.allSatisfy { $0 == converged })
                let shown = try states.map { try ProductReturn(record: $0) }
                #expect(shown.allSatisfy { $0 == shown[0] })
                let flags = try states.map { try $0.returnRuleViolations() }
                #expect(flags.allSatisfy { $0 == flags[0] })
                #expect(
                    states.allSatisfy {
                        $0.openConflicts(policy: ReturnEntity.policy)
                            == converged.openConflicts(policy: ReturnEntity.policy)
                    }
                )
                // Notes are a grow-only set: every note added anywhere is on the converged return.
                #expect(Set(shown[0].notes.map(\.text)) == notes)
                // A status or disposition in conflict shows the value its domain order prefers.
                for conflict in converged.openConflicts(policy: ReturnEntity.policy) {
                    let candidates = conflict.values.map(\.value.description)
                    if conflict.field == ReturnEntity.Field.status {
                        let best = ReturnStatus.precedenceOrder.first { candidates.contains($0.rawValue) }
                        #expect(shown[0].status == best)
                    }
                    if conflict.field == ReturnEntity.Field.disposition {
                        let best = Disposition.safetyOrder.first { candidates.contains($0.rawValue) }
                        #expect(shown[0].disposition == best)
                    }
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
