/// A small seeded random number generator (xorshift64*): the same sequence on every machine, so a failing
/// randomised test replays from its printed seed. Not for anything but tests and benchmarks.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Starts the sequence of `seed` (0 is replaced by a fixed non-zero value: xorshift never leaves 0).
    public init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }

    /// A number in `0..<bound` (`0` when `bound` is not positive).
    public mutating func below(_ bound: Int) -> Int {
        bound > 0 ? Int(next() % UInt64(bound)) : 0
    }

    /// `true` with `percent` per cent probability.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}
