import PropertyBased
import ReturnsModel
import Testing

@Suite struct GTINTests {
    @Test(arguments: [
        ("96385074", "00000096385074"),  // GTIN-8
        ("036000291452", "00036000291452"),  // GTIN-12 (UPC-A)
        ("4006381333931", "04006381333931"),  // GTIN-13 (EAN)
        ("10614141000415", "10614141000415"),  // GTIN-14
        ("00036000291452", "00036000291452"),  // already padded
    ])
    func acceptsEveryGS1LengthAndNormalisesTo14Digits(text: String, normalised: String) throws {
        #expect(try GTIN(text).digits == normalised)
    }

    @Test func oneProductHasOneKeyWhateverLengthWasScanned() throws {
        #expect(try GTIN("036000291452") == GTIN("0036000291452"))
        #expect(try GTIN("036000291452") == GTIN("00036000291452"))
    }

    @Test(arguments: [
        ("4006381333932", "check digit is 2, expected 1"),
        ("40063813339", "expected 8, 12, 13 or 14 digits, got 11"),
        ("4006381333931X", "only digits"),
        ("40063813-3931", "only digits"),
        ("", "expected 8, 12, 13 or 14 digits, got 0"),
        ("00000000", "all zeros"),
        ("1234567", "got 7"),
        ("123456789012345", "got 15"),
    ])
    func rejectsBadGTINsNamingTheValue(text: String, reason: String) {
        #expect {
            try GTIN(text)
        } throws: { error in
            guard let error = error as? ReturnsModelError else { return false }
            return error.code == .invalidGTIN && error.message.contains("'\(text)'") && error.message.contains(reason)
        }
    }

    @Test func everyPayloadHasExactlyOneValidCheckDigit() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...9).array(of: 12)) { payload in
            let valid = (0...9).filter { check in
                (try? GTIN(payload.map(String.init).joined() + String(check))) != nil
            }
            if payload.allSatisfy({ $0 == 0 }) {
                // The only all-zero candidate is rejected; the other nine digits are wrong check digits.
                #expect(valid.count <= 1)
            } else {
                #expect(valid == [GTIN.checkDigit(of: payload)])
            }
        }
    }

    @Test func aSingleMistypedDigitIsAlwaysCaught() async {
        // The GS1 check digit detects every single-digit substitution.
        await propertyCheck(
            count: 300,
            input: Gen.int(in: 0...9).array(of: 12),
            Gen.int(in: 0...11),
            Gen.int(in: 1...9)
        ) {
            payload,
            position,
            delta in
            let digits = payload + [GTIN.checkDigit(of: payload)]
            var typo = digits
            typo[position] = (typo[position] + delta) % 10
            #expect((try? GTIN(typo.map(String.init).joined())) == nil)
        }
    }

    /// The parser reads the text's bytes once, in place (issue 18); what it accepts and refuses is still GS1's
    /// definition, written out here the plain way: digits only, 8, 12, 13 or 14 of them, not all zeros, the mod-10
    /// check digit, the 14-digit form left-padded. Texts of every length around those, some with a wrong byte (a
    /// letter, a dash, a digit from another script that is a number to `Character` but not an ASCII digit).
    @Test func acceptsExactlyWhatGS1Defines() async throws {
        let alphabet = Array("0123456789") + ["X", "-", "\u{0663}"]
        await propertyCheck(
            count: 500,
            input: Gen.int(in: 0...11).array(of: 0...16),
            Gen.int(in: 0...(alphabet.count - 1)),
            Gen.int(in: 0...16)
        ) { digits, wrong, at in
            var characters = digits.map { alphabet[$0 % 10] }
            // Most texts all digits (a tenth of those with the right check digit by chance), some not.
            if at < characters.count, wrong >= 10 { characters[at] = alphabet[wrong] }
            let text = String(characters)
            let values = characters.compactMap { $0.isASCII ? $0.wholeNumberValue : nil }
            let expected: String? =
                values.count == characters.count && [8, 12, 13, 14].contains(values.count)
                    && values.contains { $0 != 0 } && GTIN.checkDigit(of: values.dropLast()) == values.last
                ? String(repeating: "0", count: 14 - values.count) + text : nil
            #expect((try? GTIN(text))?.digits == expected, "\(text)")
        }
        // Each length once with its check digit, so the accepting branch is met whatever the draws.
        for length in [8, 12, 13, 14] {
            let payload = (1..<length).map { $0 % 10 }
            let text = (payload + [GTIN.checkDigit(of: payload)]).map(String.init).joined()
            #expect(try GTIN(text).digits == String(repeating: "0", count: 14 - length) + text)
        }
    }
}
