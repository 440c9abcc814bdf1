import Foundation
import SyncEngine
import Testing

private let sx = try! ReplicaID("Sx")
private let sy = try! ReplicaID("Sy")
private let sz = try! ReplicaID("Sz")

@Suite struct VectorClockTests {
    @Test(
        arguments: [
            ([:], [:], ClockOrdering.equal),
            ([sx: 1], [:], .after),
            ([:], [sx: 1], .before),
            ([sx: 2, sy: 1], [sx: 2, sy: 1], .equal),
            ([sx: 2, sy: 1], [sx: 2], .after),
            ([sx: 1], [sx: 2, sy: 1], .before),
            ([sx: 2, sy: 1], [sx: 2, sz: 1], .concurrent),
            ([sx: 3], [sx: 2, sy: 1], .concurrent),
        ] as [(VectorClock, VectorClock, ClockOrdering)]
    )
    func compare(lhs: VectorClock, rhs: VectorClock, expected: ClockOrdering) {
        #expect(lhs.compare(rhs) == expected)
        let mirrored: ClockOrdering =
            switch expected {
            case .before: .after
            case .after: .before
            default: expected
            }
        #expect(rhs.compare(lhs) == mirrored)
    }

    @Test func mergeTakesThePointwiseMaximumAndOnlyKeepsWriters() {
        let merged = ([sx: 3, sy: 1] as VectorClock).merging([sy: 4, sz: 2])
        #expect(merged == [sx: 3, sy: 4, sz: 2])
        #expect(merged.dominates([sx: 3, sy: 1]))
        #expect(merged.dominates([sy: 4, sz: 2]))
        #expect(Set(merged.counters.keys) == [sx, sy, sz])
        #expect(!VectorClock().merging(VectorClock()).counters.keys.contains(sx))
    }

    @Test func incrementReturnsTheNewDotAndCoversIt() throws {
        var clock: VectorClock = [sy: 7]
        let dot = clock.increment(sx)
        #expect(dot == (try Dot(replica: sx, counter: 1)))
        #expect(clock[sx] == 1)
        #expect(clock[sy] == 7)
        #expect(clock.covers(dot))
        #expect(!clock.covers(try Dot(replica: sx, counter: 2)))
        #expect(!clock.covers(try Dot(replica: sz, counter: 1)))
    }

    /// The example of §4.4 of "Dynamo: Amazon's Highly Available Key-value Store" (DeCandia et al., 2007).
    @Test func dynamoPaperExample() throws {
        // D1: Sx handles a write.
        var d1 = VectorClock()
        d1.increment(sx)
        #expect(d1 == [sx: 1])
        // D2: Sx handles an update of D1.
        var d2 = d1
        d2.increment(sx)
        #expect(d2 == [sx: 2])
        #expect(d1.compare(d2) == .before)
        // D3 and D4: Sy and Sz each handle an update of D2, without seeing each other.
        var d3 = d2
        d3.increment(sy)
        var d4 = d2
        d4.increment(sz)
        #expect(d3 == [sx: 2, sy: 1])
        #expect(d4 == [sx: 2, sz: 1])
        #expect(d3.compare(d4) == .concurrent)
        #expect(d2.compare(d3) == .before)
        #expect(d2.compare(d4) == .before)
        // D5: a client reads both, reconciles, and Sx coordinates the write.
        var d5 = d3.merging(d4)
        d5.increment(sx)
        #expect(d5 == [sx: 3, sy: 1, sz: 1])
        #expect(d3.compare(d5) == .before)
        #expect(d4.compare(d5) == .before)
        #expect(d1.compare(d5) == .before)
    }

    @Test func dynamoPaperExampleOnRecords() throws {
        // The same history through versioned records: D5 holds one value that replaced both concurrent ones.
        let stamp = HLCTimestamp.zero
        var d2 = VersionedRecord(entityType: "cart", id: "1")
        try d2.apply(RecordEdit(assignments: ["items": "a"]), by: sx, stamp: stamp)
        try d2.apply(RecordEdit(assignments: ["items": "a,b"]), by: sx, stamp: stamp)
        var d3 = d2
        try d3.apply(RecordEdit(assignments: ["items": "a,b,c"]), by: sy, stamp: stamp)
        var d4 = d2
        try d4.apply(RecordEdit(assignments: ["items": "a,b,d"]), by: sz, stamp: stamp)
        var d5 = try VersionedRecord.merge(d3, d4)
        #expect(d5.values(of: "items").map(\.value) == ["a,b,c", "a,b,d"])
        try d5.apply(RecordEdit(assignments: ["items": "a,b,c,d"]), by: sx, stamp: stamp)
        #expect(d5.clock == [sx: 3, sy: 1, sz: 1])
        #expect(d5.values(of: "items").map(\.value) == ["a,b,c,d"])
        #expect(d5.conflictHistory.count == 1)
        #expect(d5.conflictHistory.first?.replaced.map(\.value) == ["a,b,c", "a,b,d"])
    }

    @Test func encodesAsAnObjectAndRejectsBadCounters() throws {
        let clock: VectorClock = [sx: 3, sy: 1]
        let data = try JSONEncoder().encode(clock)
        #expect(try JSONSerialization.jsonObject(with: data) as? [String: Int] == ["Sx": 3, "Sy": 1])
        #expect(try JSONDecoder().decode(VectorClock.self, from: data) == clock)

        let tooLarge = Data(#"{"Sx": 9007199254740992}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(VectorClock.self, from: tooLarge) }
        let negative = Data(#"{"Sx": -1}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(VectorClock.self, from: negative) }
        let badReplica = Data(#"{"kiosk one": 1}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(VectorClock.self, from: badReplica) }
        // A zero entry carries no information and is dropped, so clocks only name replicas that wrote.
        let zero = try JSONDecoder().decode(VectorClock.self, from: Data(#"{"Sx": 0, "Sy": 2}"#.utf8))
        #expect(zero == [sy: 2])
    }

    /// A clock made from entries keeps them as given unless one is zero (issue 18: no copy for every decoded record);
    /// either way zeros go, the rest stay, and an oversized counter is refused by name.
    @Test func aClockFromEntriesDropsZerosAndRefusesOversizedCounters() throws {
        #expect(try VectorClock([sx: 3, sy: 1]).counters == [sx: 3, sy: 1])
        #expect(try VectorClock([sx: 0, sy: 2]).counters == [sy: 2])
        #expect(try VectorClock([sx: 0]).isEmpty)
        #expect(try VectorClock([:]).isEmpty)
        #expect {
            try VectorClock([sx: 0, sy: VectorClock.maximumCounter + 1])
        } throws: { error in
            (error as? SyncEngineError)?.code == .invalidDot
                && "\(error)".contains("\(VectorClock.maximumCounter + 1)") && "\(error)".contains("'Sy'")
        }
    }

    @Test(arguments: ["", "kiosk one", "ünïcode", String(repeating: "k", count: 129), "a\nb"])
    func rejectsMalformedReplicaIDs(text: String) {
        #expect {
            try ReplicaID(text)
        } throws: { error in
            (error as? SyncEngineError)?.code == .invalidReplicaID
                && (error as? SyncEngineError)?.message.contains("'\(text)'") == true
        }
    }

    @Test func dotsRejectZeroAndOversizedCounters() {
        #expect(throws: SyncEngineError.self) { try Dot(replica: sx, counter: 0) }
        #expect(throws: SyncEngineError.self) { try Dot(replica: sx, counter: VectorClock.maximumCounter + 1) }
        #expect(throws: Never.self) { try Dot(replica: sx, counter: VectorClock.maximumCounter) }
    }
}

@Suite struct HybridLogicalClockTests {
    @Test func followsTheWallClockAndNeverGoesBack() throws {
        var hlc = HybridLogicalClock()
        let first = try hlc.tick(wallClock: 1_000)
        #expect(first.physical == 1_000 && first.logical == 0)
        let sameMillisecond = try hlc.tick(wallClock: 1_000)
        #expect(sameMillisecond > first)
        // The wall clock jumps back (NTP correction, dead RTC battery): stamps keep increasing.
        let afterJumpBack = try hlc.tick(wallClock: 400)
        #expect(afterJumpBack > sameMillisecond)
        #expect(afterJumpBack.physical == 1_000)
        let later = try hlc.tick(wallClock: 2_000)
        #expect(later.physical == 2_000 && later.logical == 0)
    }

    @Test func stampsExceedEveryWitnessedStamp() throws {
        var hlc = HybridLogicalClock()
        let remote = try HLCTimestamp(physical: 50_000, logical: 7)
        hlc.witness(remote)
        let next = try hlc.tick(wallClock: 10_000)
        #expect(next > remote)
    }

    @Test func logicalOverflowCarriesIntoThePhysicalPart() throws {
        let stamp = try HLCTimestamp(physical: 5, logical: .max)
        #expect(stamp.successor == (try HLCTimestamp(physical: 6, logical: 0)))
    }

    @Test func theLargestStampIsTheLimitAndTheErrorNamesIt() throws {
        let largest = try HLCTimestamp(physical: HLCTimestamp.maximumPhysical, logical: .max)
        var hlc = HybridLogicalClock(latest: largest)
        #expect { try hlc.tick(wallClock: .max) } throws: { error in
            "\(error)".contains("largest stamp \(largest)") && "\(error)".contains("no later one can be issued")
        }
        #expect(hlc.latest == largest, "a refused tick issues nothing")
        // One below: the counter at its limit borrows the next millisecond, which is the last one.
        var almost = HybridLogicalClock(
            latest: try HLCTimestamp(physical: HLCTimestamp.maximumPhysical - 1, logical: .max)
        )
        #expect(try almost.tick(wallClock: 0) == (try HLCTimestamp(physical: HLCTimestamp.maximumPhysical, logical: 0)))
    }

    @Test func encodesAsAPair() throws {
        let stamp = try HLCTimestamp(physical: 1_780_000_000_123, logical: 4)
        let data = try JSONEncoder().encode(stamp)
        #expect(String(decoding: data, as: UTF8.self) == "[1780000000123,4]")
        #expect(try JSONDecoder().decode(HLCTimestamp.self, from: data) == stamp)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(HLCTimestamp.self, from: Data("[9007199254740992,0]".utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(HLCTimestamp.self, from: Data("[1,2,3]".utf8))
        }
    }
}
