import NIOCore
import NIOExtras
import SyncEngine
import Synchronization
import WireProtocol

/// What the decoding side of a sync connection delivers: a message, or a frame that did not decode.
///
/// A bad frame is delivered rather than thrown so the connection's owner can answer it with an `error` frame.
public enum SyncFrame: Sendable {
    case message(SyncMessage)
    case invalid(ProtocolError)
}

/// The largest frame a connection accepts now; a server lowers it until the peer has authenticated.
public final class FrameLimit: Sendable {
    private let bytes: Atomic<Int>

    /// Creates a limit of `bytes`.
    public init(_ bytes: Int) {
        self.bytes = Atomic(bytes)
    }

    /// The limit now.
    public var current: Int { bytes.load(ordering: .relaxed) }

    /// Changes the limit: frames read from now on are held to it.
    public func set(_ newValue: Int) { bytes.store(newValue, ordering: .relaxed) }
}

/// Splits the stream into lines, refusing (with `ByteToMessageDecoderError.PayloadTooLargeError`) a line that
/// grows past the connection's ``FrameLimit`` without buffering the rest of it.
public struct SyncLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    private var lines = LineBasedFrameDecoder()
    private let limit: FrameLimit

    /// Creates a decoder held to `limit`.
    public init(limit: FrameLimit) {
        self.limit = limit
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let state = try lines.decode(context: context, buffer: &buffer)
        // A line end ("\r\n") may still be missing from what is buffered: two bytes of slack.
        if state == .needMoreData, buffer.readableBytes > limit.current + 2 {
            throw ByteToMessageDecoderError.PayloadTooLargeError()
        }
        return state
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try lines.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}

/// Decodes newline-delimited frames into ``SyncFrame``s.
public final class SyncMessageDecoder: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = SyncFrame

    private let limit: FrameLimit?

    /// Creates a decoder; with `limit`, a whole frame over it (one that arrived in a single read) is refused too.
    public init(limit: FrameLimit? = nil) {
        self.limit = limit
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if let limit, frame.readableBytes > limit.current {
            context.fireErrorCaught(ByteToMessageDecoderError.PayloadTooLargeError())
            return
        }
        context.fireChannelRead(Self.wrapInboundOut(SyncFrame(decoding: frame)))
    }
}

extension SyncFrame {
    /// `frame` decoded: its message, or why it is not one.
    public init(decoding frame: ByteBuffer) {
        do {
            self = .message(try SyncMessage.decode(frame.readableBytesView))
        } catch let error as ProtocolError {
            self = .invalid(error)
        } catch {
            self = .invalid(ProtocolError(.malformedFrame, "\(error)"))
        }
    }
}

/// A `pull-batch` frame whose records are not decoded yet: its envelope, read first, and its bytes, which
/// ``records()`` decodes whole — on whichever thread calls it.
public struct PulledFrame: Sendable {
    /// What the frame says besides its records.
    public let envelope: PullBatchEnvelope
    /// The frame, as received (without its newline).
    public let bytes: ByteBuffer

    /// The frame's records, decoded and checked against ``envelope`` (``PullBatchEnvelope/records(decoding:)``).
    ///
    /// - Throws: ``ProtocolError`` for a frame that does not decode, or decodes as something else.
    public func records() throws -> [VersionedRecord] {
        try envelope.records(decoding: bytes.readableBytesView)
    }
}

/// What the decoding side of a kiosk's connection delivers: a frame decoded as ``SyncMessageDecoder`` decodes it,
/// or a non-empty `pull-batch` with its records left to decode (``PulledFrame``).
public enum KioskFrame: Sendable {
    case frame(SyncFrame)
    case pullBatch(PulledFrame)
}

/// Decodes a kiosk's incoming frames: each `pull-batch` laid out as a server writes one only as far as its envelope
/// (``PullBatchEnvelope/peek(_:)``), so the kiosk can ask for the next page before this one's records are decoded;
/// every other frame whole, as ``SyncMessageDecoder`` does.
public final class KioskFrameDecoder: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = KioskFrame

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        if let envelope = PullBatchEnvelope.peek(bytes.readableBytesView) {
            context.fireChannelRead(Self.wrapInboundOut(.pullBatch(PulledFrame(envelope: envelope, bytes: bytes))))
        } else {
            context.fireChannelRead(Self.wrapInboundOut(.frame(SyncFrame(decoding: bytes))))
        }
    }
}

/// Encodes ``SyncMessage``s as newline-terminated frames.
public final class SyncMessageEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = SyncMessage

    public init() {}

    public func encode(data: SyncMessage, out: inout ByteBuffer) throws {
        out.writeBytes(data.encoded())
        out.writeInteger(UInt8(ascii: "\n"))
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds the sync protocol's framing and codec: lines of at most `maximumFrameSize` bytes, refused (with
    /// `ByteToMessageDecoderError.PayloadTooLargeError`) once a line grows past it, without buffering the rest.
    public func addSyncProtocolHandlers(maximumFrameSize: Int = WireProtocol.maximumFrameSize) throws {
        try addHandler(ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maximumFrameSize + 2))
        try addHandler(SyncMessageDecoder())
        try addHandler(MessageToByteHandler(SyncMessageEncoder()))
    }

    /// Adds a kiosk's framing and codec: ``addSyncProtocolHandlers(maximumFrameSize:)``'s, with each `pull-batch`
    /// delivered before its records are decoded (``KioskFrameDecoder``).
    public func addKioskProtocolHandlers(maximumFrameSize: Int = WireProtocol.maximumFrameSize) throws {
        try addHandler(ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maximumFrameSize + 2))
        try addHandler(KioskFrameDecoder())
        try addHandler(MessageToByteHandler(SyncMessageEncoder()))
    }

    /// Adds the sync protocol's framing and codec held to `limit`, which the caller may change as the
    /// conversation goes on (a server accepts only small frames before authentication). `maximumFrameSize` stays
    /// the hard ceiling.
    public func addSyncProtocolHandlers(limit: FrameLimit, maximumFrameSize: Int = WireProtocol.maximumFrameSize) throws
    {
        try addHandler(ByteToMessageHandler(SyncLineDecoder(limit: limit), maximumBufferSize: maximumFrameSize + 2))
        try addHandler(SyncMessageDecoder(limit: limit))
        try addHandler(MessageToByteHandler(SyncMessageEncoder()))
    }
}

/// Closes a connection that neither completed a frame nor was written to for `timeout`: the server's idle timeout
/// and the kiosk's response timeout, one handler for both sides.
///
/// Unlike an idle-read timer, bytes that never make a frame (a single space every few seconds) do not count as
/// activity: a peer must send whole frames to keep its connection.
public final class FrameIdleHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked: every stored property is only touched on the channel's event loop.
    public typealias InboundIn = SyncFrame
    public typealias InboundOut = SyncFrame
    public typealias OutboundIn = SyncMessage
    public typealias OutboundOut = SyncMessage

    /// What a connection closed for silence fails with, when the handler reports it (the kiosk's side).
    public struct Timeout: Error, Sendable {
        /// The timeout, in seconds.
        public var seconds: Double
    }

    private let timeout: TimeAmount
    private let reportsTimeout: Bool
    private var deadline: Scheduled<Void>?

    /// Creates a handler closing after `timeout` without a complete frame in either direction.
    ///
    /// - Parameter reportsTimeout: whether the connection fails with ``Timeout`` first (a kiosk waiting for an
    ///   answer learns why), or is only closed (the server, whose peer simply went quiet).
    public init(timeout: TimeAmount, reportsTimeout: Bool = false) {
        self.timeout = timeout
        self.reportsTimeout = reportsTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        arm(context)
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        arm(context)
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        guard reportsTimeout else {
            deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            return
        }
        let timeout = Timeout(seconds: Double(self.timeout.nanoseconds) / 1e9)
        deadline = context.eventLoop.scheduleTask(in: self.timeout) {
            channel.pipeline.fireErrorCaught(timeout)
            channel.close(promise: nil)
        }
    }
}
