import Foundation
import ReturnsModel
import Testing

@Suite struct MoneyTests {
    @Test func amountsAreWholeMinorUnitsInEachCurrencysDigits() throws {
        let euro = try Currency("eur")
        #expect(euro.code == "EUR" && euro.minorDigits == 2)
        #expect(try euro.minorUnits(of: "19.99") == 1999)
        #expect(try euro.minorUnits(of: "20") == 2000)
        #expect(try euro.minorUnits(of: "0.5") == 50)
        #expect(euro.format(1999) == "19.99" && euro.format(5) == "0.05" && euro.format(0) == "0.00")
        let yen = try Currency("JPY")
        #expect(try yen.minorUnits(of: "1999") == 1999 && yen.format(1999) == "1999")
        let dinar = try Currency("KWD")
        #expect(try dinar.minorUnits(of: "1.5") == 1500 && dinar.format(1500) == "1.500")
        for text in ["19.999", "-1", "1e3", "", ".5", "5.", "1,50", "10000000000000.01", " 5"] {
            #expect(throws: ReturnsModelError.self, "\(text)") { try euro.minorUnits(of: text) }
        }
        #expect(throws: ReturnsModelError.self) { try yen.minorUnits(of: "19.5") }
        for code in ["EU", "EURO", "E1R", "€"] {
            #expect(throws: ReturnsModelError.self, "\(code)") { try Currency(code) }
        }
    }

    @Test func restockingFeesArePercentagesRoundedHalfUpOrFixedAndNeverMoreThanTheValue() throws {
        #expect(try RestockingFee.parse("15%") == .percent(basisPoints: 1500))
        #expect(try RestockingFee.parse("2.5%") == .percent(basisPoints: 250))
        #expect(try RestockingFee.parse("4.50") == .fixed(minorUnits: 450))
        #expect(RestockingFee.percent(basisPoints: 1500).fee(on: 3998) == 600)  // 599.7 → 600
        #expect(RestockingFee.percent(basisPoints: 1500).fee(on: 3990) == 599)  // 598.5 → 599 (half up)
        #expect(RestockingFee.fixed(minorUnits: 450).fee(on: 300) == 300)
        #expect(RestockingFee.percent(basisPoints: 1500).description == "15%")
        #expect(RestockingFee.percent(basisPoints: 250).description == "2.5%")
        #expect(RestockingFee.fixed(minorUnits: 450).description == "4.50")
        for text in ["101%", "-5%", "abc", "15 %", "%"] {
            #expect(throws: ReturnsModelError.self, "\(text)") { try RestockingFee.parse(text) }
        }
    }

    static func item(reason: ReturnReason = .noLongerNeeded, quantity: Int = 2) throws -> ProductReturn {
        try ProductReturn(
            id: ReturnID.make(),
            storeID: StoreID("store-1"),
            kioskID: KioskID("k1"),
            orderID: OrderID("O-1"),
            gtin: GTIN("4006381333931"),
            quantity: quantity,
            reason: reason,
            createdAt: Date()
        )
    }

    @Test func theDefaultRefundIsTheValueLessTheFeeUnlessTheReasonWaivesIt() throws {
        let euro = try Currency("EUR")
        let fee = RestockingFee.percent(basisPoints: 1500)
        func decide(
            _ item: ProductReturn,
            _ method: RefundMethod = .originalPayment,
            exchange: GTIN? = nil
        )
            throws -> Refund
        {
            try Refund.decide(
                for: item,
                unitPriceMinor: 1999,
                currency: euro,
                fee: fee,
                method: method,
                exchangeGTIN: exchange,
                override: nil
            )
        }
        let changedMind = try decide(Self.item())
        #expect(changedMind.amountMinor == 3398 && changedMind.feeMinor == 600)
        #expect(changedMind.amountMinor + changedMind.feeMinor == 3998, "value = paid back + kept")
        for reason in [ReturnReason.defective, .recall, .wrongItem] {
            let waived = try decide(Self.item(reason: reason))
            #expect(waived.amountMinor == 3998 && waived.feeMinor == 0, "\(reason)")
        }
        let credit = try decide(Self.item(), .storeCredit)
        #expect(credit.amountMinor == 3398)
        let exchange = try decide(Self.item(), .exchange, exchange: GTIN("96385074"))
        #expect(
            exchange.amountMinor == 0 && exchange.feeMinor == 0 && exchange.exchangeGTIN?.digits == "00000096385074"
        )
        #expect(throws: ReturnsModelError.self) { try decide(Self.item(), .exchange) }
        #expect(throws: ReturnsModelError.self) { try decide(Self.item(), .storeCredit, exchange: GTIN("96385074")) }
        let nothing = try decide(Self.item(), .none)
        #expect(nothing.amountMinor == 0)
        // No priced order line: the amount must be given, with its reason.
        #expect {
            try Refund.decide(
                for: Self.item(),
                unitPriceMinor: nil,
                currency: euro,
                fee: fee,
                method: .originalPayment,
                exchangeGTIN: nil,
                override: nil
            )
        } throws: { ($0 as? ReturnsModelError)?.message.contains("give the amount") == true }
        let typed = try Refund.decide(
            for: Self.item(),
            unitPriceMinor: nil,
            currency: euro,
            fee: fee,
            method: .storeCredit,
            exchangeGTIN: nil,
            override: (1250, "no receipt: shelf price")
        )
        #expect(typed.amountMinor == 1250 && typed.feeMinor == 0 && typed.reason == "no receipt: shelf price")
    }

    @Test func aRefundIsDecidedOnceAndNeverForAVoidedReturn() throws {
        let refund = try Refund(amountMinor: 1999, feeMinor: 0, currency: Currency("EUR"), method: .originalPayment)
        var item = try Self.item()
        try item.decideRefund(refund, by: "store-1/k1", at: Date())
        #expect(item.refund?.decidedBy == "store-1/k1" && item.refund?.amountMinor == 1999)
        #expect {
            try item.decideRefund(refund, by: "store-1/k1", at: Date())
        } throws: { error in
            (error as? ReturnsModelError)?.message
                == "return \(item.id) was refunded already (19.99 EUR by original-payment): a refund is decided once"
        }
        var voided = try Self.item()
        try voided.void(note: "scanned twice", by: "store-1/k1", at: Date())
        #expect(throws: ReturnsModelError.self) { try voided.decideRefund(refund, by: "store-1/k1", at: Date()) }
        #expect(throws: ReturnsModelError.self) {
            try Refund(amountMinor: -1, feeMinor: 0, currency: Currency("EUR"), method: .originalPayment)
        }
        #expect(throws: ReturnsModelError.self) {
            try Refund(amountMinor: 100, feeMinor: 0, currency: Currency("EUR"), method: .none)
        }
    }
}

@Suite struct MoneyLimitTests {
    @Test func hugeValuesAreRefusedNotOverflowedAndOnlyASCIICodesAreCurrencies() throws {
        #expect(throws: ReturnsModelError.self) { try Currency("ßx") }
        #expect(throws: ReturnsModelError.self) { try Currency("éur") }
        #expect {
            try Refund.decide(
                for: MoneyTests.item(quantity: 9999),
                unitPriceMinor: Int64.max / 2,
                currency: Currency("EUR"),
                fee: nil,
                method: .originalPayment,
                exchangeGTIN: nil,
                override: nil
            )
        } throws: { ($0 as? ReturnsModelError)?.message.contains("is worth more than") == true }
    }
}
