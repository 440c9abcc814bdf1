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

    private static func describe(milliseconds: Int64) -> String {
        let magnitude = milliseconds.magnitude
        let text: String
        switch magnitude {
        case ..<1_000: text = "\(magnitude) ms"
        case ..<120_000: text = "\(magnitude / 1_000) s"
        case ..<(48 * 3_600_000): text = "\(magnitude / 60_000) min"
        case ..<(730 * 86_400_000): text = "\(magnitude / 86_400_000) days"
        default: text = "\(magnitude / (365 * 86_400_000)) years"
        }
        return milliseconds >= 0 ? "\(text) ahead of" : "\(text) behind"
    }
}
