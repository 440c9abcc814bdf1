import Foundation
import ReturnsModel
import Testing

/// Photos and documents of a return: what they are is told by their bytes, and what a return holds is bounded.
@Suite struct AttachmentTests {
    static let digest = String(repeating: "ab", count: 32)

    @Test func theMediaTypeIsReadFromTheFirstBytes() {
        #expect(Attachment.MediaType(sniffing: [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]) == .jpeg)
        #expect(Attachment.MediaType(sniffing: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(Attachment.MediaType(sniffing: Array("%PDF-1.7\n".utf8)) == .pdf)
        // A GIF, a PNG cut short, text named .jpg, nothing: none of the three.
        #expect(Attachment.MediaType(sniffing: Array("GIF89a".utf8)) == nil)
        #expect(Attachment.MediaType(sniffing: [0x89, 0x50, 0x4E, 0x47]) == nil)
        #expect(Attachment.MediaType(sniffing: Array("hello".utf8)) == nil)
        #expect(Attachment.MediaType(sniffing: [UInt8]()) == nil)
    }

    @Test func elementsRoundTripAndBadOnesAreNamed() throws {
        let photo = try Attachment(digest: Self.digest, mediaType: .jpeg, size: 1234, caption: "dent on the lid")
        #expect(photo.element == "\(Self.digest) image/jpeg 1234 dent on the lid")
        #expect(try Attachment(element: photo.element) == photo)
        #expect(try Attachment(element: "\(Self.digest) application/pdf 9").caption == nil)
        for bad in [
            "\(Self.digest) image/gif 12", "\(Self.digest.uppercased()) image/png 12", "abc image/png 12",
            "\(Self.digest) image/png 0", "\(Self.digest) image/png -5", "\(Self.digest) image/png", "",
            "\(Self.digest) image/png 12 \u{7}bell", "\(Self.digest) image/png 99999999999999",
        ] {
            #expect(throws: ReturnsModelError.self, "\(bad)") { try Attachment(element: bad) }
        }
    }

    @Test func aReturnHoldsEachDigestOnceAndNoMoreThanItsLimit() throws {
        var item = try ProductReturn(
            id: ReturnID("0192f5e0-7a3c-7def-8123-456789abcdef"),
            storeID: StoreID("s1"),
            kioskID: KioskID("k1"),
            orderID: OrderID("O-1"),
            gtin: GTIN("4006381333931"),
            reason: .damaged,
            createdAt: Date()
        )
        let first = try Attachment(digest: Self.digest, mediaType: .jpeg, size: 600)
        try item.attach(first, maximumReturnBytes: 1000, by: "k1", at: Date())
        #expect(item.attachments == [first])
        #expect { try item.attach(first, maximumReturnBytes: 1000, by: "k1", at: Date()) } throws: { error in
            "\(error)".contains("holds attachment abababababab already")
        }
        let second = try Attachment(digest: String(repeating: "cd", count: 32), mediaType: .png, size: 401)
        #expect { try item.attach(second, maximumReturnBytes: 1000, by: "k1", at: Date()) } throws: { error in
            "\(error)".contains("would add up to 1001 bytes: at most 1000")
        }
        #expect(item.attachments == [first], "nothing attached on error")
    }
}
