import NIOCore
import NIOExtras

/// What the decoding side of a sync connection delivers: a message, or a frame that did not decode.
///
/// A bad frame is delivered rather than thrown so the connection's owner can answer it with an `error` frame.
public enum SyncFrame: Sendable {
    case message(SyncMessage)
    case invalid(ProtocolError)
}

/// Decodes newline-delimited frames into ``SyncFrame``s.
public final class SyncMessageDecoder: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = SyncFrame

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        let decoded: SyncFrame
        do {
            decoded = .message(try SyncMessage.decode(frame.readableBytesView))
        } catch let error as ProtocolError {
            decoded = .invalid(error)
        } catch {
            decoded = .invalid(ProtocolError(.malformedFrame, "\(error)"))
        }
        context.fireChannelRead(Self.wrapInboundOut(decoded))
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
}
