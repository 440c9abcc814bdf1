import Foundation
import ReturnsModel
import Testing

@Suite struct PurchaseCheckTests {
    static let soldAt = Date(millisecondsSince1970: 1_790_000_000_000)
    static let day: TimeInterval = 86_400

    static func line(
        _ number: Int = 1,
        gtin: String = "4006381333931",
        serial: String? = nil,
        quantity: Int = 1
    ) throws -> OrderLine {
        try OrderLine(
            orderID: OrderID("ORD-1"),
            storeID: StoreID("store-1"),
            line: number,
            gtin: GTIN(gtin),
            serial: serial.map { try ItemCode($0, kind: "serial") },
            quantity: quantity,
            unitPriceCents: 1999,
            soldAt: soldAt
        )
    }

    func verify(
        gtin: String = "4006381333931",
        serial: String? = nil,
        quantity: Int = 1,
        after days: Double = 3,
        lines: [OrderLine]?,
        returnedBefore: Int = 0,
        window: Int = 30,
        authoritative: Bool = false,
        zone: StoreTimeZone = .utc
    ) throws -> PurchaseVerification {
        PurchaseCheck.verify(
            gtin: try GTIN(gtin),
            serial: try serial.map { try ItemCode($0, kind: "serial") },
            quantity: quantity,
            returnedAt: Self.soldAt.addingTimeInterval(days * Self.day),
            lines: lines,
            unitsReturnedBefore: returnedBefore,
            windowDays: window,
            orderIsAuthoritative: authoritative,
            timeZone: zone
        )
    }

    @Test func theWindowEndsWithTheStoresOwnDay() throws {
        let lines = [try Self.line()]
        // Sold at 23:13 in Tokyo: its 30th day after ends 9 hours before UTC's.
        let tokyo = try StoreTimeZone("Asia/Tokyo")
        #expect(try verify(after: 30.1, lines: lines) == .verified)
        #expect(try verify(after: 30.1, lines: lines, zone: tokyo) == .outsideWindow)
        #expect(try verify(after: 29.99, lines: lines, zone: tokyo) == .verified)
        // West of UTC the sale (07:13 in Los Angeles) is a day whose 30th successor ends 7 hours after UTC's.
        let losAngeles = try StoreTimeZone("America/Los_Angeles")
        #expect(try verify(after: 30.5, lines: lines, zone: losAngeles) == .verified)
        #expect(try verify(after: 30.75, lines: lines, zone: losAngeles) == .outsideWindow)
    }

    @Test func eachOutcomeFollowsFromTheFacts() throws {
        let lines = [try Self.line(quantity: 2), try Self.line(2, gtin: "96385074", serial: "SN-1")]
        #expect(try verify(lines: lines) == .verified)
        #expect(try verify(quantity: 2, lines: lines) == .verified)
        // An unknown order: a kiosk cannot decide, HQ (which holds every order) says there is none.
        #expect(try verify(lines: nil) == .unverified)
        #expect(try verify(lines: nil, authoritative: true) == .notFound)
        // The order is known but the product, or that unit, is not on it.
        #expect(try verify(gtin: "4012345678901", lines: lines) == .notFound)
        #expect(try verify(gtin: "96385074", serial: "SN-2", lines: lines) == .notFound)
        #expect(try verify(gtin: "96385074", serial: "SN-1", lines: lines) == .verified)
        // The window ends with the `window`-th day after the day of the sale (UTC days here; sold 14:13 UTC).
        #expect(try verify(after: 30, lines: lines) == .verified)
        #expect(try verify(after: 30.4, lines: lines) == .verified)
        #expect(try verify(after: 30.5, lines: lines) == .outsideWindow)
        #expect(try verify(after: 10, lines: lines, window: 7) == .outsideWindow)
        // Units returned before count against what was sold.
        #expect(try verify(quantity: 3, lines: lines) == .quantityExceeded)
        #expect(try verify(lines: lines, returnedBefore: 1) == .verified)
        #expect(try verify(lines: lines, returnedBefore: 2) == .quantityExceeded)
        // Not found comes before the window, the window before the quantity.
        #expect(try verify(quantity: 5, after: 40, lines: lines) == .outsideWindow)
    }

    @Test func exceptionsFollowVerificationPolicyAndRecalls() throws {
        let strict = try ReturnPolicy.validated(store: nil, gtinPrefix: "", windowDays: 30, receiptRequired: true)
        func exceptions(
            _ verification: PurchaseVerification,
            receipt: Bool = true,
            policy: ReturnPolicy = .default,
            recall: Bool = false,
            duplicate: Bool = false
        ) -> [ReturnException] {
            PurchaseCheck.exceptions(
                verification: verification,
                receipt: receipt,
                policy: policy,
                isRecall: recall,
                duplicateSerial: duplicate
            )
        }
        #expect(exceptions(.verified).isEmpty)
        #expect(exceptions(.unverified).isEmpty)
        #expect(exceptions(.notFound) == [.notFound])
        #expect(exceptions(.outsideWindow, receipt: false) == [.outsideWindow])
        #expect(exceptions(.outsideWindow, receipt: false, policy: strict) == [.noReceipt, .outsideWindow])
        #expect(exceptions(.quantityExceeded, duplicate: true) == [.duplicateSerial, .quantityExceeded])
        // Every recalled unit must come back: the purchase rules are waived, a duplicate serial is not.
        #expect(exceptions(.outsideWindow, receipt: false, policy: strict, recall: true).isEmpty)
        #expect(exceptions(.notFound, recall: true, duplicate: true) == [.duplicateSerial])
    }

    @Test func theMostSpecificPolicyGoverns() throws {
        let store1 = try StoreID("store-1")
        let store2 = try StoreID("store-2")
        let electronics = try GTIN("4006381333931")  // GTIN-14 04006381333931
        let other = try GTIN("96385074")
        func policy(_ store: StoreID?, _ prefix: String, _ days: Int) throws -> ReturnPolicy {
            try ReturnPolicy.validated(store: store, gtinPrefix: prefix, windowDays: days, receiptRequired: false)
        }
        let policies = [
            try policy(nil, "", 60), try policy(store1, "", 14), try policy(nil, "0400638", 90),
            try policy(store1, "0400638", 7),
        ]
        #expect(policies.governing(electronics, at: store1).windowDays == 7)
        #expect(policies.governing(electronics, at: store2).windowDays == 90)
        #expect(policies.governing(other, at: store1).windowDays == 14)
        #expect(policies.governing(other, at: store2).windowDays == 60)
        #expect([ReturnPolicy]().governing(other, at: store2) == .default)
        #expect(ReturnPolicy.default.windowDays == 30 && !ReturnPolicy.default.receiptRequired)
    }

    @Test(arguments: [
        ("04x", 30, "invalid GTIN prefix '04x'"),
        ("012345678901234", 30, "invalid GTIN prefix '012345678901234'"),
        ("04", -1, "invalid return window -1 days"),
        ("04", 4000, "invalid return window 4000 days"),
    ])
    func badPoliciesAreRefusedNamingTheValue(prefix: String, days: Int, expected: String) {
        #expect {
            try ReturnPolicy.validated(store: nil, gtinPrefix: prefix, windowDays: days, receiptRequired: false)
        } throws: { ($0 as? ReturnsModelError)?.message.contains(expected) == true }
    }
}

@Suite struct ReviewTests {
    func item(exceptions: [ReturnException], status: ReturnStatus = .received) throws -> ProductReturn {
        try ProductReturn(
            id: ReturnID("0192f5e0-7a3c-7def-8123-456789abcdef"),
            storeID: StoreID("store-1"),
            kioskID: KioskID("a"),
            orderID: OrderID("ORD-1"),
            gtin: GTIN("4006381333931"),
            reason: .defective,
            status: status,
            exceptions: exceptions,
            createdAt: Date(millisecondsSince1970: 1_790_000_000_000)
        )
    }

    @Test func aDecisionCoversTheExceptionsItSawAndANewOneReopensTheReview() throws {
        var item = try item(exceptions: [.outsideWindow])
        #expect(item.awaitsReview)
        try item.decideReview(.approved, note: nil, at: Date())
        #expect(!item.awaitsReview && item.review?.exceptions == [.outsideWindow])
        // Deciding again is refused: nothing is waiting.
        #expect(throws: ReturnsModelError.self) { try item.decideReview(.rejected, note: "again", at: Date()) }
        // HQ later finds the serial was returned before: the return is back in the queue.
        _ = try item.recordVerification(nil, exceptions: [.outsideWindow, .duplicateSerial], at: Date())
        #expect(item.awaitsReview)
        // A rejection needs a note.
        #expect { try item.decideReview(.rejected, note: nil, at: Date()) } throws: {
            ($0 as? ReturnsModelError)?.message == "a rejection needs a note saying why"
        }
        try item.decideReview(.rejected, note: "serial already refunded at store-2", at: Date())
        #expect(item.review?.outcome == .rejected && !item.awaitsReview)
    }

    @Test func nothingWaitsWithoutExceptionsOrWhenVoided() throws {
        #expect(try !item(exceptions: []).awaitsReview)
        #expect(try !item(exceptions: [.notFound], status: .voided).awaitsReview)
        var clean = try item(exceptions: [])
        #expect(throws: ReturnsModelError.self) { try clean.decideReview(.approved, note: nil, at: Date()) }
        // Re-verifying with the same result changes nothing.
        #expect(try clean.recordVerification(nil, exceptions: [], at: Date()) == nil)
    }
}

@Suite struct OrderCSVTests {
    @Test func aGoodFileParsesInAnyColumnOrderWithQuotesAndCRLF() throws {
        let text =
            "sold_at,order_id,store_id,line,gtin,serial,quantity,unit_price\r\n"
            + "2026-11-20T10:15:00Z,ORD-1,store-1,1,4006381333931,,2,19.99\r\n"
            + "\r\n"
            + "2026-11-20,\"ORD-2\",store-2,1,96385074,\"SN-7\",1,249\r\n"
            + "2026-11-21T09:00:00.250+01:00,ORD-2,store-2,2,96385074,,3,0.5\n"
        let lines = try OrderCSV.parse(text)
        #expect(lines.count == 3)
        #expect(lines[0].orderID.rawValue == "ORD-1" && lines[0].quantity == 2 && lines[0].unitPriceCents == 1999)
        #expect(lines[0].soldAt == Date(millisecondsSince1970: 1_795_169_700_000))
        #expect(lines[1].serial?.rawValue == "SN-7" && lines[1].unitPriceCents == 24_900)
        #expect(lines[1].soldAt == Date(millisecondsSince1970: 1_795_132_800_000))
        #expect(lines[2].unitPriceCents == 50 && lines[2].soldAt == Date(millisecondsSince1970: 1_795_248_000_250))
        #expect(lines[2].recordID == "ORD-2/2")
    }

    @Test func everyBadRowIsReportedByItsLineNumber() throws {
        let text = """
            order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at
            ORD-1,store-1,1,4006381333932,,1,19.99,2026-11-20
            ORD-1,store-1,2,4006381333931,,0,19.99,2026-11-20
            ORD-1,store-1,3,4006381333931,,1,19.999,2026-11-20
            ORD-1,store-1,4,4006381333931,,1,19.99,2026-11-31
            ORD-1,store 1,5,4006381333931,,1,19.99,2026-11-20
            ORD-1,store-1,6,4006381333931,,1,19.99
            ORD-1,store-1,7,4006381333931,,1,19.99,2026-11-20
            ORD-1,store-1,7,4006381333931,,1,19.99,2026-11-20
            ORD-1,store-1,x,4006381333931,,1,19.99,2026-11-20
            """
        #expect {
            try OrderCSV.parse(text)
        } throws: { error in
            guard let error = error as? OrderCSV.ParseError else { return false }
            let byLine = Dictionary(uniqueKeysWithValues: error.problems.map { ($0.line, $0.message) })
            return error.problems.map(\.line) == [2, 3, 4, 5, 6, 7, 9, 10]
                && byLine[2]!.contains("4006381333932") && byLine[3]!.contains("invalid quantity 0")
                && byLine[4]!.contains("invalid unit price '19.999'") && byLine[5]!.contains("2026-11-31")
                && byLine[6]!.contains("invalid store id 'store 1'") && byLine[7]!.contains("expected 8 fields")
                && byLine[9]!.contains("already given on line 8") && byLine[10]!.contains("invalid line 'x'")
                && error.description.hasPrefix("orders file refused, nothing imported:")
        }
    }

    @Test(arguments: [
        ("", "empty file"),
        ("order_id,store_id,line,gtin,quantity,unit_price,sold_at\n", "missing column(s) serial"),
        ("order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at,colour\n", "unknown column 'colour'"),
        ("order_id,store_id,line,gtin,serial,quantity,unit_price,sold_at\n\"ORD-1,x\n", "quoted field is not closed"),
    ])
    func badHeadersAreRefused(text: String, expected: String) {
        #expect {
            try OrderCSV.parse(text)
        } throws: { "\($0)".contains(expected) }
    }
}
