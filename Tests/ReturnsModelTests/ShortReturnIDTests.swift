import Foundation
import PropertyBased
import ReturnsModel
import Testing

@Suite struct ShortReturnIDTests {
    @Test func aTypedPrefixIsReadInEitherCaseWithOrWithoutHyphens() throws {
        let id = try ReturnID("0192f5e0-7a3c-7def-8123-456789abcdef")
        #expect(try ShortReturnID.parse(id.rawValue) == .id(id))
        #expect(try ShortReturnID.parse(id.rawValue.uppercased()) == .id(id))
        #expect(try ShortReturnID.parse("0192f5e07a3c7def8123456789abcdef") == .id(id))
        #expect(try ShortReturnID.parse("0192") == .prefix("0192"))
        #expect(try ShortReturnID.parse("0192F5E0") == .prefix("0192f5e0"))
        #expect(try ShortReturnID.parse("0192f5e0-") == .prefix("0192f5e0-"))
        #expect(try ShortReturnID.parse("0192f5e07a") == .prefix("0192f5e0-7a"))
        #expect(try ShortReturnID.parse("0192f5e0-7a3c-7d") == .prefix("0192f5e0-7a3c-7d"))
    }

    @Test(arguments: [
        "", "019", "0192-f5e0", "0192f5e0--7a", "x192f5e0", "0192 f5e0", "0192f5e0-7a3c-7def-8123-456789abcdef0",
        "-0192", "0192f5e0_7a3c", "ｆ192f5e0",
    ])
    func anythingElseIsRefusedNamingTheText(_ text: String) {
        #expect {
            _ = try ShortReturnID.parse(text)
        } throws: { error in
            (error as? ReturnsModelError)?.message.hasPrefix(
                "invalid return id '\(text)': expected a return id or a "
                    + "prefix of one with at least 4 hexadecimal digits"
            ) == true
        }
    }

    @Test func anAmbiguousPrefixNamesTheReturnsItCouldMean() throws {
        let ids = try ["0192f5e0-7a3c-7def-8123-456789abcdef", "0192f5e0-7b00-7def-8123-456789abcdef"].map(
            ReturnID.init
        )
        #expect(try ShortReturnID.resolve("0192f5e0", among: []) == nil)
        #expect(try ShortReturnID.resolve("0192f5e0", among: [ids[0]]) == ids[0])
        #expect {
            _ = try ShortReturnID.resolve("0192f5e0", among: ids)
        } throws: { error in
            (error as? ReturnsModelError)?.message
                == "return id '0192f5e0' is ambiguous: the ids of 2 returns start with it (\(ids[0]), \(ids[1])); "
                + "type more of it"
        }
    }

    /// Version 7 ids captured within a few seconds share their first 9–11 characters: each one's abbreviation,
    /// computed from its neighbours, is still a prefix no other id has, reads back as a prefix, and is never shorter
    /// than eight characters or cut after a hyphen.
    @Test func everyAbbreviationNamesExactlyItsReturn() async {
        let captures = Gen.int(in: 0...30_000).array(of: 1...40)
        await propertyCheck(count: 300, input: captures, Gen.int(in: 0...Int.max)) { offsets, seed in
            do {
                var generator = SplitMix64(seed: UInt64(seed))
                let start = Date(millisecondsSince1970: 1_790_000_000_000)
                let ids = Set(
                    offsets.map { ReturnID.make(at: start.addingTimeInterval(Double($0) / 1000), using: &generator) }
                ).map(\.rawValue).sorted()
                for (index, id) in ids.enumerated() {
                    let short = ShortReturnID.abbreviation(
                        of: id,
                        below: index > 0 ? ids[index - 1] : nil,
                        above: index + 1 < ids.count ? ids[index + 1] : nil
                    )
                    #expect(short.count >= ShortReturnID.minimumShownLength && id.hasPrefix(short))
                    #expect(!short.hasSuffix("-"))
                    #expect(ids.filter { $0.hasPrefix(short) } == [id], "\(short) in \(ids)")
                    switch try ShortReturnID.parse(short) {
                    case .id(let whole): #expect(whole.rawValue == id)
                    case .prefix(let prefix): #expect(prefix == short)
                    }
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}

/// A small deterministic generator for ids drawn inside a property.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
