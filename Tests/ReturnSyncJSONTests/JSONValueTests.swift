import Foundation
import PropertyBased
import ReturnSyncJSON
import Testing

@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(
            #" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}} "#
        )
        #expect(
            value
                == .object([
                    "a": .array([
                        .integer(1), .integer(-2), .double(3.5), .double(1000), .bool(true), .bool(false), .null,
                    ]),
                    "b": .object(["c": .string("d\"\\/\u{8}\u{c}\n\r\té😀")]),
                ])
        )
    }

    @Test(arguments: [
        ("", "expected a value"),
        ("{", "expected a string key"),
        (#"{"a" 1}"#, "expected ':'"),
        (#"{"a":1,}"#, "expected a string key"),
        ("[1,]", "unexpected character ']'"),
        ("[1 2]", "expected ',' or ']'"),
        (#"{"a":1,"a":2}"#, "duplicate key 'a'"),
        ("\"abc", "unterminated string"),
        ("\"a\u{01}b\"", "control character"),
        (#""\x""#, "invalid escape"),
        (#""\ud800""#, "lone high surrogate"),
        (#""\udc00""#, "lone low surrogate"),
        ("01", "unexpected data after the value"),
        ("1.", "expected a digit after '.'"),
        ("-", "expected a digit"),
        ("1e", "expected a digit in the exponent"),
        ("1e999", "out of range"),
        ("tru", "invalid literal"),
        ("{} {}", "unexpected data after the value"),
    ])
    func refusesMalformedInputNamingTheProblem(text: String, problem: String) {
        #expect {
            try JSONValue.parse(text)
        } throws: { error in
            (error as? JSONError)?.message.contains(problem) == true
        }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect { try JSONValue.parse(deep) } throws: { "\($0)".contains("nesting deeper than 64") }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    @Test func writesCompactJSONWithSortedKeysAndEscapes() {
        let value = JSONValue.object([
            "b": .string("line\nbreak \"quoted\" back\\slash \u{1} é/"),
            "a": .array([.integer(-3), .bool(true), .null]),
        ])
        #expect(value.serializedString == #"{"a":[-3,true,null],"b":"line\nbreak \"quoted\" back\\slash \u0001 é/"}"#)
    }

    /// Random values: the writer's output parses back to the same value, and Foundation reads it the same way.
    @Test func writingThenParsingIsTheIdentity() async {
        let scalar = Gen.int(in: 0...5).map { kind -> JSONValue in
            switch kind {
            case 0: return .null
            case 1: return .bool(kind.isMultiple(of: 2))
            default: return .integer(Int64(kind) * 1_000_003)
            }
        }
        // Every scalar, skipping the surrogate gap. (Gen.unicodeScalar(in:) over a range spanning the gap traps
        // in swift-property-based 2.0.1: it force-unwraps Unicode.Scalar(_:) for surrogate values.)
        let scalars = Gen.int(in: 0...(0x10FFFF - 0x800)).map { code -> Character in
            Character(Unicode.Scalar(UInt32(code < 0xD800 ? code : code + 0x800))!)
        }
        let strings = scalars.array(of: 0...12).map { String($0) }
        let input = zip(scalar.array(of: 0...6), strings.array(of: 0...6), Gen.int(in: Int.min...Int.max))
        await propertyCheck(count: 300, input: input) { scalars, texts, number in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                var members: [String: JSONValue] = ["n": .integer(Int64(number))]
                for (index, text) in texts.enumerated() {
                    members[text] = .string(text)
                    members["k\(index)"] = .array(scalars)
                }
                let value = JSONValue.object(members)
                let bytes = value.serialized()
                #expect(try JSONValue.parse(bytes) == value)
                let foundation = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
                #expect((foundation as? [String: Any])?.count == members.count)
                for text in texts {
                    #expect((foundation as? [String: Any])?[text] as? String == text)
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    /// Whole numbers are read as their digits go by, not from their text: every number, at the edges of 64 bits
    /// and past them, with a sign, a fraction or an exponent after its digits, reads as Swift reads its text — an
    /// integer when `Int64(text)` is one, else a double (or an error when out of range) — and the scanner agrees.
    @Test func numbersReadAsTheirTextReads() async {
        let edges: [String] = [
            "0", "-0", "9", "10", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "18446744073709551615", "18446744073709551616", "99999999999999999999",
            "1000000000000000000", "9999999999999999999", "-9999999999999999999", "12345678901234567890123",
        ]
        let digits = Gen.int(in: 0...9).array(of: 1...22).map { digits -> String in
            // No leading zero but for zero itself, as JSON spells numbers.
            let text = digits.map(String.init).joined()
            return text.first == "0" && text.count > 1 ? "1" + text.dropFirst() : text
        }
        let input = zip(
            Gen.int(in: 0...(edges.count)),
            digits,
            Gen.bool,
            Gen.int(in: 0...3)
        )
        await propertyCheck(count: 2_000, input: input) { edge, random, negative, tail in
            var text = edge < edges.count ? edges[edge] : (negative ? "-" : "") + random
            switch tail {
            case 1: text += ".5"
            case 2: text += "e2"
            case 3: text += "E-1"
            default: break
            }
            let expected: JSONValue? =
                if let integer = Int64(text) { .integer(integer) } else if let double = Double(text), double.isFinite {
                    .double(double)
                } else { nil }
            let parsed = try? JSONValue.parse(text)
            #expect(parsed == expected, "\(text)")
            let scanned = try? JSONScanner.scan(Array(text.utf8)) { scanner in try scanner.integer() }
            if case .integer(let integer) = expected {
                #expect(scanned == .some(integer), "\(text)")
            } else {
                #expect(scanned == .some(nil) || scanned == nil, "\(text)")
            }
        }
    }
}
