import WireProtocol

/// ReturnSync's version: the one source of truth `kiosk --version` and `returns-server --version` print.
///
/// The minor number follows what a release changes for operators; 0.3 is the release whose kiosks and server speak
/// sync protocol version 3 (the server's identity key).
public enum ReturnSyncVersion {
    /// The release, `MAJOR.MINOR.PATCH`.
    public static let release = "0.3.0"

    /// What `--version` prints: the release and every sync protocol version it speaks (`0.3.0 (sync protocols 3, 4)`),
    /// read from the protocol's own list so it cannot fall behind it.
    public static let description =
        "\(release) (sync protocols \(supportedProtocolVersions.map(String.init).joined(separator: ", ")))"
}
