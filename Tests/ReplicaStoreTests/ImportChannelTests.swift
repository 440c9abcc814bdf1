import SyncEngine
import Testing

@testable import ReplicaStore

/// An import's chunks go back to the preparing thread, which made them, to be freed there (freed by the storing
/// thread they were about a quarter of it): what a chunk handed back holds must live until that thread frees it,
/// and nothing may be kept once that thread has finished, since it frees nothing more.
@Suite struct ImportChannelTests {
    /// Something a chunk holds, watched through a weak reference.
    final class Held: Error, @unchecked Sendable {}

    static func chunk(_ number: Int, holding held: Held) -> [ReplicaStore.PreparedLine] {
        [ReplicaStore.PreparedLine(number: number, work: .failure(held))]
    }

    @Test func aChunkHandedBackLivesUntilThePreparingThreadFreesIt() throws {
        let channel = ImportChannel(capacity: 4)
        weak var watched: Held?
        do {
            let held = Held()
            watched = held
            #expect(channel.send(Self.chunk(1, holding: held)))
            channel.giveBack(try #require(channel.receive()))
        }
        #expect(watched != nil)
        channel.freeSpent()
        #expect(watched == nil)
    }

    @Test func theChunksHandedBackAreFreedWhenThePreparingThreadFinishes() throws {
        let channel = ImportChannel(capacity: 4)
        weak var watched: Held?
        do {
            let held = Held()
            watched = held
            #expect(channel.send(Self.chunk(1, holding: held)))
            channel.giveBack(try #require(channel.receive()))
        }
        #expect(watched != nil)
        channel.finish(clock: HybridLogicalClock())
        #expect(watched == nil)
    }

    @Test func aChunkHandedBackAfterTheLastIsNotKept() throws {
        let channel = ImportChannel(capacity: 4)
        weak var watched: Held?
        do {
            let held = Held()
            watched = held
            #expect(channel.send(Self.chunk(1, holding: held)))
            let received = try #require(channel.receive())
            channel.finish(clock: HybridLogicalClock())
            channel.giveBack(received)
        }
        #expect(watched == nil)
    }
}
