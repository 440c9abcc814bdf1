import Foundation

/// A store's time zone: where its days begin and end. HQ sets it (`returns-server store set`); every replica
/// receives it; a store without one keeps UTC days.
///
/// Days here are day numbers — days since 1970-01-01 of the local calendar date — so a local day is an integer every
/// backend compares, and its first instant is computed once, with the zone's daylight-saving rules.
public struct StoreTimeZone: Hashable, Sendable, CustomStringConvertible {
    /// The zone of a store HQ set none for.
    public static let utc = StoreTimeZone(checked: TimeZone(identifier: "UTC")!, identifier: "UTC")

    /// The IANA identifier as set, `Europe/Berlin`.
    public let identifier: String
    /// Foundation's zone, for offsets at an instant.
    public let timeZone: TimeZone

    private init(checked timeZone: TimeZone, identifier: String) {
        self.timeZone = timeZone
        self.identifier = identifier
    }

    /// A zone by its IANA identifier (`Europe/Berlin`, `America/New_York`, `UTC`).
    ///
    /// - Throws: ``ReturnsModelError/Code-swift.struct/invalidValue`` naming an identifier the time zone database
    ///   does not know.
    public init(_ identifier: String) throws {
        // IANA's spelling (letters, digits, `/ _ - +`) before the database is asked: it reads a name up to a NUL.
        guard (1...64).contains(identifier.utf8.count),
            identifier.utf8.allSatisfy({ byte in
                (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                    || [0x2F, 0x5F, 0x2D, 0x2B].contains(byte)
            }),
            let zone = TimeZone(identifier: identifier)
        else {
            throw ReturnsModelError(
                code: .invalidValue,
                message: "unknown time zone '\(identifier)': expected an IANA identifier such as Europe/Berlin or UTC"
            )
        }
        self.init(checked: zone, identifier: identifier)
    }

    public var description: String { identifier }

    /// The local day number of an instant, milliseconds since 1970.
    public func day(of milliseconds: Int64) -> Int {
        let offset = Int64(timeZone.secondsFromGMT(for: Date(millisecondsSince1970: milliseconds))) * 1000
        let (sum, overflow) = milliseconds.addingReportingOverflow(offset)
        let local = overflow ? (offset > 0 ? Int64.max : Int64.min) : sum
        let (days, rest) = local.quotientAndRemainder(dividingBy: 86_400_000)
        return Int(rest < 0 ? days - 1 : days)
    }

    /// The first instant of local day `day`, milliseconds since 1970: local midnight, or the first local time after
    /// it where a daylight-saving change skips midnight.
    public func start(ofDay day: Int) -> Int64 {
        // Days of the years 0000–9999 are all a store has; beyond them, the nearest representable instant.
        let naive = Int64(max(-800_000, min(3_000_000, day))) * 86_400_000
        // The offset at the naive instant, then at the candidate: right unless a change falls within the offset.
        var start = naive - Int64(timeZone.secondsFromGMT(for: Date(millisecondsSince1970: naive))) * 1000
        start = naive - Int64(timeZone.secondsFromGMT(for: Date(millisecondsSince1970: start))) * 1000
        // A change at midnight (the day starts at 01:00) or one that leaves `start` in the day before or after.
        while self.day(of: start) < day { start += 900_000 }
        while start > Int64.min + 900_000, self.day(of: start - 900_000) == day { start -= 900_000 }
        return start
    }
}

/// Every store's time zone a replica knows; UTC for the others.
public struct StoreTimeZones: Sendable, Hashable {
    /// The zones HQ set, by store.
    public var zones: [StoreID: StoreTimeZone]

    /// The zones of the stores given; every other store is UTC.
    public init(_ zones: [StoreID: StoreTimeZone] = [:]) {
        self.zones = zones
    }

    /// The zone of `store`: the one HQ set, else UTC.
    public subscript(store: StoreID) -> StoreTimeZone { zones[store] ?? .utc }
}
