import Foundation
import PropertyBased
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing

@testable import ReplicaStore

/// A server's group committed without its own sync (``ReplicaStore/commitGroup(_:syncingLater:)``) is readable at
/// once but not durable until ``ReplicaStore/syncLog()``: the change feed must not hand it out before then, or a
/// kiosk's cursor could pass change numbers a power cut gives back.
@Suite struct SyncedLaterTests {
    static let store = try! StoreID("store-1")
    static let kiosk = try! ReplicaID("store-1/k")

    static func push(_ count: Int, from first: Int) throws -> GroupedWrite {
        let records = try (first..<first + count).map { index in
            try SampleData.capturedReturn(
                by: kiosk,
                at: Date().addingTimeInterval(-600 + Double(index)),
                orderID: "ORD-\(index)"
            )
        }
        return .push(PreparedServerPush(records, from: kiosk, store: store))
    }

    @Test func aGroupCommittedToBeSyncedLaterStaysOutOfTheFeedUntilTheLogIsSynced() throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        // Synced in its commit: in the feed at once.
        #expect(GroupCommitTests.summary(server.commitGroup([try Self.push(3, from: 0)])[0]).hasPrefix("merged 3 "))
        let synced = try server.lastChangeSeq()
        let before = try server.encodedFeed(store: Self.store, after: 0, limit: 100)
        #expect(before.records.count == 3 && before.next == synced && !before.more)

        // Committed without its sync: stored and readable, not in the feed, and the cursor stops short of it.
        let later = server.commitGroup([try Self.push(2, from: 3), try Self.push(2, from: 5)], syncingLater: true)
        #expect(later.map(GroupCommitTests.summary).allSatisfy { $0.hasPrefix("merged 2 ") }, "\(later)")
        #expect(try server.returnRecords().count == 7)
        #expect(try server.lastChangeSeq() > synced)
        #expect(try DurabilityTests.writerSynchronous(server) == DurabilityTests.full, "the writer syncs again")
        let withheld = try server.encodedFeed(store: Self.store, after: 0, limit: 100)
        #expect(withheld.records.count == 3 && withheld.next == synced)
        let idle = try server.encodedFeed(store: Self.store, after: synced, limit: 100)
        #expect(idle.records.isEmpty && idle.next == synced)
        #expect(try server.feedFrontier() == synced, "what a watching server polls stops there too")

        try server.syncLog()
        let after = try server.encodedFeed(store: Self.store, after: synced, limit: 100)
        let newest = try server.lastChangeSeq()
        #expect(after.records.count == 4 && after.next == newest)
        #expect(try server.feedFrontier() == newest)
    }

    /// The writer notes each group as it begins and ends; a sync covers the groups ended when it started. Whatever the
    /// interleaving, the feed's bound never lets through a change of a group not yet synced, and lifts once every
    /// group is synced.
    @Test func theFeedNeverHandsOutAChangeOfAGroupNotSynced() async {
        // 0: a group begins (when none is open), 1: it ends, 2: a sync starts, 3: the sync returns, 4: a reader looks.
        let steps = Gen.int(in: 0...4).array(of: 1...80)
        await propertyCheck(count: 500, input: zip(steps, Gen.int(in: 0...3).array(of: 80...80))) { steps, sizes in
            let unsynced = UnsyncedCommits()
            // The model: each group's changes, whether ended, whether synced.
            var groups: [(number: Int, changes: Range<Int64>, ended: Bool, synced: Bool)] = []
            var nextChange: Int64 = 1
            var sync: (covers: Int?, ended: [Int])?
            for (index, step) in steps.enumerated() {
                switch step {
                case 0 where groups.last.map(\.ended) ?? true:
                    let number = unsynced.begin(firstChange: nextChange)
                    let size = Int64(sizes[index % sizes.count])
                    groups.append((number, nextChange..<nextChange + size, false, false))
                    nextChange += size
                case 1 where groups.last.map { !$0.ended } ?? false:
                    unsynced.end(groups[groups.count - 1].number)
                    groups[groups.count - 1].ended = true
                case 2 where sync == nil:
                    sync = (unsynced.endedThrough, groups.filter(\.ended).map(\.number))
                case 3 where sync != nil:
                    if let covers = sync!.covers { unsynced.synced(through: covers) }
                    for (position, group) in groups.enumerated() where sync!.ended.contains(group.number) {
                        groups[position].synced = true
                    }
                    sync = nil
                default:
                    let bound = unsynced.feedBound ?? .max
                    for group in groups where !group.synced {
                        #expect(group.changes.allSatisfy { $0 >= bound }, "group \(group.number) before \(bound)")
                        #expect(group.changes.lowerBound >= bound)
                    }
                    if groups.allSatisfy(\.synced) { #expect(unsynced.feedBound == nil) }
                }
            }
        }
    }
}
