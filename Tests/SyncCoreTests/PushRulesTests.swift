import Foundation
import PropertyBased
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncCore
import SyncEngine
import Testing

/// The push rules without sockets or SQLite: an in-memory server answers their questions.
struct MemoryPushTransaction: PushTransaction {
    var serverID = try! ReplicaID("hq")
    var formerServerIDs: Set<ReplicaID> = []
    /// Enrolled kiosks, as `STORE/KIOSK`.
    var kiosks: Set<String> = []
    var returns: [String: VersionedRecord] = [:]
    var wallClock: UInt64 = 1_780_000_100_000
    var reverified: [String] = []

    func isServer(_ replica: ReplicaID) -> Bool { replica == serverID || formerServerIDs.contains(replica) }

    mutating func mayPassOn(writesOf replica: ReplicaID, store: StoreID) throws -> Bool {
        formerServerIDs.contains(replica)
            || kiosks.contains(replica.rawValue) && replica.rawValue.hasPrefix("\(store)/")
            || !formerServerIDs.isEmpty && replica.rawValue.hasPrefix("\(store)/")
    }

    mutating func storedReturn(_ id: String) throws -> VersionedRecord? { returns[id] }

    mutating func merge(
        _ pushed: VersionedRecord,
        into stored: VersionedRecord?,
        item: ProductReturn,
        source: ReplicaID
    ) throws -> MergeOutcome {
        if let newest = pushed.latestStamp { try HybridLogicalClock.checkDrift(newest, wallClock: wallClock) }
        guard var stored else {
            returns[pushed.id] = pushed
            return MergeOutcome(
                changed: true,
                detectedConflicts: pushed.openConflicts(policy: ReturnEntity.policy).map(\.field)
            )
        }
        let outcome = try stored.merge(pushed)
        returns[pushed.id] = stored
        return outcome
    }

    mutating func reverify(changed: [PreparedPush.Record]) throws {
        reverified += changed.compactMap(\.product?.id.rawValue)
    }
}

@Suite struct PushRulesTests {
    static let kioskA = try! ReplicaID("store-1/kiosk-a")
    static let kioskB = try! ReplicaID("store-1/kiosk-b")
    static let otherStore = try! ReplicaID("store-2/kiosk-z")
    static let start: UInt64 = 1_780_000_000_000

    /// A return captured by `kiosk` (of the store its id names) at `start + offset` ms.
    static func captured(by kiosk: ReplicaID, offset: UInt64 = 0) throws -> VersionedRecord {
        try SampleData.capturedReturn(by: kiosk, at: Date(millisecondsSince1970: Int64(start + offset)))
    }

    static func edit(
        _ record: VersionedRecord,
        by replica: ReplicaID,
        note: String,
        at offset: UInt64
    ) throws
        -> VersionedRecord
    {
        var copy = record
        try copy.apply(
            RecordEdit(additions: [ReturnEntity.Field.notes: [.string(note)]]),
            by: replica,
            stamp: HLCTimestamp(physical: start + offset)
        )
        return copy
    }

    static func accept(
        _ records: [VersionedRecord],
        from pusher: ReplicaID = kioskA,
        in storage: inout MemoryPushTransaction
    ) throws -> PushResult {
        try PushRules.accept(
            records,
            from: pusher,
            store: StoreID(String(pusher.rawValue.split(separator: "/")[0])),
            in: &storage
        )
    }

    static func expectRejected(
        _ reason: PushRejection.Reason,
        _ records: [VersionedRecord],
        from pusher: ReplicaID = kioskA,
        in storage: inout MemoryPushTransaction,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let result = try accept(records, from: pusher, in: &storage)
            Issue.record("accepted: \(result)", sourceLocation: sourceLocation)
        } catch let rejection as PushRejection {
            #expect(rejection.reason == reason, "\(rejection.message)", sourceLocation: sourceLocation)
            #expect(rejection.recordID != nil, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aKioskPushesItsOwnReturnsOnceAndAgainChangesNothing() throws {
        var storage = MemoryPushTransaction()
        let record = try Self.captured(by: Self.kioskA)
        #expect(try Self.accept([record], in: &storage) == PushResult(merged: 1))
        #expect(try Self.accept([record], in: &storage) == PushResult(unchanged: 1))
        #expect(storage.reverified == [record.id], "only what changed is re-verified")
    }

    @Test func anotherStoresReturnIsForbiddenWhateverItClaims() throws {
        var storage = MemoryPushTransaction()
        let theirs = try Self.captured(by: Self.otherStore)
        #expect(try Self.accept([theirs], from: Self.otherStore, in: &storage).merged == 1)
        // Kiosk a pushes a note on store-2's return: the stored version's store decides.
        let edited = try Self.edit(theirs, by: Self.kioskA, note: "mine now", at: 10)
        Self.expectRejected(.forbiddenStore, [edited], in: &storage)
        // A new return claiming store-2 from a store-1 kiosk.
        Self.expectRejected(.forbiddenStore, [try Self.captured(by: Self.otherStore, offset: 5)], in: &storage)
    }

    @Test func clocksMayClaimOnlyWritesThePusherCanHold() throws {
        var storage = MemoryPushTransaction()
        storage.kiosks = [Self.kioskB.rawValue, Self.otherStore.rawValue]
        let mine = try Self.captured(by: Self.kioskA)
        // The server's own write, never sent: forged.
        Self.expectRejected(.forgedClock, [try Self.edit(mine, by: storage.serverID, note: "hq", at: 5)], in: &storage)
        // Another store's kiosk: forged, even enrolled.
        Self.expectRejected(.forgedClock, [try Self.edit(mine, by: Self.otherStore, note: "z", at: 5)], in: &storage)
        // An unknown replica: forged.
        let stranger = try ReplicaID("store-1/never-enrolled")
        Self.expectRejected(.forgedClock, [try Self.edit(mine, by: stranger, note: "?", at: 5)], in: &storage)
        // An enrolled kiosk of the same store (an export imported at kiosk a): accepted.
        #expect(try Self.accept([try Self.edit(mine, by: Self.kioskB, note: "b", at: 5)], in: &storage).merged == 1)
        #expect(storage.returns.count == 1, "nothing of the refused batches was stored")
    }

    @Test func aRestoredServerTakesBackItsFormerWritesAndItsStoresKiosks() throws {
        var storage = MemoryPushTransaction()
        let former = try ReplicaID("hq")
        storage.serverID = try ReplicaID("hq.r2")
        storage.formerServerIDs = [former]
        let mine = try Self.captured(by: Self.kioskA)
        let withFormer = try Self.edit(mine, by: former, note: "before the backup", at: 5)
        let withLostKiosk = try Self.edit(withFormer, by: try ReplicaID("store-1/kiosk-new"), note: "lost", at: 6)
        #expect(try Self.accept([withLostKiosk], in: &storage).merged == 1)
        Self.expectRejected(
            .forgedClock,
            [try Self.edit(try Self.captured(by: Self.kioskA, offset: 9), by: Self.otherStore, note: "z", at: 10)],
            in: &storage
        )
    }

    @Test func theFirstRecordAtFaultNamesItselfAndMergeErrorsKeepTheirKind() throws {
        var storage = MemoryPushTransaction()
        let good = try Self.captured(by: Self.kioskA)
        var recall = VersionedRecord(entityType: "recall", id: "RC-1")
        try recall.apply(
            RecordEdit(assignments: ["hazard": "x"]),
            by: Self.kioskA,
            stamp: HLCTimestamp(physical: Self.start)
        )
        do {
            _ = try Self.accept([good, recall], in: &storage)
            Issue.record("a recall was accepted from a kiosk")
        } catch let rejection as PushRejection {
            #expect(rejection.reason == .invalidRecord && rejection.recordID == "RC-1")
        }
        // Stamped an hour ahead of the server's clock: clock-skew, which the kiosk may retry.
        let ahead = try Self.captured(by: Self.kioskA, offset: 3_600_000)
        Self.expectRejected(.clockSkew, [ahead], in: &storage)
    }

    /// Whatever mix of a kiosk's own edits, its store's other kiosk's and forged claims a batch holds, the rules
    /// decide the same way twice, and an accepted batch pushed again changes nothing.
    @Test func acceptingIsIdempotent() async {
        let plans = Generator<[Int], Shrink.None<[Int]>>(run: { rng in
            (0..<Int.random(in: 1...12, using: &rng)).map { _ in Int.random(in: 0..<6, using: &rng) }
        })
        await propertyCheck(count: 200, input: plans) { plan in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var storage = MemoryPushTransaction()
                storage.kiosks = [Self.kioskB.rawValue]
                var records: [VersionedRecord] = []
                for (index, step) in plan.enumerated() {
                    let offset = UInt64(index) * 10
                    let base = try Self.captured(by: Self.kioskA, offset: offset)
                    switch step {
                    case 0: records.append(base)
                    case 1: records.append(try Self.edit(base, by: Self.kioskA, note: "own \(index)", at: offset + 1))
                    case 2: records.append(try Self.edit(base, by: Self.kioskB, note: "b \(index)", at: offset + 2))
                    case 3: records.append(try Self.edit(base, by: storage.serverID, note: "forged", at: offset + 3))
                    case 4: records.append(try Self.captured(by: Self.otherStore, offset: offset))
                    default: if let last = records.last { records.append(last) }
                    }
                }
                var first = storage
                var second = storage
                let once = Result { try Self.accept(records, in: &first) }
                let again = Result { try Self.accept(records, in: &second) }
                switch (once, again) {
                case (.success(let a), .success(let b)):
                    #expect(a == b)
                    let repeated = try Self.accept(records, in: &first)
                    #expect(repeated.merged == 0 && repeated.unchanged == records.count)
                    #expect(repeated.conflicts.isEmpty)
                case (.failure(let a as PushRejection), .failure(let b as PushRejection)):
                    #expect(a == b)
                    #expect(plan.contains(3) || plan.contains(4), "only forged or foreign records are refused: \(a)")
                default:
                    Issue.record("the rules decided differently: \(once) / \(again)")
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
