import PropertyBased
import SyncEngine
import Testing

/// A clock's look-up compares names for a few entries and hashes for more (``VectorClock/subscript(replica:)``):
/// either way it answers what its entries hold, for replicas it names and ones it does not.
@Suite struct VectorClockLookupPropertyTests {
    struct Case: Sendable, CustomStringConvertible {
        var counters: [String: UInt64]
        var asked: [String]
        var description: String { "counters \(counters), asked \(asked)" }
    }

    /// Up to nine entries (both sides of the cut), names of 2 to 41 characters that share prefixes and lengths
    /// (a kiosk's `store-1/k1` beside `store-1/k10`), asked about names held and not held.
    static let generator = Generator<Case, Shrink.None<Case>>(run: { rng in
        func name() -> String {
            let stores = Int.random(in: 0...12, using: &rng)
            let kiosk = Int.random(in: 0...12, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: return "hq"
            case 1: return "store-\(stores)/k\(kiosk)"
            default: return "store-\(stores)/kiosk-at-the-back-of-the-shop-\(kiosk)"
            }
        }
        var counters: [String: UInt64] = [:]
        for _ in 0..<Int.random(in: 0...9, using: &rng) {
            counters[name()] = UInt64.random(in: 1..<VectorClock.maximumCounter, using: &rng)
        }
        return Case(counters: counters, asked: (0..<6).map { _ in name() } + Array(counters.keys))
    })

    @Test func aLookUpAnswersWhatTheEntriesHoldWhateverTheirNumber() async throws {
        await propertyCheck(count: 500, input: Self.generator) { example in
            do {
                let clock = try VectorClock(
                    Dictionary(uniqueKeysWithValues: try example.counters.map { (try ReplicaID($0.key), $0.value) })
                )
                for name in example.asked {
                    // A name built again, not the dictionary's own string: equal text, separate storage.
                    let replica = try ReplicaID(String(decoding: Array(name.utf8), as: UTF8.self))
                    let held = example.counters[name] ?? 0
                    #expect(clock[replica] == held, "\(example): \(name)")
                    #expect(clock.covers(try Dot(replica: replica, counter: max(held, 1))) == (held > 0), "\(example)")
                    #expect(!clock.covers(try Dot(replica: replica, counter: held + 1)), "\(example): \(name)")
                }
            } catch {
                Issue.record("\(example): \(error)")
            }
        }
    }
}
