import Foundation

/// A product recall: which units are affected, what the hazard is, and what staff must do.
///
/// Campaigns are created and closed at HQ and reach every kiosk with sync. A campaign names GTINs and, to narrow
/// it, lots and serials; a return of a listed GTIN matches when its lot or serial is listed, or when the campaign
/// lists neither.
public struct RecallCampaign: Hashable, Sendable {
    /// Whether a campaign still applies.
    public enum Status: String, ReturnVocabulary {
        case open
        case closed

        public static let vocabularyName = "recall status"
    }

    /// How sure a match is.
    public enum Match: String, ReturnVocabulary {
        /// The GTIN matches, and so does the lot or serial (or the campaign covers every lot and serial).
        case certain
        /// The GTIN matches but the return has no lot or serial to compare: held for inspection.
        case uncertain

        public static let vocabularyName = "recall match"
    }

    /// The campaign's id, such as `RC-2026-014`.
    public let id: String
    /// The affected products.
    public let gtins: [GTIN]
    /// The affected lots; empty: every lot.
    public let lots: [ItemCode]
    /// The affected serials; empty: every serial.
    public let serials: [ItemCode]
    /// What is dangerous about the product.
    public let hazard: String
    /// What staff must do with a returned unit.
    public let instructions: String
    /// How many units the campaign covers across all stores, for completion reports.
    public let unitsAffected: Int
    public private(set) var status: Status
    public let createdAt: Date

    /// Creates a campaign, validating it.
    ///
    /// - Throws: ``ReturnsModelError`` when the id is malformed, no GTIN is given, a text is blank, or the units
    ///   affected are not positive.
    public init(
        id: String,
        gtins: [GTIN],
        lots: [ItemCode] = [],
        serials: [ItemCode] = [],
        hazard: String,
        instructions: String,
        unitsAffected: Int,
        status: Status = .open,
        createdAt: Date
    ) throws {
        guard IdentifierRules.isCode(id, maximumLength: 64) else {
            throw IdentifierRules.invalid("recall id", id, "1-64 letters, digits, '.', '_' or '-'")
        }
        guard !gtins.isEmpty else {
            throw ReturnsModelError(code: .invalidValue, message: "recall \(id) names no GTIN: give at least one")
        }
        for (name, text) in [("hazard", hazard), ("instructions", instructions)] where text.allSatisfy(\.isWhitespace) {
            throw ReturnsModelError(code: .invalidValue, message: "recall \(id) has blank \(name)")
        }
        guard unitsAffected >= 1 else {
            throw ReturnsModelError(
                code: .invalidQuantity,
                message: "invalid units affected \(unitsAffected) for recall \(id): expected at least 1"
            )
        }
        self.id = id
        self.gtins = Array(Set(gtins)).sorted()
        self.lots = Array(Set(lots)).sorted()
        self.serials = Array(Set(serials)).sorted()
        self.hazard = hazard
        self.instructions = instructions
        self.unitsAffected = unitsAffected
        self.status = status
        self.createdAt = createdAt
    }

    /// How a returned unit matches this campaign, or `nil` when it does not (or the campaign is closed).
    public func match(gtin: GTIN, lot: ItemCode?, serial: ItemCode?) -> Match? {
        guard status == .open, gtins.contains(gtin) else { return nil }
        if lots.isEmpty && serials.isEmpty { return .certain }
        if let lot, lots.contains(lot) { return .certain }
        if let serial, serials.contains(serial) { return .certain }
        // The unit says which lot or serial it is, and that one is not recalled.
        if (lot != nil && !lots.isEmpty) || (serial != nil && !serials.isEmpty) { return nil }
        return .uncertain
    }
}

extension Array where Element == RecallCampaign {
    /// The campaign a returned unit falls under, preferring a certain match to an uncertain one.
    public func firstMatch(
        gtin: GTIN,
        lot: ItemCode?,
        serial: ItemCode?
    ) -> (campaign: RecallCampaign, match: RecallCampaign.Match)? {
        let matches = compactMap { campaign in
            campaign.match(gtin: gtin, lot: lot, serial: serial).map { (campaign, $0) }
        }
        return matches.first { $0.1 == .certain } ?? matches.first
    }
}
