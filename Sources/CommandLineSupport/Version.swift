import WireProtocol

/// ReturnSync's version: the one source of truth `kiosk --version` and `returns-server --version` print.
///
/// The minor number follows what a release changes for operators; 0.3 is the release whose kiosks and server speak
/// sync protocol version 3 (the server's identity key); 0.4 adds HQ's console and users, photos' bytes (protocol
/// version 4), the kiosk's protocol version at HQ and the server's clock in `welcome` (schema migrations v16–v21).
public enum ReturnSyncVersion {
    /// The release, `MAJOR.MINOR.PATCH`.
    public static let release = "0.4.0"

    /// What `--version` prints: the release and every sync protocol version it speaks (`0.4.0 (sync protocols 3, 4)`),
    /// read from the protocol's own list so it cannot fall behind it.
    public static let description =
        "\(release) (sync protocols \(supportedProtocolVersions.map(String.init).joined(separator: ", ")))"
}
