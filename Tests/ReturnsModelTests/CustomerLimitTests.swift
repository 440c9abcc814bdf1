import ReturnsModel
import Testing

/// Per-customer limits of a return policy: how they read, and which exceptions they give.
@Suite struct CustomerLimitTests {
    @Test(arguments: [("3/30", 3, 30), ("0/7", 0, 7), ("5/7d", 5, 7), ("1000000/3650", 1_000_000, 3650)])
    func limitsParse(text: String, count: Int, days: Int) throws {
        let limit = try CustomerLimit.parse(text)
        #expect(limit.count == count && limit.days == days)
        #expect(try CustomerLimit.parse(limit.description) == limit)
    }

    @Test(arguments: ["3", "3/", "/30", "3/30/1", "-1/30", "3/0", "3/3651", "x/30", "3/30w", "３/30", ""])
    func badLimitsAreRefusedNamingTheText(text: String) {
        #expect {
            try CustomerLimit.parse(text)
        } throws: { error in
            "\(error)".contains(text.isEmpty ? "invalid customer limit" : text)
        }
    }

    static let policy = try! ReturnPolicy.validated(
        store: nil,
        gtinPrefix: "",
        windowDays: 30,
        receiptRequired: false,
        receiptlessLimit: CustomerLimit(count: 2, days: 30),
        customerVelocity: CustomerLimit(count: 5, days: 7)
    )

    func exceptions(
        receipt: Bool = false,
        quantity: Int = 1,
        isRecall: Bool = false,
        _ customer: CustomerActivity?
    ) -> [ReturnException] {
        PurchaseCheck.exceptions(
            verification: .verified,
            receipt: receipt,
            policy: Self.policy,
            isRecall: isRecall,
            duplicateSerial: false,
            quantity: quantity,
            customer: customer
        )
    }

    @Test func theReturnPastTheReceiptlessLimitGoesToReview() {
        #expect(exceptions(CustomerActivity(receiptlessReturns: 1)) == [])
        #expect(exceptions(CustomerActivity(receiptlessReturns: 2)) == [.receiptlessLimit])
        // With a receipt it is not a receipt-less return, however many came before.
        #expect(exceptions(receipt: true, CustomerActivity(receiptlessReturns: 9)) == [])
        // No customer named: nothing to count.
        #expect(exceptions(nil) == [])
    }

    @Test func unitsPastTheVelocityThresholdGoToReview() {
        #expect(exceptions(receipt: true, quantity: 2, CustomerActivity(units: 3)) == [])
        #expect(exceptions(receipt: true, quantity: 3, CustomerActivity(units: 3)) == [.customerVelocity])
        #expect(
            exceptions(quantity: 6, CustomerActivity(receiptlessReturns: 2)) == [.customerVelocity, .receiptlessLimit]
        )
    }

    @Test func aCertainRecallWaivesTheCustomerChecks() {
        #expect(exceptions(quantity: 50, isRecall: true, CustomerActivity(receiptlessReturns: 9, units: 90)) == [])
    }

    @Test func thePeriodIsRollingAndExcludesItsFirstInstant() throws {
        let limit = try CustomerLimit(count: 1, days: 7)
        #expect(limit.periodStart(endingAt: 7 * 86_400_000 + 5) == 5)
    }
}
