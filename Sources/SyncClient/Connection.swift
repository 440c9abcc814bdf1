import Foundation
import NIOCore
import NIOSSL
import ReplicaStore
import SyncCore
import SyncEngine
import SyncTransport
import Synchronization
import WireProtocol

/// Why a session waiting for the server wakes up from outside.
enum Wake: Sendable, Hashable {
    /// Something changed in the kiosk's database.
    case localChange
    /// The agent is stopping.
    case shutdown
}

/// What a session's conversation waits for: a frame from the server, the connection's end, or a wake-up.
enum ConnectionEvent: Sendable {
    case frame(SyncFrame)
    /// A pulled page, handed over as soon as it is read while a task of its own prepares it for the merge
    /// (``PreparingPull``): the next page is asked for before this one is prepared, and while the storage thread
    /// merges one page, the next are prepared on other threads. A page read only as far as its envelope
    /// (``PulledFrame``) comes as a `pull-batch` message without records: its preparation decodes them.
    case pulled(SyncMessage, PreparingPull)
    case closed
    case failed(any Error)
    case wake(Wake)
}

/// An open, authenticated connection to the server.
struct Session {
    /// The conversation's protocol state.
    var core: ClientSession
    var conversation: Conversation
    let bytes: ByteCounter
    /// The credentials the kiosk connected with (saved without the token once enrollment succeeds).
    let credentials: SyncCredentials
    /// The round under way.
    var round = Round(checkpoint: SyncCheckpoint(peer: SyncClient.serverPeer))
    /// The server id of this connection's `welcome`, noted when the first round starts.
    var serverIDToNote: String?
    /// The server's clock as its `welcome` told it, and this kiosk's when it arrived: taken when the first round
    /// starts (``ReplicaStore/adoptServerClock(_:measuredAt:)``).
    var serverClockToTake: (serverTime: Int64, measuredAt: Date)?
    /// The capabilities the server granted in `welcome`, noted when the first round starts.
    var capabilitiesToNote: Set<String>?
}

/// What a round did so far, and the checkpoint it saves.
struct Round {
    var checkpoint: SyncCheckpoint
    /// The pull cursor as stored now, or as the merges handed over will store it.
    var storedCursor: String?
    /// The first page of changes to push, read with the checkpoint (the changes after `after`).
    var firstPage: (after: Int64, page: [(seq: Int64, entityType: String, json: String)])?
    var report = SyncReport()
    /// Returns to push in all, when a progress display wants it.
    var pushTotal: Int?
    /// Records received by the pull so far, and the server's estimate of all.
    var received = 0
    var pullTotal: Int?
    /// Merges the pulled pages while the next are read; made at the round's first page.
    var merges: PullMerger?
    /// The first attachments to send, read with the round's last write (the rest of `uploadAttachments`'s
    /// first page); `nil` when not read.
    var firstAttachments: [(digest: String, size: Int64, position: ReplicaStore.UploadPosition)]?
}

/// The client's side of the frame stream: the server's messages (its `error` frames included, for the session to
/// judge) and wake-ups from outside.
struct Conversation {
    var events: AsyncStream<ConnectionEvent>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<SyncMessage>
    let usesTLS: Bool
    /// Wake-ups that came while the conversation waited for an answer, for the agent to act on after.
    var wakes: Set<Wake> = []
    /// The last pulled page received, being prepared; taken by its merge.
    var prepared: PreparingPull?

    /// The preparation of `records`, the page last received, if one was started.
    mutating func takePrepared(_ records: [VersionedRecord]) -> PreparingPull? {
        defer { prepared = nil }
        guard let prepared, prepared.matches(records) else { return nil }
        return prepared
    }

    mutating func send(_ message: SyncMessage) async throws {
        do {
            try await outbound.write(message)
        } catch {
            // The connection closed under the write: why it closed (a TLS failure, say, or the server's refusal)
            // waits on the inbound side.
            if case .error(let refusal) = try await receive() { throw SyncError.refused(by: refusal) }
            throw SyncError("the connection to the server closed")
        }
    }

    /// The next message from the server; wake-ups are kept in ``wakes``.
    mutating func receive() async throws -> SyncMessage {
        while true {
            switch try await nextEvent() {
            case .wake(let wake): wakes.insert(wake)
            case .message(let message): return message
            }
        }
    }

    enum Event {
        case message(SyncMessage)
        case wake(Wake)
    }

    /// The next message or wake-up.
    mutating func nextEvent() async throws -> Event {
        guard let event = await events.next() else { throw SyncError("the server closed the connection") }
        switch event {
        case .wake(let wake):
            return .wake(wake)
        case .closed:
            throw SyncError("the server closed the connection")
        case .failed(let error):
            throw Self.describe(error, usesTLS: usesTLS)
        case .frame(.message(let message)):
            return .message(message)
        case .pulled(let message, let page):
            prepared = page
            return .message(message)
        case .frame(.invalid(let error)):
            throw SyncError("the server sent a bad frame: \(error)")
        }
    }

    private static func describe(_ error: any Error, usesTLS: Bool) -> SyncError {
        switch error {
        case let timeout as FrameIdleHandler.Timeout:
            return SyncError(
                "the server did not answer within \(timeout.seconds) s; nothing unacknowledged was lost",
                cause: timeout
            )
        case let error as NIOSSLError:
            return SyncError(
                "TLS with the server failed (\(error)): does it serve TLS, and does the trusted CA sign it?",
                cause: error
            )
        case let error as BoringSSLError:
            return SyncError(
                "TLS with the server failed (\(error)): is its certificate signed by the trusted CA?",
                cause: error
            )
        default:
            return SyncError(
                "the connection to the server failed (\(error))"
                    + (usesTLS ? "" : "; if the server serves TLS, initialise the kiosk with --tls-ca"),
                cause: error
            )
        }
    }
}

/// Counts the bytes a connection writes and reads.
final class ByteCounter: ChannelDuplexHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let counts = Mutex((sent: 0, received: 0))

    var totals: (Int, Int) { counts.withLock { ($0.sent, $0.received) } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data).readableBytes
        counts.withLock { $0.received += bytes }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = Self.unwrapOutboundIn(data).readableBytes
        counts.withLock { $0.sent += bytes }
        context.write(data, promise: promise)
    }
}

/// A pulled page being prepared for its merge (``PreparedPull``: each return decoded, each new record's row and
/// write made) by a task of its own, started as the page is read.
///
/// Preparing a page of 500 returns takes longer than the server takes to read the next one (BENCHMARKS.md, issue 18,
/// tenth part): done by the task that reads the frames, it held the next request back by that long on every page.
/// A page read only as far as its envelope (``PulledFrame``) has its records decoded by that task too (nineteenth
/// part): a frame that does not decode fails the page's merge, and so the round, with the error it always had.
///
/// The preparations run at `utility` priority: the runtime queues them apart from the session's own work (on Linux,
/// on a dispatch queue and threads of their own), so the session's next request, and the merges it hands over, never
/// wait behind several pages being decoded.
struct PreparingPull: Sendable {
    /// The page's records.
    let count: Int
    private let firstID: String?
    private let lastID: String?
    /// Whether the records are decoded by the preparation (the page's message came without them).
    private let decodes: Bool
    private let task: Task<PreparedPull, any Error>
    /// Set once ``task`` has ended.
    private let done: Done

    final class Done: Sendable {
        let flag = Atomic(false)
    }

    /// Whether the preparation has ended (``value`` does not wait).
    var isReady: Bool { done.flag.load(ordering: .acquiring) }

    /// Starts preparing `records`.
    init(_ records: [VersionedRecord]) {
        count = records.count
        firstID = records.first?.id
        lastID = records.last?.id
        decodes = false
        let done = Done()
        self.done = done
        task = Task(priority: .utility) {
            defer { done.flag.store(true, ordering: .releasing) }
            return PreparedPull(records)
        }
    }

    /// Starts decoding the records of `frame`, then preparing them.
    init(_ frame: PulledFrame) {
        count = frame.envelope.count
        firstID = nil
        lastID = nil
        decodes = true
        let done = Done()
        self.done = done
        task = Task(priority: .utility) {
            defer { done.flag.store(true, ordering: .releasing) }
            do {
                return PreparedPull(try frame.records())
            } catch {
                throw SyncError("the server sent a bad frame: \(error)", cause: error)
            }
        }
    }

    /// Whether it is the preparation of the page whose message carries `records` (none, when this decodes them).
    func matches(_ records: [VersionedRecord]) -> Bool {
        if decodes { return records.isEmpty }
        return records.count == count && records.first?.id == firstID && records.last?.id == lastID
    }

    /// The prepared page, once ready.
    ///
    /// - Throws: ``SyncError`` if the page's frame does not decode.
    var value: PreparedPull {
        get async throws { try await task.value }
    }
}
