/// ReturnSync's version: the one source of truth `kiosk --version` and `returns-server --version` print.
///
/// The minor number follows what a release changes for operators; 0.3 is the release whose kiosks and server speak
/// sync protocol version 3 (the server's identity key).
public enum ReturnSyncVersion {
    /// The release, `MAJOR.MINOR.PATCH`.
    public static let release = "0.3.0"

    /// What `--version` prints.
    public static let description = "\(release) (sync protocol 3)"
}
