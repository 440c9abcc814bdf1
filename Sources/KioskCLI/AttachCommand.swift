import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import SyncClient

struct AttachCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a photo or document (JPEG, PNG or PDF) to a return, stored here under its SHA-256 digest.",
        discussion: """
            What the file is is read from its first bytes, not its name. At most \
            \(Attachment.defaultMaximumFileBytes >> 20) MiB a file and \(Attachment.defaultMaximumReturnBytes >> 20) \
            MiB a return, unless $KIOSK_ATTACHMENT_MAX_FILE_BYTES or $KIOSK_ATTACHMENT_MAX_RETURN_BYTES say \
            otherwise. The same bytes are stored once, however many returns show them. The return's attachment \
            (digest, type, size, caption, who, when) syncs with the return at once.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The return's id, or any prefix of it no other return shares.") var id: String
    @Argument(help: "The photo or document.") var file: String
    @Option(help: "What it shows.") var caption: String?

    func run() async throws {
        let limits = try Self.limits()
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        } catch {
            throw CLIError(message: "cannot read attachment \(file): \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        // Never more than one byte past the limit is read: a huge file is refused without loading it.
        let data = try handle.read(upToCount: Int(limits.maximumFileBytes) + 1) ?? Data()
        guard Int64(data.count) <= limits.maximumFileBytes else {
            throw CLIError(
                message: "attachment \(file) is over the limit of \(limits.maximumFileBytes) bytes per file"
            )
        }
        let store = try database.openStore()
        let returnID = try await store.resolveReturnID(id)
        let attachment: Attachment
        do {
            attachment = try store.attach(
                data,
                to: returnID,
                caption: caption,
                limits: limits,
                operatorID: try database.operatorID
            )
        } catch let error as ReturnsModelError where error.message.hasPrefix("unsupported attachment") {
            throw CLIError(message: "\(file): \(error.message)")
        }
        Console.current.print(
            "attached \(attachment.digest) (\(attachment.mediaType.rawValue), \(attachment.size) bytes) to \(returnID)"
        )
    }

    /// The limits, from the environment when set there.
    static func limits() throws -> AttachmentLimits {
        var limits = AttachmentLimits()
        let environment = ProcessInfo.processInfo.environment
        for (name, path) in [
            ("KIOSK_ATTACHMENT_MAX_FILE_BYTES", \AttachmentLimits.maximumFileBytes),
            ("KIOSK_ATTACHMENT_MAX_RETURN_BYTES", \AttachmentLimits.maximumReturnBytes),
        ] {
            guard let text = environment[name], !text.isEmpty else { continue }
            guard let value = Int64(text), (1...Attachment.largestSize).contains(value) else {
                throw CLIError(message: "invalid $\(name) '\(text)': expected 1 to \(Attachment.largestSize) bytes")
            }
            limits[keyPath: path] = value
        }
        return limits
    }
}

struct AttachmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attachment",
        abstract: "The photos and documents this kiosk holds.",
        subcommands: [Get.self]
    )

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Write an attachment's bytes to a file, checked against their SHA-256 digest first.",
            discussion: """
                An attachment another kiosk of the store took is fetched from the server the first time (and kept \
                here): the kiosk needs the network then, and the server must have received the bytes.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The digest, or its first 8 or more hex digits (as 'show' prints them).") var digest: String
        @Option(help: "The file to write (replaced atomically).") var output: String
        @Option(help: "The server, HOST:PORT, when the bytes must be fetched (default: the one given to init).")
        var server: String?

        func run() async throws {
            let store = try database.openStore()
            let digest = try store.attachmentDigest(withPrefix: digest)
            let mediaType: String
            let data: Data
            if let held = try store.attachmentBytes(digest) {
                (mediaType, data) = held
            } else {
                // Named by a return here, taken at another kiosk: on demand, from the server.
                (mediaType, data) = try await SyncClient(store: store).fetchAttachment(digest, server: server)
                Console.current.printError("fetched \(digest.prefix(12)) from the server")
            }
            do {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw CLIError(message: "cannot write the attachment to \(output): \(error.localizedDescription)")
            }
            Console.current.print("\(digest) (\(mediaType), \(data.count) bytes) written to \(output)")
        }
    }
}
