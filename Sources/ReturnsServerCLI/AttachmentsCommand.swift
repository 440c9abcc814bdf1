import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsServer
import SyncCore

/// `returns-server attachments`: the photos and documents the stores' returns name, and their bytes.
struct AttachmentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attachments",
        abstract: "The photos and documents of returns: which the server holds, and their bytes.",
        discussion: """
            Kiosks send an attachment's bytes after their returns' records, in chunks, each durable when \
            acknowledged; the server checks them against the SHA-256 digest the return names. See \
            docs/attachments.md.
            """,
        subcommands: [List.self, Get.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The attachments the returns name, by digest, with how many of their bytes the server holds."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "Only those named by this store's returns.") var store: String?
        @Flag(help: "Only those whose bytes the server does not hold whole yet.") var missing = false
        @Flag(help: "Print JSON.") var json = false

        struct Document: Encodable {
            var digest: String
            var mediaType: String
            var size: Int64
            var held: Int64
            var complete: Bool
            var stores: [String]
            var returns: Int
        }

        func run() async throws {
            let store = try store.map(StoreID.init)
            let listing = try await database.withStorage {
                try await $0.attachmentListing(store: store, missing: missing)
            }
            if json {
                try Console.current.printJSON(
                    listing.map {
                        Document(
                            digest: $0.digest,
                            mediaType: $0.mediaType,
                            size: $0.size,
                            held: $0.held,
                            complete: $0.complete,
                            stores: $0.stores,
                            returns: $0.returns
                        )
                    }
                )
                return
            }
            guard !listing.isEmpty else {
                Console.current.print(missing ? "every attachment is held whole" : "no attachments")
                return
            }
            let rows = listing.map { entry in
                [
                    String(entry.digest.prefix(12)), entry.mediaType, "\(entry.size)",
                    entry.complete ? "held" : entry.held > 0 ? "\(entry.held) of \(entry.size) bytes" : "waiting",
                    entry.stores.joined(separator: ","), "\(entry.returns)",
                ]
            }
            Console.current.print(Format.table(["DIGEST", "TYPE", "SIZE", "BYTES", "STORES", "RETURNS"], rows))
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Write an attachment's bytes to a file, checked against their SHA-256 digest."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The digest, or its first 8 or more hex digits (as 'list' prints them).") var digest: String
        @Option(help: "The file to write (replaced atomically).") var output: String

        func run() async throws {
            let prefix = digest.lowercased()
            guard AttachmentRules.isDigestPrefix(prefix) else {
                throw CLIError(message: AttachmentRules.invalidDigestPrefix(digest))
            }
            let written: (digest: String, mediaType: String, size: Int64) = try await database.withStorage { storage in
                let found = try await storage.attachmentListing(store: nil, missing: false)
                    .filter { $0.digest.hasPrefix(prefix) }
                guard found.count == 1, let attachment = found.first else {
                    throw CLIError(
                        message: found.isEmpty
                            ? "no return names attachment \(prefix)"
                            : "attachment \(prefix) is ambiguous: "
                                + found.prefix(3).map(\.digest).joined(separator: ", ")
                    )
                }
                let file = try AtomicFileWriter(path: output, what: "the attachment")
                do {
                    guard let held = try await storage.streamAttachment(attachment.digest, to: { try file.write($0) })
                    else {
                        throw CLIError(
                            message:
                                "the server holds \(attachment.held) of the \(attachment.size) bytes of attachment "
                                + "\(attachment.digest) so far: the kiosk that took it has not sent it all yet"
                        )
                    }
                    try file.finish()
                    return (attachment.digest, held.mediaType, held.size)
                } catch {
                    file.abandon()
                    throw error
                }
            }
            Console.current.print(
                "\(written.digest) (\(written.mediaType), \(written.size) bytes) written to \(output)"
            )
        }
    }
}
