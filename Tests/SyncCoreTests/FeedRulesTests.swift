import ReturnsModel
import SyncCore
import Testing

@Suite struct FeedRulesTests {
    static let store = try! StoreID("store-1")

    static func policy(_ store: String?, prefix: String = "", days: Int) throws -> ReturnPolicy {
        try ReturnPolicy.validated(
            store: store.map { try StoreID($0) },
            gtinPrefix: prefix,
            windowDays: days,
            receiptRequired: false
        )
    }

    @Test func orderLinesGoBackAsFarAsTheLongestWindowThatGovernsTheStore() throws {
        // No policy: the default window.
        #expect(FeedRules.orderWindowDays(policies: [], store: Self.store) == ReturnPolicy.default.windowDays)
        // A longer window for one product line governs too; the default still covers the rest.
        #expect(
            FeedRules.orderWindowDays(policies: [try Self.policy(nil, prefix: "400", days: 90)], store: Self.store)
                == 90
        )
        #expect(
            FeedRules.orderWindowDays(policies: [try Self.policy(nil, prefix: "400", days: 7)], store: Self.store) == 30
        )
        // A catch-all shorter than the default replaces it; another store's policy governs nothing here.
        #expect(FeedRules.orderWindowDays(policies: [try Self.policy("store-1", days: 14)], store: Self.store) == 14)
        #expect(
            FeedRules.orderWindowDays(
                policies: [try Self.policy("store-1", days: 14), try Self.policy("store-2", days: 365)],
                store: Self.store
            ) == 14
        )
    }
}
