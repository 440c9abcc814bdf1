import Foundation
import NIOCore
import NIOPosix
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import SyncClient
import SyncEngine
import Testing

/// A TCP proxy on 127.0.0.1 that forwards one connection at a time to `target` and cuts it after `budget` bytes
/// have passed in the chosen direction, mid-frame or not.
final class CuttingProxy: Sendable {
    enum Direction: Sendable { case toServer, toClient }

    let port: Int
    private let listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let task: Task<Void, Never>

    /// - Parameter spent: called once the budget is spent, before the cut (a test kills the server there).
    init(
        target: Int,
        direction: Direction,
        budget: Int,
        spent: @escaping @Sendable () -> Void = {}
    ) async throws {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        self.listener = listener
        port = listener.channel.localAddress!.port!
        task = Task {
            try? await listener.executeThenClose { connections in
                for try await client in connections {
                    let server: NIOAsyncChannel<ByteBuffer, ByteBuffer>
                    do {
                        server = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                            .connect(host: "127.0.0.1", port: target) { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                                }
                            }
                    } catch {
                        continue
                    }
                    await Self.splice(
                        client: client,
                        server: server,
                        direction: direction,
                        budget: budget,
                        spent: spent
                    )
                }
            }
        }
    }

    /// Copies both ways until either side closes or the budget in `direction` is spent; then closes both.
    private static func splice(
        client: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        server: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        direction: Direction,
        budget: Int,
        spent: @escaping @Sendable () -> Void
    ) async {
        try? await client.executeThenClose { clientIn, clientOut in
            try await server.executeThenClose { serverIn, serverOut in
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await Self.pump(
                            clientIn,
                            into: serverOut,
                            budget: direction == .toServer ? budget : Int.max,
                            spent: spent
                        )
                    }
                    group.addTask {
                        try await Self.pump(
                            serverIn,
                            into: clientOut,
                            budget: direction == .toClient ? budget : Int.max,
                            spent: spent
                        )
                    }
                    // The first pump to finish (a close, or the budget spent) ends the splice: both connections close.
                    _ = try? await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    private static func pump(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
        into outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        budget: Int,
        spent: @Sendable () -> Void
    ) async throws {
        var left = budget
        for try await var buffer in inbound {
            if buffer.readableBytes >= left {
                if left > 0, let slice = buffer.readSlice(length: left) { try await outbound.write(slice) }
                spent()
                return
            }
            left -= buffer.readableBytes
            try await outbound.write(buffer)
        }
    }

    func close() async {
        try? await listener.channel.close()
        task.cancel()
        _ = await task.value
    }
}

@Suite struct ConnectionCutTests {
    /// Cuts a sync at byte offsets across both directions; after each cut a normal sync must leave kiosk and
    /// server identical, with every return the kiosk recorded present once.
    @Test(arguments: [CuttingProxy.Direction.toServer, .toClient])
    func aSyncCutAnywhereAndRetriedLosesAndDuplicatesNothing(direction: CuttingProxy.Direction) async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let serverPort = Int(server.address.split(separator: ":").last!)!
        var recorded: [ReturnID] = []
        var cutSyncsFailed = 0
        var failedAfterProgress = 0
        // Batches of two records: a sync is several pushes and pulls, so cuts fall between commits too.
        let smallBatches = SyncClient(store: kiosk.store, batchSize: 2)
        for budget in stride(from: 0, to: 4_000, by: 250) {
            // Work on both sides between syncs: new returns and edits here, an HQ edit there.
            for index in 0..<6 { recorded.append(try kiosk.record(order: "O-\(budget)-\(index)").id) }
            try kiosk.store.updateReturn(recorded[recorded.count - 6], operation: "note") { item, author, date in
                try item.addNote("edit before cut at \(budget)", by: author, at: date)
            }
            for record in try server.store.returnRecords().prefix(3) {
                try server.store.updateReturn(ReturnID(record.id), operation: "note") { item, author, date in
                    try item.addNote("HQ note \(budget)", by: author, at: date)
                }
            }

            let proxy = try await CuttingProxy(target: serverPort, direction: direction, budget: budget)
            let before = try server.store.changeLogCount()
            do {
                _ = try await smallBatches.sync(server: "127.0.0.1:\(proxy.port)")
            } catch {
                cutSyncsFailed += 1
                if try server.store.changeLogCount() > before { failedAfterProgress += 1 }
            }
            await proxy.close()
            try await kiosk.sync()

            let atKiosk = try kiosk.records
            let atServer = try server.store.returnRecords(store: StoreID("store-1"))
            #expect(atKiosk == atServer, "cut after \(budget) bytes \(direction)")
            #expect(Set(atServer.map(\.id)) == Set(recorded.map(\.rawValue)))
            #expect(atServer.count == recorded.count)
        }
        // The cuts really fell inside syncs, some after the server had already committed part of the work.
        #expect(cutSyncsFailed >= 13, "\(cutSyncsFailed) of 16 cut syncs failed")
        #expect(failedAfterProgress >= 1, "no cut fell after a commit")
        try await server.stop()
    }
}
