import PropertyBased
import SyncEngine
import Synchronization
import Testing

/// Issue 22: a kiosk drops the settled-conflict history HQ holds (``VersionedRecord/droppingHistory(coveredBy:)``),
/// and that changes nothing anyone sees or merges to. Random histories of a hub (replica 0, HQ) and kiosks that
/// sync only through it, run twice in lockstep — once as they are, once with kiosks dropping what the hub's clock
/// covers at random moments. After every step the hubs are identical, history included; each kiosk holds the same
/// clock, values and elements, so shows the same values and open conflicts, and its history is part of the plain
/// run's; no merge is refused. Once everyone has synced, the hub holds every settlement ever made.
@Suite struct HistoryCompactionPropertyTests {
    @Test func compactionNeverChangesWhatAnyReplicaShowsOrMergesTo() async throws {
        let dropped = Mutex(0)
        await propertyCheck(count: 300, input: Plan.generator) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var plain = Simulation(replicaCount: plan.replicaCount, skews: plan.skews)
                var compacted = plain
                var random = SplitMix64(seed: plan.picks[5])
                var compactions = 0
                for step in plan.steps {
                    for routed in Self.throughTheHub(step) {
                        try plain.perform(routed)
                        try compacted.perform(routed)
                    }
                    if random.next() % 3 == 0 {
                        let kiosk = 1 + Int(random.next() % UInt64(plan.replicaCount - 1))
                        let before = compacted.states[kiosk]
                        compacted.states[kiosk] = before.droppingHistory(coveredBy: compacted.states[0].clock)
                        if compacted.states[kiosk] != before { compactions += 1 }
                    }
                    Self.expectSameStory(plain, compacted, "\(plan) after \(step)")
                }
                for _ in 0..<2 {
                    for kiosk in 1..<plan.replicaCount {
                        try plain.receive(plain.states[kiosk], at: 0)
                        try compacted.receive(compacted.states[kiosk], at: 0)
                    }
                    for kiosk in 1..<plan.replicaCount {
                        try plain.receive(plain.states[0], at: kiosk)
                        try compacted.receive(compacted.states[0], at: kiosk)
                    }
                }
                Self.expectSameStory(plain, compacted, "\(plan) once all synced")
                #expect(Set(compacted.states[0].conflictHistory) == Set(plain.expectedHistory), "\(plan)")
                #expect(compacted.failures.isEmpty, "\(compacted.failures)")
                dropped.withLock { $0 += compactions }
            } catch {
                Issue.record("\(plan): \(error)")
            }
        }
        // The histories really were compacted, many times over.
        #expect(dropped.withLock { $0 } >= 50, "\(dropped.withLock { $0 }) compactions dropped anything")
    }

    /// A sync between two kiosks goes through the hub, as it does in the product: the kiosk pushes, the other pulls.
    static func throughTheHub(_ step: Plan.Step) -> [Plan.Step] {
        guard case .sync(let from, let to) = step, from != 0, to != 0 else { return [step] }
        return [.sync(from: from, to: 0), .sync(from: 0, to: to)]
    }

    static func expectSameStory(_ plain: Simulation, _ compacted: Simulation, _ context: String) {
        #expect(compacted.states[0] == plain.states[0], "the hub's version differs: \(context)")
        let policy = EntityPolicy()
        for kiosk in 1..<plain.states.count {
            let mine = compacted.states[kiosk]
            let theirs = plain.states[kiosk]
            #expect(mine.holdsTheSameWrites(as: theirs), "kiosk \(kiosk): \(context)")
            for field in Plan.fields {
                #expect(mine.visibleValue(of: field, policy: policy) == theirs.visibleValue(of: field, policy: policy))
            }
            #expect(mine.openConflicts(policy: policy) == theirs.openConflicts(policy: policy))
            #expect(Set(mine.conflictHistory).isSubset(of: theirs.conflictHistory), "kiosk \(kiosk): \(context)")
        }
    }
}
