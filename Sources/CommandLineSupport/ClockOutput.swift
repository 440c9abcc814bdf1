import Foundation
import ReplicaStore
import ReturnsSync
import SyncEngine

extension Format {
    /// `clock` output: the replica's hybrid logical clock next to the wall clock, and records stamped ahead.
    public static func clockState(_ state: ClockState) -> String {
        let ahead = Int64(state.latest.physical) - Int64(state.wallClock)
        var lines = [
            "clock        \(state.latest) (\(describe(milliseconds: ahead)) the wall clock)",
            "bound        stamps more than \(HybridLogicalClock.maximumDrift / 60_000) min ahead are refused",
        ]
        if state.correction != 0 {
            lines.insert(
                "correction   the wall clock here is \(describe(milliseconds: -state.correction)) the server's (at the "
                    + "last sync): stamps and times follow the server's",
                at: 1
            )
        }
        lines.append("future       \(state.futureRecords.count) record\(state.futureRecords.count == 1 ? "" : "s")")
        lines += state.futureRecords.prefix(20).map { "  \($0)" }
        if state.isAhead || !state.futureRecords.isEmpty {
            lines.append("run `clock repair` to set the clock back and rewrite those stamps")
        }
        return lines.joined(separator: "\n")
    }

    /// `clock repair` output.
    public static func clockRepair(_ repair: ClockRepair) -> String {
        var lines = [
            "clock        \(repair.before) -> \(repair.after)",
            "rewritten    \(repair.rewritten.count) record\(repair.rewritten.count == 1 ? "" : "s")",
        ]
        lines += repair.rewritten.prefix(20).map { "  \($0)" }
        if !repair.keptNotes.isEmpty {
            lines.append(
                "notes from the future stay (notes are never removed) in: " + repair.keptNotes.joined(separator: ", ")
            )
        }
        return lines.joined(separator: "\n")
    }

    /// What a sync did about this kiosk's clock, for its operator; `nil` when the clock is right.
    public static func clockAdjustment(_ clock: ClockAdjustment) -> String? {
        guard clock.correction != 0 || !clock.restamped.isEmpty else { return nil }
        var text = "note: this kiosk's clock is \(describe(milliseconds: -clock.measured)) the server's"
        text += clock.correction != 0 ? "; its stamps and times follow the server's clock until it is set right" : ""
        if !clock.restamped.isEmpty {
            let count = clock.restamped.count
            text += "; \(count) record\(count == 1 ? "" : "s") stamped too far ahead for the server were stamped again"
        }
        return text
    }

    /// `milliseconds` as a person says how far one clock is from another: "3 days ahead of", "90 s behind".
    private static func describe(milliseconds: Int64) -> String {
        let magnitude = milliseconds.magnitude
        // To the nearest unit: a clock measured 2,999 ms short of three days (the trip of the measure) is three days
        // off, not two.
        func rounded(_ unit: UInt64) -> UInt64 { (magnitude + unit / 2) / unit }
        let text: String
        switch magnitude {
        case ..<1_000: text = "\(magnitude) ms"
        case ..<120_000: text = "\(rounded(1_000)) s"
        case ..<(48 * 3_600_000): text = "\(rounded(60_000)) min"
        case ..<(730 * 86_400_000): text = "\(rounded(86_400_000)) days"
        default: text = "\(rounded(365 * 86_400_000)) years"
        }
        return milliseconds >= 0 ? "\(text) ahead of" : "\(text) behind"
    }
}
