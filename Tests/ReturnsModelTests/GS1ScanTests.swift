import Foundation
import PropertyBased
import ReturnsModel
import Testing

@Suite struct GS1ScanTests {
    /// 2026-11-29, so two-digit years resolve the same way whenever the tests run.
    static let today = Date(millisecondsSince1970: 1_796_000_000_000)

    @Test(arguments: [
        "(01)04006381333931(17)271231(10)L42(21)SN7",
        "(01)04006381333931(10)L42(21)SN7(17)271231",
        "01040063813339311727123110L42\u{1D}21SN7",
        "]C101040063813339311727123110L42\u{1D}21SN7",
        "]d2\u{1D}010400638133393110L42\u{1D}17271231" + "21SN7",
        "010400638133393117271231" + "10L42<GS>21SN7",
    ])
    func bothFormsGiveTheSameFields(text: String) throws {
        let scan = try GS1Scan.parse(text, today: Self.today)
        #expect(scan.gtin.digits == "04006381333931")
        #expect(scan.lot?.rawValue == "L42")
        #expect(scan.serial?.rawValue == "SN7")
        #expect(scan.expiry == "2027-12-31")
    }

    @Test(arguments: [
        ("271200", "2027-12-31"),  // day 00: the month's last day
        ("280200", "2028-02-29"),  // … in a leap year
        ("260115", "2026-01-15"),
        ("750101", "2075-01-01"),  // up to 50 years ahead
        ("770101", "1977-01-01"),  // more than 50 ahead is the last century
    ])
    func expiryDates(yymmdd: String, expected: String) throws {
        let scan = try GS1Scan.parse("(01)04006381333931(17)\(yymmdd)", today: Self.today)
        #expect(scan.expiry == expected)
    }

    @Test(arguments: [
        ("(10)L42", "no GTIN"),
        ("(01)04006381333932", "check digit is 2, expected 1"),
        ("(01)0400638133393", "takes 14 characters"),
        ("(01)04006381333931(17)271340", "not a YYMMDD date"),
        ("(01)04006381333931(17)270231", "not a real date"),
        ("(01)04006381333931(21)" + String(repeating: "S", count: 21), "longer than GS1's 20 characters"),
        ("(01)04006381333931(01)04006381333931", "appears twice"),
        ("0104006381333931" + "71ABC", "unsupported AI starting '71'"),
        ("01040063813339", "cut short"),
        ("(01)04006381333931(10)", "has no value"),
        ("hello", "expected an AI"),
    ])
    func badScansAreRefusedSayingWhy(text: String, why: String) {
        #expect {
            try GS1Scan.parse(text, today: Self.today)
        } throws: { error in
            (error as? ReturnsModelError)?.code == .invalidValue && "\(error)".contains(why)
                && "\(error)".contains("invalid GS1 scan")
        }
    }

    @Test func aScanOfAnyValidGTINGivesItBack() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...9).array(of: 13), Gen.letterOrNumber.string(of: 1...20))
        {
            payload,
            lot in
            let digits = (payload + [GTIN.checkDigit(of: payload)]).map(String.init).joined()
            let raw = "01\(digits)10\(lot)"
            let bracketed = "(01)\(digits)(10)\(lot)"
            guard let expected = try? GTIN(digits) else { return }  // all zeros
            for text in [raw, bracketed] {
                // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
                #expect(throws: Never.self, "\(text)") {
                    let scan = try GS1Scan.parse(text, today: Self.today)
                    #expect(scan.gtin == expected)
                    #expect(scan.lot?.rawValue == lot)
                }
            }
        }
    }
}
