extension String {
    /// The text with every control character written visibly — `\n`, `\r`, `\t`, `\e` and `\u{…}` for the rest —
    /// so text from elsewhere (a note, an id someone typed, a peer's frame) printed to a terminal or a log cannot
    /// clear the screen, fake output or forge log lines.
    ///
    /// Escaped: C0 controls and DEL, C1 controls (U+0080–U+009F), and the bidirectional overrides and isolates
    /// that can reorder what a reader sees (U+202A–U+202E, U+2066–U+2069). A backslash stays as it is.
    ///
    /// - Parameter keepingLineFeeds: leave `\n` as a line break, for text whose lines were laid out on purpose.
    public func escapingControlCharacters(keepingLineFeeds: Bool = false) -> String {
        guard unicodeScalars.contains(where: { Self.needsEscape($0, keepingLineFeeds) }) else { return self }
        var result = ""
        result.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard Self.needsEscape(scalar, keepingLineFeeds) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{1B}": result += "\\e"
            default: result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, _ keepingLineFeeds: Bool) -> Bool {
        switch scalar.value {
        case 0x0A: return !keepingLineFeeds
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}
