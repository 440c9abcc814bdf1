/// An enumeration of the returns vocabulary, spelled in kebab-case on the wire and in the command line.
public protocol ReturnVocabulary: RawRepresentable<String>, CaseIterable, Hashable, Sendable, Codable {
    /// What the value is called in error messages, such as `"reason"`.
    static var vocabularyName: String { get }
}

extension ReturnVocabulary {
    /// Parses a kebab-case spelling.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the bad spelling and listing the
    ///   allowed ones.
    public static func parse(_ text: String) throws -> Self {
        guard let value = Self(rawValue: text) else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid \(vocabularyName) '\(text)': expected one of \(allowedSpellings)"
            )
        }
        return value
    }

    /// Every spelling, comma-separated, in declaration order.
    public static var allowedSpellings: String {
        allCases.map(\.rawValue).joined(separator: ", ")
    }

    /// Whether `text` is spelled as a value of this vocabulary could be — 1–40 lower-case ASCII letters and digits
    /// in words joined by single hyphens, starting with a letter — without being one this release knows: a value
    /// a newer release added (issue 22: a fleet upgrades in waves). Such a value is kept and forwarded untouched;
    /// anything else outside the vocabulary is an error.
    public static func isNewerSpelling(_ text: String) -> Bool {
        Self(rawValue: text) == nil && isVocabularySpelling(text)
    }
}

/// Whether `text` is spelled as a vocabulary value: 1–40 lower-case ASCII letters and digits in words joined by
/// single hyphens, starting with a letter (`not-as-described`, `end-of-life`).
public func isVocabularySpelling(_ text: String) -> Bool {
    let bytes = text.utf8
    guard (1...40).contains(bytes.count), let first = bytes.first,
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
        bytes.last != UInt8(ascii: "-")
    else { return false }
    var previous: UInt8 = 0
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): break
        case UInt8(ascii: "-") where previous != UInt8(ascii: "-"): break
        default: return false
        }
        previous = byte
    }
    return true
}

/// Why the customer brought the product back.
public enum ReturnReason: String, ReturnVocabulary {
    case damaged
    case defective
    case notAsDescribed = "not-as-described"
    case wrongItem = "wrong-item"
    case noLongerNeeded = "no-longer-needed"
    case recall
    case repair
    case endOfLife = "end-of-life"
    case other

    public static let vocabularyName = "reason"
}

/// The state of the item as found at inspection.
public enum ItemCondition: String, ReturnVocabulary {
    case unknown
    case unopened
    case likeNew = "like-new"
    case used
    case damaged
    case defective
    case hazardous
    case incomplete

    public static let vocabularyName = "condition"
}

/// The outcome of a functional test at inspection.
public enum TestResult: String, ReturnVocabulary {
    case notTested = "not-tested"
    case pass
    case fail

    public static let vocabularyName = "test result"
}

/// Where the returned item goes next.
public enum Disposition: String, ReturnVocabulary {
    case undecided
    case restock
    case repackage
    case repair
    case returnToVendor = "return-to-vendor"
    case recycle
    case dispose
    case quarantine

    public static let vocabularyName = "disposition"

    /// The dispositions an item can be routed to: every one but `undecided`.
    public static let routable: [Disposition] = allCases.filter { $0 != .undecided }

    /// Parses a disposition an item can be routed to.
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming the bad spelling and listing the
    ///   routable dispositions (`undecided` is not one).
    public static func parseRoutable(_ text: String) throws -> Disposition {
        guard let value = Disposition(rawValue: text), value != .undecided else {
            throw ReturnsModelError(
                code: .invalidValue,
                message:
                    "invalid disposition '\(text)': expected one of \(routable.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return value
    }

    /// Dispositions from the safest to the least safe.
    ///
    /// When two replicas choose different dispositions concurrently, the safer one is shown until someone
    /// resolves the conflict: quarantining a restockable item costs a second look, restocking a recalled one can
    /// hurt a customer.
    public static let safetyOrder: [Disposition] = [
        .quarantine, .dispose, .recycle, .returnToVendor, .repair, .repackage, .restock, .undecided,
    ]
}

/// Where a return stands in its lifecycle: received → inspected → dispositioned → closed, or voided.
public enum ReturnStatus: String, ReturnVocabulary {
    case received
    case inspected
    case dispositioned
    case closed
    case voided

    public static let vocabularyName = "status"

    /// Statuses from the furthest stage of the lifecycle to the earliest; voided wins over all.
    ///
    /// Concurrent status changes show the furthest stage: a return one kiosk closed is closed, even if another
    /// kiosk was still inspecting it.
    public static let precedenceOrder: [ReturnStatus] = [.voided, .closed, .dispositioned, .inspected, .received]

    /// Whether a return with this status can no longer be edited.
    public var isFinal: Bool { self == .closed || self == .voided }
}
