import Logging
import ReturnSyncJSON

/// A log handler writing every message and metadata value with its control characters visible, then handing it
/// to the handler it wraps: a peer's text in a log line (an id, a note quoted in an error) cannot forge another line
/// or send escape sequences to whoever tails the log.
public struct VisibleLogHandler: LogHandler {
    private var wrapped: any LogHandler

    /// Wraps `handler`.
    public init(wrapping handler: any LogHandler) {
        wrapped = handler
    }

    /// The processes' standard logger: lines on standard error (the journal, under systemd), made visible.
    public static func standardError(label: String) -> VisibleLogHandler {
        VisibleLogHandler(wrapping: StreamLogHandler.standardError(label: label))
    }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.mapValues(Self.visible) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.visible) }
    }

    public func log(event: LogEvent) {
        var visible = event
        visible.message = "\(event.message.description.escapingControlCharacters())"
        visible.metadata = event.metadata?.mapValues(Self.visible)
        wrapped.log(event: visible)
    }

    private static func visible(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): return .string(text.escapingControlCharacters())
        case .stringConvertible(let convertible): return .string(convertible.description.escapingControlCharacters())
        case .array(let values): return .array(values.map(visible))
        case .dictionary(let values): return .dictionary(values.mapValues(visible))
        }
    }
}
