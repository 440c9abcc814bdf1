/// A field that currently holds several distinct concurrent values.
public struct FieldConflict: Hashable, Sendable {
    /// The field in conflict.
    public let field: String
    /// Every value the field holds, in canonical order.
    public let values: [DottedValue]
    /// The value the field's policy shows.
    public let winner: DottedValue

    /// Creates a conflict description.
    public init(field: String, values: [DottedValue], winner: DottedValue) {
        self.field = field
        self.values = values
        self.winner = winner
    }
}

/// An entry of a record's conflict history: an edit that replaced the concurrent values of a field.
///
/// Entries are created by the edit that resolves a conflict and travel with the record; the history merges as a
/// grow-only set, so the replaced values, with their dots, are never lost.
public struct ConflictResolution: Hashable, Sendable, Codable, Comparable {
    /// The field that was in conflict.
    public let field: String
    /// The concurrent values the edit saw and replaced, in canonical order.
    public let replaced: [DottedValue]
    /// The value the resolving edit wrote.
    public let resolution: DottedValue

    /// Creates a history entry.
    public init(field: String, replaced: [DottedValue], resolution: DottedValue) {
        self.field = field
        self.replaced = replaced.sorted()
        self.resolution = resolution
    }

    /// History orders by the resolving write, then field.
    public static func < (lhs: ConflictResolution, rhs: ConflictResolution) -> Bool {
        if lhs.resolution != rhs.resolution { return lhs.resolution < rhs.resolution }
        if lhs.field != rhs.field { return lhs.field < rhs.field }
        return lhs.replaced.lexicographicallyPrecedes(rhs.replaced)
    }
}

/// What a merge changed in the local version.
public struct MergeOutcome: Hashable, Sendable {
    /// Whether the merge changed anything at all; `false` means the remote version was already known.
    public let changed: Bool
    /// Fields that hold several distinct values after the merge and did not hold exactly these values before:
    /// conflicts this merge detected (new, or grown by more concurrent values).
    public let detectedConflicts: [String]

    /// Creates an outcome.
    public init(changed: Bool, detectedConflicts: [String]) {
        self.changed = changed
        self.detectedConflicts = detectedConflicts
    }
}

/// A conflict a merge detected: a field of a record that now holds concurrent values. The one shape a conflict has
/// from the engine to the wire (a push's outcome, `push-ack`, a kiosk's sync report).
public struct RecordConflict: Hashable, Sendable {
    public var recordID: String
    public var field: String

    /// Creates a conflict.
    public init(recordID: String, field: String) {
        self.recordID = recordID
        self.field = field
    }
}
