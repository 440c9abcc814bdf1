import Foundation

/// Where a return sent for repair stands.
public struct RepairRecord: Hashable, Sendable {
    /// The repair's progress.
    public enum Status: String, ReturnVocabulary {
        case sent
        case inRepair = "in-repair"
        case repaired
        case beyondRepair = "beyond-repair"

        public static let vocabularyName = "repair status"

        /// Furthest first: when a kiosk and HQ update a repair concurrently, the furthest news is shown.
        public static let precedenceOrder: [Status] = [.beyondRepair, .repaired, .inRepair, .sent]

        /// Whether the item is back from the repairer.
        public var isFinished: Bool { self == .repaired || self == .beyondRepair }
    }

    /// The repairer.
    public var vendor: String
    public var status: Status
    /// The day the item was sent, `YYYY-MM-DD`.
    public var sentOn: String
    /// The day it came back, `YYYY-MM-DD`, once repaired or beyond repair.
    public var backOn: String?

    /// Creates a repair record, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` for a blank vendor, a bad date, a return date before the sending date, or a
    ///   finished repair without a return date.
    public init(vendor: String, status: Status, sentOn: String, backOn: String? = nil) throws {
        guard !vendor.allSatisfy(\.isWhitespace), vendor.count <= 200 else {
            throw ReturnsModelError(code: .invalidValue, message: "invalid repair vendor '\(vendor)': 1-200 characters")
        }
        self.vendor = vendor
        self.status = status
        self.sentOn = try ReturnDates.validatedDay(sentOn)
        self.backOn = try backOn.map(ReturnDates.validatedDay)
        if let back = self.backOn, back < self.sentOn {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "repair back on \(back) is before it was sent on \(self.sentOn)"
            )
        }
        if status.isFinished, self.backOn == nil {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "a \(status.rawValue) repair needs the day it came back"
            )
        }
    }

    /// Days from sending to return, once back.
    public var turnaroundDays: Int? {
        guard let backOn, let sent = ReturnDates.dayNumber(sentOn), let back = ReturnDates.dayNumber(backOn) else {
            return nil
        }
        return back - sent
    }
}

/// The chain of custody of an item that leaves the store to be recycled or disposed of.
public struct CustodyHandoff: Hashable, Sendable {
    /// The recycler or disposer that took the item.
    public var party: String
    /// The manifest or certificate id.
    public var document: String
    /// The weight handed over, in grams, if weighed.
    public var weightGrams: Int?
    /// The heaviest hand-off recorded: 1,000 tonnes.
    public static let maximumWeightGrams = 1_000_000_000
    /// The most units one hand-off counts.
    public static let maximumCount = 10_000_000
    /// The number of units handed over, if counted.
    public var count: Int?
    /// The day of the hand-off, `YYYY-MM-DD`.
    public var handedOverOn: String

    /// Creates a hand-off record, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` for a blank party or document, neither or a non-positive weight or count,
    ///   or a bad date.
    public init(
        party: String,
        document: String,
        weightGrams: Int? = nil,
        count: Int? = nil,
        handedOverOn: String
    ) throws {
        for (name, text) in [("party", party), ("document", document)]
        where text.allSatisfy(\.isWhitespace) || text.count > 200 {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "invalid hand-off \(name) '\(text)': 1-200 characters"
            )
        }
        guard weightGrams != nil || count != nil else {
            throw ReturnsModelError(code: .invalidValue, message: "a hand-off needs a weight or a count")
        }
        // Upper bounds keep sums over many hand-offs far from overflowing (SQLite refuses an overflowing sum).
        if let weightGrams, !(1...Self.maximumWeightGrams).contains(weightGrams) {
            throw ReturnsModelError(
                code: .invalidQuantity,
                message: "invalid hand-off weight \(weightGrams) g: expected 1...\(Self.maximumWeightGrams)"
            )
        }
        if let count, !(1...Self.maximumCount).contains(count) {
            throw ReturnsModelError(
                code: .invalidQuantity,
                message: "invalid hand-off count \(count): expected 1...\(Self.maximumCount)"
            )
        }
        self.party = party
        self.document = document
        self.weightGrams = weightGrams
        self.count = count
        self.handedOverOn = try ReturnDates.validatedDay(handedOverOn)
    }
}
