import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync

extension ReturnAdministration {
    /// Records HQ's decision on each return's exceptions, once every return is known to wait for one: what
    /// `returns-server review approve|reject` and the console's review queue both do.
    ///
    /// Every id is checked first — a return not waiting for a review, or a rejection without a note, refuses the
    /// whole batch and decides nothing. Each decision is then its own HQ edit, recorded as `operatorID`'s.
    public func decideReviews(
        _ ids: [ReturnID],
        outcome: ReviewDecision.Outcome,
        note: String?,
        operatorID: OperatorID? = nil
    ) async throws -> [ProductReturn] {
        // A dry run of each decision on the return as stored: the same checks and messages the edits make.
        for id in ids {
            var item = try ProductReturn(record: try await returnRecord(id))
            try item.decideReview(outcome, note: note, at: Date())
        }
        var decided: [ProductReturn] = []
        for id in ids {
            decided.append(
                try await editReturn(id, operation: "review", operatorID: operatorID) { item, _, date in
                    try item.decideReview(outcome, note: note, at: date)
                }
            )
        }
        return decided
    }
}
