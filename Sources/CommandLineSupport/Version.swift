import WireProtocol

/// ReturnSync's version: the one source of truth `kiosk --version` and `returns-server --version` print.
///
/// The minor number follows what a release changes for operators; 0.3 is the release whose kiosks and server speak
/// sync protocol version 3 (the server's identity key) and, later, 4 (photos' bytes); 0.4 adds HQ's console, the
/// kiosk's protocol version at HQ, the server's clock in `welcome` and fields a release does not know kept (schema
/// migrations v19–v21); 0.5 keeps values a release does not know, negotiates capabilities per connection (`fetch`),
/// and lets kiosks prune what HQ holds past their store's retention (schema migration v22); 0.6 lets kiosks drop the
/// settled-conflict history HQ holds, once the server grants `history-compaction` (schema migration v23); 0.6.1
/// changes nothing on the wire and makes sync faster (schema migration v24: one index on a return's GTIN and serial);
/// so does 0.6.2 (schema migration v25: the returns projection's indexes hold row numbers, not ids); 0.6.3 builds a
/// kiosk's query indexes once at the end of a large first pull or import (schema migration v26: `deferred_indexes`)
/// and asks the server for an estimate with every round's first pull; 0.6.4 keeps less sync metadata (schema
/// migrations v27 and v28: records numbered and without a second copy of their clock, change-log entries pointing at
/// a record's number instead of repeating its type, id, clock and dot).
public enum ReturnSyncVersion {
    /// The release, `MAJOR.MINOR.PATCH`.
    public static let release = "0.6.4"

    /// What `--version` prints: the release and every sync protocol version it speaks (`0.4.0 (sync protocols 3, 4)`),
    /// read from the protocol's own list so it cannot fall behind it.
    public static let description =
        "\(release) (sync protocols \(supportedProtocolVersions.map(String.init).joined(separator: ", ")))"
}
