/// The lifecycle rules of a return, as code.
///
/// - A closed or voided return cannot be edited (notes can still be added).
/// - A disposition needs an inspected return; closing needs a dispositioned one.
/// - A hazardous item can only be quarantined, recycled or disposed of.
/// - Restock needs an item that is not damaged, defective or hazardous and did not fail its test.
/// - Repackage needs an item that is not defective or hazardous and did not fail its test.
/// - A recalled item (reason `recall`) is never restocked or repackaged.
/// - A unit that matched an open recall campaign at capture is never restocked, repackaged or repaired — whether the
///   match was certain or uncertain (GTIN matched, lot or serial unknown: held for inspection).
///
/// The same rules are checked again on every merged record (``violations(of:)``): concurrent edits on two
/// replicas can combine into a state neither replica allowed, and such a return is flagged for review rather than
/// changed, identically on every replica.
public enum ReturnRules {
    /// Why `disposition` is not allowed for an item with these findings, or `nil` when it is allowed.
    public static func problem(
        with disposition: Disposition,
        condition: ItemCondition,
        testResult: TestResult,
        reason: ReturnReason,
        recallMatch: RecallCampaign.Match? = nil
    ) -> String? {
        let pastTense: [Disposition: String] = [.restock: "restocked", .repackage: "repackaged", .repair: "repaired"]
        if let recallMatch, let done = pastTense[disposition] {
            return recallMatch == .certain
                ? "a unit under an open recall campaign is never \(done)"
                : "a unit that may be under a recall (uncertain match) is held for inspection, never \(done)"
        }
        if condition == .hazardous, ![.quarantine, .recycle, .dispose, .undecided].contains(disposition) {
            return "a hazardous item can only be quarantined, recycled or disposed of"
        }
        switch disposition {
        case .restock, .repackage:
            if reason == .recall {
                return "a recalled item is never \(disposition == .restock ? "restocked" : "repackaged")"
            }
            let excluded: Set<ItemCondition> =
                disposition == .restock ? [.damaged, .defective, .hazardous] : [.defective, .hazardous]
            if excluded.contains(condition) {
                return "a \(condition.rawValue) item cannot be \(disposition == .restock ? "restocked" : "repackaged")"
            }
            if testResult == .fail {
                return "an item that failed its test cannot be \(disposition == .restock ? "restocked" : "repackaged")"
            }
            return nil
        default:
            return nil
        }
    }

    /// Throws when the return can no longer be edited, or not here: it holds a newer release's value.
    public static func requireEditable(_ item: ProductReturn) throws {
        try item.requireKnownValues()
        switch item.status {
        case .closed:
            throw ReturnsModelError(code: .returnClosed, message: "return \(item.id) is closed and cannot be edited")
        case .voided:
            throw ReturnsModelError(code: .returnVoided, message: "return \(item.id) is voided and cannot be edited")
        default:
            return
        }
    }

    /// The lifecycle rules a return's current state breaks; empty for every state the operations can reach.
    ///
    /// Voided returns break nothing: whatever else they hold, they are out of the flow. Nor does a return holding a
    /// newer release's value (``ProductReturn/newerValues``) here: its rules are that release's to check, and the
    /// values this one reads in its place would flag what is not wrong.
    public static func violations(of item: ProductReturn) -> [String] {
        guard item.status != .voided, item.newerValues.isEmpty else { return [] }
        var found: [String] = []
        if item.status != .received, item.condition == .unknown {
            found.append("status is \(item.status.rawValue) but the item was never inspected")
        }
        if item.status == .dispositioned || item.status == .closed {
            if item.disposition == .undecided {
                found.append("status is \(item.status.rawValue) but no disposition was chosen")
            }
        }
        if item.status == .closed, item.disposition == .recycle || item.disposition == .dispose, item.handoff == nil {
            found.append("closed as \(item.disposition.rawValue) without a recorded hand-off")
        }
        if item.disposition != .undecided,
            let problem = problem(
                with: item.disposition,
                condition: item.condition,
                testResult: item.testResult,
                reason: item.reason,
                // A closed return was handled before its recall could apply: not a broken rule but a recall
                // alert (ProductReturn.isRecallAlert), which no edit of the return can fix.
                recallMatch: item.status == .closed ? nil : item.recallMatch
            )
        {
            found.append("disposition '\(item.disposition.rawValue)' breaks a rule: \(problem)")
        }
        return found
    }
}
