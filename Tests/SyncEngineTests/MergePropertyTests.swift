import PropertyBased
import SyncEngine
import Testing

/// Properties of the merge over random histories of 3–4 replicas with random edits, exchanges, duplicated and
/// reordered deliveries. Each property checks 300 histories; a failure prints the plan and a seed to replay it.
@Suite struct MergePropertyTests {
    static let histories = 300

    @Test func mergeIsCommutativeAssociativeAndIdempotent() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let simulation = try Simulation.run(plan)
                guard !simulation.archive.isEmpty else { return }
                let archive = simulation.archive
                let a = archive[plan.picks[0] % archive.count]
                let b = archive[plan.picks[1] % archive.count]
                let c = archive[plan.picks[2] % archive.count]

                #expect(try VersionedRecord.merge(a, b) == VersionedRecord.merge(b, a))
                #expect(
                    try VersionedRecord.merge(VersionedRecord.merge(a, b), c)
                        == VersionedRecord.merge(a, VersionedRecord.merge(b, c))
                )
                #expect(try VersionedRecord.merge(a, a) == a)
                let ab = try VersionedRecord.merge(a, b)
                #expect(try VersionedRecord.merge(ab, b) == ab)
                #expect(try VersionedRecord.merge(ab, a) == ab)
            } catch {
                Issue.record(error)
            }
        }
    }

    /// A record's newest stamp (a stored return's `updatedAt`, the stamp a merge checks for drift) is the greatest
    /// of its values' and elements' stamps, whatever the history; `nil` only for a record never written.
    @Test func theLatestStampIsTheNewestOfEveryValue() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let simulation = try Simulation.run(plan)
                for version in simulation.archive {
                    let stamps = (Array(version.registers.values) + Array(version.sets.values)).flatMap { $0 }.map(
                        \.stamp
                    )
                    #expect(version.latestStamp == stamps.max())
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func replicasConvergeWhateverTheOrderAndDuplication() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                #expect(simulation.failures.isEmpty, "\(simulation.failures)")
                try simulation.exchangeAll()
                let converged = simulation.states[0]
                for state in simulation.states.dropFirst() {
                    #expect(state == converged)
                }
                // Folding every version ever seen, shuffled and with duplicates, from an empty record, gives the same.
                var generator = SplitMix64(seed: plan.picks[3])
                let deliveries = (simulation.archive + simulation.archive.prefix(plan.picks[4] % 5)).shuffled(
                    using: &generator
                )
                var folded = VersionedRecord(entityType: "thing", id: "t")
                for version in deliveries { try folded.merge(version) }
                #expect(folded == converged)
                // Same record, same visible values and the same open conflicts on every replica.
                let policy = EntityPolicy()
                for state in simulation.states {
                    #expect(state.openConflicts(policy: policy) == converged.openConflicts(policy: policy))
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func nothingIsLost() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                let converged = simulation.states[0]
                // Each field holds exactly the writes no other write to it had seen: concurrent ones all stay, and
                // only what an edit had seen is replaced.
                for field in Plan.fields {
                    #expect(Set(converged.values(of: field)) == simulation.expectedValues(of: field), "field \(field)")
                }
                // Every resolved conflict is in the history, with its replaced values and their dots.
                #expect(Set(converged.conflictHistory) == Set(simulation.expectedHistory))
                // Every element ever added to the grow-only set survives.
                #expect(Set(converged.elements(of: Plan.setField)) == Set(simulation.additions))
                // The clock counts every edit of every replica, and names only replicas that wrote.
                var expectedClock = VectorClock()
                for write in simulation.writes { expectedClock.merge(write.clock) }
                for addition in simulation.additions {
                    #expect(converged.clock.covers(addition.dot))
                }
                #expect(converged.clock.dominates(expectedClock))
                let writers = Set(simulation.writes.map(\.value.dot.replica) + simulation.additions.map(\.dot.replica))
                #expect(Set(converged.clock.counters.keys) == writers)
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func concurrentEditsOfDifferentFieldsBothSurvive() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                let first = plan.picks[0] % plan.replicaCount
                let second = (first + 1 + plan.picks[1] % (plan.replicaCount - 1)) % plan.replicaCount
                let fieldA = Plan.fields[plan.picks[2] % Plan.fields.count]
                let fieldB = Plan.fields[(plan.picks[2] + 1) % Plan.fields.count]
                try simulation.edit(first, RecordEdit(assignments: [fieldA: "from-first"]))
                try simulation.edit(second, RecordEdit(assignments: [fieldB: "from-second"]))
                let merged = try VersionedRecord.merge(simulation.states[first], simulation.states[second])
                #expect(merged.values(of: fieldA).map(\.value) == ["from-first"])
                #expect(merged.values(of: fieldB).map(\.value) == ["from-second"])
                #expect(!merged.isInConflict(fieldA) && !merged.isInConflict(fieldB))
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func concurrentWritesOfOneFieldStayInConflictUntilResolvedAndTheHistoryKeepsThem() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = try Simulation.run(plan)
                try simulation.exchangeAll()
                let field = Plan.fields[plan.picks[0] % Plan.fields.count]
                // Every replica writes the field without seeing the others.
                for replica in simulation.states.indices {
                    try simulation.edit(replica, RecordEdit(assignments: [field: .string("v\(replica)")]))
                }
                let written = Set(simulation.states.indices.map { FieldValue.string("v\($0)") })
                // Deliver in a random order; each replica ends up with all of them, in conflict.
                try simulation.exchangeAll()
                let converged = simulation.states[0]
                #expect(Set(converged.values(of: field).map(\.value)) == written)
                #expect(converged.isInConflict(field))
                let winner = try #require(converged.visibleValue(of: field, policy: EntityPolicy()))
                for state in simulation.states {
                    #expect(state.visibleValue(of: field, policy: EntityPolicy()) == winner)
                }
                // The default policy shows the latest stamp among them.
                #expect(winner.stamp == converged.values(of: field).map(\.stamp).max())

                // One replica, having seen all of them, resolves the conflict.
                let resolver = plan.picks[1] % plan.replicaCount
                let replaced = converged.values(of: field)
                try simulation.edit(resolver, RecordEdit(assignments: [field: "settled"]))
                try simulation.exchangeAll()
                let resolved = simulation.states[0]
                #expect(resolved.values(of: field).map(\.value) == ["settled"])
                #expect(!resolved.isInConflict(field))
                let entry = try #require(
                    resolved.conflictHistory.first { $0.field == field && $0.resolution.value == "settled" }
                )
                #expect(entry.replaced == replaced)
                #expect(entry.resolution.dot.replica == simulation.replicas[resolver])
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func aVersionAlreadySeenIsKnownAndChangesNothing() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let simulation = try Simulation.run(plan)
                #expect(simulation.failures.isEmpty, "\(simulation.failures)")
                guard !simulation.archive.isEmpty else { return }
                let older = simulation.archive[plan.picks[0] % simulation.archive.count]
                for state in simulation.states where state.hasSeen(older) {
                    var copy = state
                    #expect(try copy.merge(older) == MergeOutcome(changed: false, detectedConflicts: []))
                    #expect(copy == state)
                    #expect(!older.hasChanges(since: state.clock))
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test func policiesChooseTheSameWinnerWhateverTheOrderOfValues() async throws {
        await propertyCheck(count: Self.histories, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var simulation = Simulation(replicaCount: 4)
                for replica in 0..<4 {
                    let value = Plan.values[(plan.picks[replica] / 7) % Plan.values.count]
                    try simulation.edit(replica, RecordEdit(assignments: ["a": value]))
                }
                let values = simulation.states.flatMap { $0.values(of: "a") }
                var generator = SplitMix64(seed: plan.picks[5])
                let shuffled = values.shuffled(using: &generator)
                for policy in [ResolutionPolicy.latestStamp, .ranked(["z", "x"])] {
                    #expect(policy.winner(among: values) == policy.winner(among: shuffled))
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
