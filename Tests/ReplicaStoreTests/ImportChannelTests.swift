import SyncEngine
import Testing

@testable import ReplicaStore

/// An import's chunks go back to the preparing thread, which made them, to be freed there (freed by the storing
/// thread they were about a quarter of it): what a chunk handed back holds must live until that thread frees it,
/// and nothing may be kept once that thread has finished, since it frees nothing more.
@Suite struct ImportChannelTests {
    /// Something a chunk holds.
    final class Held: Error, @unchecked Sendable {}

    /// A weak reference to what a chunk holds: whether it is still alive.
    final class Watch {
        weak var held: Held?
    }

    /// A chunk holding a new ``Held``, sent through `channel` and received from it (as the storing thread does), with
    /// a watch on what it holds.
    static func received(through channel: ImportChannel) throws -> (chunk: [ReplicaStore.PreparedLine], watch: Watch) {
        let held = Held()
        let watch = Watch()
        watch.held = held
        #expect(channel.send([ReplicaStore.PreparedLine(number: 1, work: .failure(held))]))
        return (try #require(channel.receive()), watch)
    }

    /// The same, handed back once stored.
    static func handedBack(through channel: ImportChannel) throws -> Watch {
        let (chunk, watch) = try received(through: channel)
        channel.giveBack(chunk)
        return watch
    }

    @Test func aChunkHandedBackLivesUntilThePreparingThreadFreesIt() throws {
        let channel = ImportChannel(capacity: 4)
        let watch = try Self.handedBack(through: channel)
        #expect(watch.held != nil)
        channel.freeSpent()
        #expect(watch.held == nil)
    }

    @Test func theChunksHandedBackAreFreedWhenThePreparingThreadFinishes() throws {
        let channel = ImportChannel(capacity: 4)
        let watch = try Self.handedBack(through: channel)
        #expect(watch.held != nil)
        channel.finish(clock: HybridLogicalClock())
        #expect(watch.held == nil)
    }

    @Test func aChunkHandedBackAfterTheLastIsNotKept() throws {
        let channel = ImportChannel(capacity: 4)
        let watch: Watch
        do {
            let (chunk, received) = try Self.received(through: channel)
            watch = received
            channel.finish(clock: HybridLogicalClock())
            channel.giveBack(chunk)
        }
        #expect(watch.held == nil)
    }
}
