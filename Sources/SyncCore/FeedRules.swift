import Foundation
import ReturnsModel

/// What a store's change feed holds (Protocol/SPEC.md §5.2), in one place; storage runs it as a query.
///
/// A kiosk of store `S` receives, after its cursor and in change order:
/// - the returns of `S` — except versions the kiosk itself pushed that the server stored exactly as pushed (it
///   holds them);
/// - the order lines of `S` sold within ``orderWindowDays(policies:store:)`` days (older ones could only verify as
///   outside the window);
/// - every recall campaign, return policy and store's settings (its time zone) — global and few.
/// Nothing of another store, ever.
public enum FeedRules {
    /// How many days back a store's order lines are sent: the longest return window that governs the store — its
    /// own policies and the fleet's — and the default window for whatever no catch-all policy covers.
    public static func orderWindowDays(policies: [ReturnPolicy], store: StoreID) -> Int {
        let governing = policies.filter { $0.store == nil || $0.store == store }
        let hasCatchAll = governing.contains { $0.gtinPrefix.isEmpty }
        return (governing + (hasCatchAll ? [] : [.default])).map(\.windowDays).max() ?? ReturnPolicy.default.windowDays
    }
}
