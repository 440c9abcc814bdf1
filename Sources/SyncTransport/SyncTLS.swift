import NIOCore
import NIOSSL

/// TLS for sync connections, set up once for both sides: the server's context from its PEM files, the kiosk's
/// from the CA it trusts, and the pipeline handlers that go first on a channel.
public enum SyncTLS {
    /// A server context serving the certificate chain and private key in the PEM files at `certificatePath` and
    /// `keyPath`.
    ///
    /// - Throws: ``TLSSetupError`` naming the file that could not be read or parsed.
    public static func serverContext(certificatePath: String, keyPath: String) throws(TLSSetupError) -> NIOSSLContext {
        let configuration = try serverConfiguration(certificatePath: certificatePath, keyPath: keyPath)
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError(
                "the TLS certificate \(certificatePath) and key \(keyPath) do not work: \(error)",
                cause: error
            )
        }
    }

    /// A client context trusting only the CA certificates in `pem`, verifying the server's certificate and name.
    ///
    /// - Throws: ``TLSSetupError`` when `pem` holds no valid certificate.
    public static func clientContext(trusting pem: String) throws(TLSSetupError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try certificates(inPEM: pem))
        configuration.certificateVerification = .fullVerification
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError("the trusted CA cannot be used: \(error)", cause: error)
        }
    }

    /// The server's TLS configuration from its PEM certificate chain and private key: what the sync port and HQ's
    /// console serve with.
    public static func serverConfiguration(
        certificatePath: String,
        keyPath: String
    ) throws(TLSSetupError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSSetupError("cannot read the TLS certificate chain \(certificatePath): \(error)", cause: error)
        }
        guard !chain.isEmpty else { throw TLSSetupError("\(certificatePath) holds no certificate") }
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSSetupError("cannot read the TLS private key \(keyPath): \(error)", cause: error)
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
    }

    /// The certificates in a PEM text: at least one.
    public static func certificates(inPEM pem: String) throws(TLSSetupError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))
        } catch {
            throw TLSSetupError("the trusted CA is not a PEM certificate: \(error)", cause: error)
        }
        guard !certificates.isEmpty else { throw TLSSetupError("the trusted CA file holds no certificate") }
        return certificates
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds the server's TLS handler, first on an accepted channel.
    public func addSyncTLSServer(_ context: NIOSSLContext) throws {
        try addHandler(NIOSSLServerHandler(context: context))
    }

    /// Adds the kiosk's TLS handler for a server at `host`: its certificate must name `host`, or hold `host` among
    /// its IP addresses when `host` is one.
    public func addSyncTLSClient(_ context: NIOSSLContext, host: String) throws {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        try addHandler(NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host))
    }
}

/// TLS could not be set up from the given files or text.
public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the file.
    public var message: String
    /// NIOSSL's error underneath, kept whole.
    public var cause: (any Error & Sendable)?

    public init(_ message: String, cause: (any Error & Sendable)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
