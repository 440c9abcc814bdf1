import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL server as operators name it: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`, the form
/// `--db`, `RETURNS_SERVER_DB` and the config file take (a file path names a SQLite database instead).
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's names).
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without checking its certificate; plain otherwise (libpq's default).
        case prefer
        /// TLS, without checking the server's certificate.
        case require
        /// TLS, the certificate checked against the system's CAs and the host name.
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// Whether `text` names a PostgreSQL server rather than a SQLite file.
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Parses `text`.
    ///
    /// - Throws: ``PostgresStorageError`` naming what is wrong, never the password.
    public init(_ text: String) throws(PostgresStorageError) {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw PostgresStorageError(
                "invalid PostgreSQL URL '\(Self.redacted(text))': expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB"
            )
        }
        let shown = Self.redacted(text)
        guard let user = components.user, !user.isEmpty else {
            throw PostgresStorageError("the PostgreSQL URL '\(shown)' names no user: postgres://USER@HOST/DB")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresStorageError("the PostgreSQL URL '\(shown)' names no host: postgres://USER@HOST/DB")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresStorageError("the PostgreSQL URL '\(shown)' names no database: postgres://USER@HOST/DB")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw PostgresStorageError("the PostgreSQL URL '\(shown)' has port \(port): expected 1 to 65535")
        }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw PostgresStorageError(
                        "the PostgreSQL URL '\(shown)' has sslmode '\(item.value ?? "")': expected one of "
                            + SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    )
                }
                sslMode = mode
            default:
                throw PostgresStorageError(
                    "the PostgreSQL URL '\(shown)' has an unknown parameter '\(item.name)': only sslmode is understood"
                )
            }
        }
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        self.port = components.port ?? 5432
        self.database = database.removingPercentEncoding ?? database
        self.sslMode = sslMode
    }

    /// The URL with its password replaced by `***`: for messages and logs.
    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// `text` without the password it may hold.
    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    /// The TLS configuration `sslMode` asks for, and whether TLS is required (`nil`: plain TCP).
    private var tlsConfiguration: (TLSConfiguration, required: Bool)? {
        switch sslMode {
        case .disable:
            return nil
        case .prefer, .require:
            var unchecked = TLSConfiguration.makeClientConfiguration()
            unchecked.certificateVerification = .none
            return (unchecked, sslMode == .require)
        case .verifyFull:
            return (.makeClientConfiguration(), true)
        }
    }

    /// The configuration of one connection to this server: the check made before the pool starts, and tools' own
    /// statements (a benchmark creating its database).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        if let (configuration, required) = tlsConfiguration {
            let context = try NIOSSLContext(configuration: configuration)
            tls = required ? .require(context) : .prefer(context)
        } else {
            tls = .disable
        }
        return PostgresConnection.Configuration(
            host: host,
            port: port,
            username: user,
            password: password,
            database: database,
            tls: tls
        )
    }

    /// The client configuration for this server.
    func configuration() -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        if let (configuration, required) = tlsConfiguration {
            tls = required ? .require(configuration) : .prefer(configuration)
        } else {
            tls = .disable
        }
        return PostgresClient.Configuration(
            host: host,
            port: port,
            username: user,
            password: password,
            database: database,
            tls: tls
        )
    }
}

/// Why the PostgreSQL storage failed: one line for a person, the error underneath kept whole.
public struct PostgresStorageError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// PostgresNIO's error, or the socket's.
    public var cause: (any Error & Sendable)?

    public init(_ message: String, cause: (any Error & Sendable)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
