import Foundation
import Synchronization

/// A one-line progress display for long work (a first sync, a large import): records done, of how many, the rate
/// and the time left, redrawn in place at most ten times a second.
///
/// It draws on standard error, like git, and only when that is a terminal (``Console/errorIsTerminal``), never with
/// `--json`: standard output holds exactly the final result, even redirected to a file while a person watches the
/// progress. The line is cleared before the result is printed.
public final class ProgressLine: Sendable {
    private struct State {
        var lastDraw: ContinuousClock.Instant?
        var drawn = false
        var phase = ""
        var phaseStart = ContinuousClock.now
    }

    private let console: Console
    private let enabled: Bool
    private let state = Mutex(State())
    private let now: @Sendable () -> ContinuousClock.Instant

    /// Creates a progress line on `console`, drawing only if `enabled` and the console is a terminal.
    public init(
        console: Console = .current,
        enabled: Bool = true,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.console = console
        self.enabled = enabled && console.errorIsTerminal
        self.now = now
    }

    /// Whether anything will be drawn: callers can skip the counting a display needs when not.
    public var isActive: Bool { enabled }

    /// Shows `done` of `total` (when known) `unit` for `phase` ("pushing", "pulling", "importing").
    public func update(_ phase: String, done: Int, total: Int?, unit: String) {
        guard enabled else { return }
        let time = now()
        let line: String? = state.withLock { state in
            if state.phase != phase {
                state.phase = phase
                state.phaseStart = time
                state.lastDraw = nil
            }
            let finished = total.map { done >= $0 } ?? false
            if let last = state.lastDraw, time - last < .milliseconds(100), !finished { return nil }
            state.lastDraw = time
            state.drawn = true
            return Self.render(phase, done: done, total: total, unit: unit, elapsed: time - state.phaseStart)
        }
        // Carriage return and erase-line: the line is redrawn in place.
        if let line { console.writeErr(Data(("\r\u{1B}[K" + line).utf8)) }
    }

    /// Clears the line, before the command prints its result.
    public func finish() {
        guard enabled else { return }
        let drawn = state.withLock { state in
            defer { state.drawn = false }
            return state.drawn
        }
        if drawn { console.writeErr(Data("\r\u{1B}[K".utf8)) }
    }

    /// Runs `body`, then clears the line, whether `body` succeeds or throws: the result or the error that follows
    /// starts on a clean line.
    public func clearing<T>(_ body: () async throws -> T) async rethrows -> T {
        do {
            let result = try await body()
            finish()
            return result
        } catch {
            finish()
            throw error
        }
    }

    /// `pulling 12,000/100,000 records  4,000/s  about 22 s left`.
    static func render(_ phase: String, done: Int, total: Int?, unit: String, elapsed: Duration) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var text = "\(phase) \(grouped(done))"
        if let total { text += "/\(grouped(max(total, done)))" }
        text += " \(unit)"
        guard seconds >= 0.2, done > 0 else { return text }
        let rate = Double(done) / seconds
        text += "  \(grouped(Int(rate.rounded())))/s"
        if let total, total > done {
            let left = Double(total - done) / rate
            text +=
                left < 60
                ? "  about \(Int(left.rounded(.up))) s left" : "  about \(Int((left / 60).rounded(.up))) min left"
        }
        return text
    }

    /// 12345 as `12,345`.
    static func grouped(_ number: Int) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (number < 0 ? "-" : "") + out
    }
}
