import Foundation

/// A photo or document of a return (damage for the vendor, a receipt, a repair report), named by the SHA-256 digest
/// of its bytes. The return holds the metadata; the bytes are stored once per digest, however many returns show them.
public struct Attachment: Hashable, Sendable {
    /// What the bytes are, told by their first bytes (their magic), never by a file name.
    public enum MediaType: String, Sendable, CaseIterable {
        case jpeg = "image/jpeg"
        case png = "image/png"
        case pdf = "application/pdf"

        /// The media type the bytes begin like; `nil` for anything else.
        public init?(sniffing bytes: some Collection<UInt8>) {
            let head = Array(bytes.prefix(8))
            if head.starts(with: [0xFF, 0xD8, 0xFF]) {
                self = .jpeg
            } else if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
                self = .png
            } else if head.starts(with: Array("%PDF-".utf8)) {
                self = .pdf
            } else {
                return nil
            }
        }
    }

    /// The largest file a kiosk attaches unless configured otherwise: 10 MiB.
    public static let defaultMaximumFileBytes: Int64 = 10 << 20
    /// The most a return's attachments add up to unless configured otherwise: 50 MiB.
    public static let defaultMaximumReturnBytes: Int64 = 50 << 20
    /// The largest size an attachment can claim anywhere: 1 GiB.
    public static let largestSize: Int64 = 1 << 30

    /// The SHA-256 digest of the bytes, 64 lower-case hex digits.
    public let digest: String
    /// What the bytes are.
    public let mediaType: MediaType
    /// Bytes.
    public let size: Int64
    /// What it shows, for the people reading the return.
    public let caption: String?

    /// Creates an attachment's metadata, validating it.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming a digest that is not 64 lower-case hex
    ///   digits, a size out of range, or a caption that is blank, too long or has control characters.
    public init(digest: String, mediaType: MediaType, size: Int64, caption: String? = nil) throws {
        guard digest.utf8.count == 64,
            digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid attachment digest '\(digest)': expected 64 lower-case hex digits (SHA-256)"
            )
        }
        guard (1...Self.largestSize).contains(size) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid attachment size \(size): expected 1...\(Self.largestSize) bytes"
            )
        }
        if let caption {
            guard !caption.allSatisfy(\.isWhitespace), caption.count <= 200,
                caption.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw ReturnsModelError(
                    code: .invalidValue,
                    message: "invalid caption '\(caption)': 1-200 characters, no control characters"
                )
            }
        }
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.caption = caption
    }

    /// The attachment as an element of a return's `attachments` set: `DIGEST MEDIATYPE SIZE[ CAPTION]`.
    public var element: String {
        "\(digest) \(mediaType.rawValue) \(size)" + (caption.map { " " + $0 } ?? "")
    }

    /// An attachment from its set element.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the element when it is not one.
    public init(element: String) throws {
        let parts = element.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, let type = MediaType(rawValue: String(parts[1])), let size = Int64(parts[2]) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid attachment '\(element.prefix(120))': expected DIGEST MEDIATYPE SIZE[ CAPTION] with "
                    + "a media type of \(MediaType.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        try self.init(
            digest: String(parts[0]),
            mediaType: type,
            size: size,
            caption: parts.count == 4 ? String(parts[3]) : nil
        )
    }
}

extension ProductReturn {
    /// Attaches a photo or document. Like notes, attachments can be added in every status — a vendor may ask for a
    /// photo after the return is closed — and are never removed.
    ///
    /// - Parameter maximumReturnBytes: what the return's attachments may add up to.
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` when the return holds this digest already, or
    ///   the attachments would pass `maximumReturnBytes`, naming the sizes.
    @discardableResult
    public mutating func attach(
        _ attachment: Attachment,
        maximumReturnBytes: Int64 = Attachment.defaultMaximumReturnBytes,
        by author: String,
        at date: Date
    ) throws -> ReturnUpdate {
        guard !attachments.contains(where: { $0.digest == attachment.digest }) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "return \(id) holds attachment \(attachment.digest.prefix(12)) already"
            )
        }
        let total = attachments.map(\.size).reduce(attachment.size, +)
        guard total <= maximumReturnBytes else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "attachments of return \(id) would add up to \(total) bytes: at most \(maximumReturnBytes) "
                    + "per return"
            )
        }
        var update = ReturnUpdate()
        update.addedAttachments = [attachment]
        try apply(update, by: author, at: date)
        return update
    }
}
