import NIOCore
import NIOPosix
import Testing

@Suite struct IdleConnectionTests {
    /// A peer that connects and says nothing is disconnected after the idle timeout, and others sync meanwhile.
    @Test(.timeLimit(.minutes(1)))
    func aSilentConnectionIsClosedAndOthersStillSync() async throws {
        // Long enough that an honest sync never pauses that long, even on a loaded machine running tests in parallel.
        let server = try await TestServer(idleTimeout: .seconds(5))
        let port = Int(server.address.split(separator: ":").last!)!
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        try await silent.executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            // The server closes the silent connection: the stream ends without a byte.
            let first = try await iterator.next()
            #expect(first == nil)
        }
        try await server.stop()
    }
}
