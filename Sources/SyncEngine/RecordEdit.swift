/// A local edit: the fields it sets and the grow-only-set elements it adds, applied as one write.
///
/// ```swift
/// var edit = RecordEdit()
/// edit.set("disposition", to: "repair")
/// edit.add("sent to vendor workshop", to: "notes")
/// let dot = try record.apply(edit, by: kiosk, stamp: hlc.tick(wallClock: now))
/// ```
public struct RecordEdit: Hashable, Sendable {
    /// Register fields to set, by name.
    public var assignments: [String: FieldValue]
    /// Elements to add to grow-only-set fields, by field name.
    public var additions: [String: [FieldValue]]

    /// Creates an edit.
    public init(assignments: [String: FieldValue] = [:], additions: [String: [FieldValue]] = [:]) {
        self.assignments = assignments
        self.additions = additions
    }

    /// Sets register `field` to `value`.
    public mutating func set(_ field: String, to value: FieldValue) {
        assignments[field] = value
    }

    /// Adds `element` to grow-only-set `field`.
    public mutating func add(_ element: FieldValue, to field: String) {
        additions[field, default: []].append(element)
    }

    /// Whether the edit changes nothing.
    public var isEmpty: Bool {
        assignments.isEmpty && additions.values.allSatisfy(\.isEmpty)
    }
}
