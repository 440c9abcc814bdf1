import Foundation
import SyncEngine
import Testing

private let kioskA = try! ReplicaID("store-1/kiosk-a")
private let kioskB = try! ReplicaID("store-1/kiosk-b")
private let hq = try! ReplicaID("hq")

private func stamp(_ millis: UInt64) -> HLCTimestamp { try! HLCTimestamp(physical: millis) }

@Suite struct VersionedRecordTests {
    /// A record created at kiosk A and copied to B and HQ, as if all three had synced.
    private func base() throws -> VersionedRecord {
        var record = VersionedRecord(entityType: "thing", id: "t-1")
        try record.apply(RecordEdit(assignments: ["colour": "red", "size": "M"]), by: kioskA, stamp: stamp(1))
        return record
    }

    @Test func aLocalEditIncrementsOnceAndTagsEveryFieldWithItsDot() throws {
        var record = try base()
        let dot = try record.apply(
            RecordEdit(assignments: ["colour": "blue", "size": "L"]),
            by: kioskA,
            stamp: stamp(2)
        )
        #expect(dot == (try Dot(replica: kioskA, counter: 2)))
        #expect(record.clock == [kioskA: 2])
        #expect(record.values(of: "colour") == [DottedValue(value: "blue", dot: dot, stamp: stamp(2))])
        #expect(record.values(of: "size").map(\.dot) == [dot])
    }

    @Test func concurrentEditsOfDifferentFieldsBothSurvive() throws {
        var a = try base()
        var b = try base()
        try a.apply(RecordEdit(assignments: ["colour": "blue"]), by: kioskA, stamp: stamp(2))
        try b.apply(RecordEdit(assignments: ["size": "XL"]), by: kioskB, stamp: stamp(2))
        let merged = try VersionedRecord.merge(a, b)
        #expect(merged.values(of: "colour").map(\.value) == ["blue"])
        #expect(merged.values(of: "size").map(\.value) == ["XL"])
        #expect(merged.openConflicts(policy: EntityPolicy()).isEmpty)
        #expect(merged.clock == [kioskA: 2, kioskB: 1])
    }

    @Test func concurrentWritesOfOneFieldAreKeptInConflictUntilAnEditResolvesThem() throws {
        var a = try base()
        var b = try base()
        try a.apply(RecordEdit(assignments: ["colour": "blue"]), by: kioskA, stamp: stamp(5))
        try b.apply(RecordEdit(assignments: ["colour": "green"]), by: kioskB, stamp: stamp(3))

        var merged = try VersionedRecord.merge(a, b)
        #expect(merged.values(of: "colour").map(\.value) == ["blue", "green"])
        #expect(merged.isInConflict("colour"))
        let conflicts = merged.openConflicts(policy: EntityPolicy())
        #expect(conflicts.map(\.field) == ["colour"])
        // The default policy shows the value with the latest stamp.
        #expect(conflicts.first?.winner.value == "blue")
        #expect(merged.visibleValue(of: "colour", policy: EntityPolicy())?.value == "blue")

        // HQ sees both and decides.
        let resolution = try merged.apply(RecordEdit(assignments: ["colour": "teal"]), by: hq, stamp: stamp(9))
        #expect(merged.values(of: "colour").map(\.value) == ["teal"])
        #expect(!merged.isInConflict("colour"))
        #expect(merged.conflictHistory.count == 1)
        let entry = try #require(merged.conflictHistory.first)
        #expect(entry.field == "colour")
        #expect(entry.replaced.map(\.value) == ["blue", "green"])
        #expect(entry.resolution.dot == resolution)

        // A kiosk that still holds the conflict takes the resolution and the history.
        var stale = try VersionedRecord.merge(a, b)
        let outcome = try stale.merge(merged)
        #expect(outcome.changed)
        #expect(outcome.detectedConflicts.isEmpty)
        #expect(stale == merged)
    }

    @Test func equalConcurrentValuesAreNotAConflict() throws {
        var a = try base()
        var b = try base()
        try a.apply(RecordEdit(assignments: ["colour": "blue"]), by: kioskA, stamp: stamp(2))
        try b.apply(RecordEdit(assignments: ["colour": "blue"]), by: kioskB, stamp: stamp(2))
        let merged = try VersionedRecord.merge(a, b)
        #expect(merged.values(of: "colour").count == 2)
        #expect(!merged.isInConflict("colour"))
        #expect(merged.openConflicts(policy: EntityPolicy()).isEmpty)
    }

    @Test func growOnlySetsKeepEveryConcurrentAddition() throws {
        var a = try base()
        var b = try base()
        try a.apply(RecordEdit(additions: ["notes": ["box dented"]]), by: kioskA, stamp: stamp(2))
        try b.apply(RecordEdit(additions: ["notes": ["charger missing", "receipt ok"]]), by: kioskB, stamp: stamp(2))
        let merged = try VersionedRecord.merge(a, b)
        #expect(Set(merged.elements(of: "notes").map(\.value)) == ["box dented", "charger missing", "receipt ok"])
        #expect(merged.openConflicts(policy: EntityPolicy()).isEmpty)
    }

    @Test func mergeReportsDetectedConflictsAndWhetherAnythingChanged() throws {
        var a = try base()
        var b = try base()
        try b.apply(RecordEdit(assignments: ["colour": "green"]), by: kioskB, stamp: stamp(3))
        let known = a
        #expect(try a.merge(known) == MergeOutcome(changed: false, detectedConflicts: []))
        try a.apply(RecordEdit(assignments: ["colour": "blue"]), by: kioskA, stamp: stamp(3))
        #expect(try a.merge(b) == MergeOutcome(changed: true, detectedConflicts: ["colour"]))
        #expect(try a.merge(b) == MergeOutcome(changed: false, detectedConflicts: []))
        #expect(a.hasSeen(b))
        #expect(!b.hasSeen(a))
        #expect(a.hasChanges(since: b.clock))
        #expect(!a.hasChanges(since: a.clock))
    }

    @Test func rankedPoliciesPreferListedValuesInOrder() throws {
        let policy = ResolutionPolicy.ranked(["quarantine", "recycle", "restock"])
        func value(_ text: String, _ replica: ReplicaID, _ millis: UInt64) throws -> DottedValue {
            DottedValue(value: .string(text), dot: try Dot(replica: replica, counter: 1), stamp: stamp(millis))
        }
        let restock = try value("restock", kioskA, 9)
        let recycle = try value("recycle", kioskB, 1)
        let unlisted = try value("donate", hq, 99)
        #expect(policy.winner(among: [restock, recycle, unlisted]) == recycle)
        #expect(policy.winner(among: [unlisted, restock]) == restock)
        // Equal rank falls back to the latest stamp, then the replica id.
        let laterRestock = try value("restock", kioskB, 10)
        #expect(policy.winner(among: [laterRestock, restock]) == laterRestock)
        let sameStampB = try value("restock", kioskB, 9)
        #expect(policy.winner(among: [sameStampB, restock]) == sameStampB)
        #expect(policy.winner(among: [DottedValue]()) == nil)
    }

    @Test func invalidEditsAndMergesAreRefusedWithoutChange() throws {
        var record = try base()
        try record.apply(RecordEdit(additions: ["notes": ["x"]]), by: kioskA, stamp: stamp(2))
        let before = record
        #expect { try record.apply(RecordEdit(), by: kioskA, stamp: stamp(3)) } throws: {
            ($0 as? SyncEngineError)?.code == .emptyEdit
        }
        #expect { try record.apply(RecordEdit(assignments: ["notes": "y"]), by: kioskA, stamp: stamp(3)) } throws: {
            ($0 as? SyncEngineError)?.code == .fieldKindMismatch
        }
        #expect { try record.apply(RecordEdit(additions: ["colour": ["y"]]), by: kioskA, stamp: stamp(3)) } throws: {
            ($0 as? SyncEngineError)?.code == .fieldKindMismatch
        }
        let other = VersionedRecord(entityType: "thing", id: "t-2")
        #expect { try record.merge(other) } throws: {
            ($0 as? SyncEngineError)?.code == .recordMismatch && "\($0)".contains("t-2")
        }
        #expect(record == before)
    }

    @Test func recordsRoundTripThroughJSONAndForgedRecordsAreRejected() throws {
        var a = try base()
        var b = try base()
        try a.apply(
            RecordEdit(assignments: ["colour": "blue"], additions: ["notes": ["n1"]]),
            by: kioskA,
            stamp: stamp(2)
        )
        try b.apply(RecordEdit(assignments: ["colour": "green"]), by: kioskB, stamp: stamp(2))
        var merged = try VersionedRecord.merge(a, b)
        try merged.apply(RecordEdit(assignments: ["colour": "teal"]), by: hq, stamp: stamp(3))
        let data = try JSONEncoder().encode(merged)
        #expect(try JSONDecoder().decode(VersionedRecord.self, from: data) == merged)

        // A value whose dot the record's own clock does not cover cannot come from a real edit.
        let forged = Data(
            #"""
            {"type":"thing","id":"t-1","clock":{"hq":1},"writes":[["hq",2,1,0]],
             "fields":{"colour":[["x",0]]}}
            """#.utf8
        )
        #expect { try JSONDecoder().decode(VersionedRecord.self, from: forged) } throws: { error in
            "\(error)".contains("hq:2")
        }
    }
}
