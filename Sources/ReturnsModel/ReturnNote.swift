import Foundation

/// A free-text note on a return. Notes are only ever added: concurrent notes from several kiosks all survive.
public struct ReturnNote: Hashable, Sendable, Codable {
    /// The longest note accepted, in characters.
    public static let maximumLength = 2000

    /// The note's text.
    public let text: String
    /// Who wrote it: the replica (kiosk or server) where it was added.
    public let author: String
    /// When it was added.
    public let createdAt: Date

    /// Creates a note, validating its text.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidNote`` when the text is blank or too long.
    public init(text: String, author: String, createdAt: Date) throws {
        try Self.validate(text)
        self.text = text
        self.author = author
        self.createdAt = createdAt
    }

    /// Checks that `text` is usable as a note: not blank, at most ``maximumLength`` characters.
    public static func validate(_ text: String) throws {
        guard !text.allSatisfy(\.isWhitespace) else {
            throw ReturnsModelError(code: .invalidNote, message: "invalid note '\(text)': a note cannot be blank")
        }
        guard text.count <= maximumLength else {
            throw ReturnsModelError(
                code: .invalidNote,
                message: "invalid note of \(text.count) characters: at most \(maximumLength) are allowed"
            )
        }
    }
}
