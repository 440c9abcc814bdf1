import SyncEngine

/// A write of a step field (a return's condition or disposition) that a later write replaced — restocked, then
/// quarantined when a recall reached the unit. A record keeps only each field's current values, so HQ keeps these as
/// versions arrive: the EPCIS export then tells every step a unit went through, not only its last.
///
/// Values a settled conflict replaced are not superseded steps: the record keeps them in its conflict history.
public struct SupersededStep: Hashable, Sendable {
    /// The return's id.
    public let returnID: String
    /// The field written: ``ReturnEntity/Field/condition`` or ``ReturnEntity/Field/disposition``.
    public let field: String
    /// The value written.
    public let value: String
    /// The write.
    public let dot: Dot
    /// When it was written.
    public let stamp: HLCTimestamp

    /// Creates a superseded step.
    public init(returnID: String, field: String, value: String, dot: Dot, stamp: HLCTimestamp) {
        self.returnID = returnID
        self.field = field
        self.value = value
        self.dot = dot
        self.stamp = stamp
    }

    /// The fields whose writes are steps.
    public static let fields = [ReturnEntity.Field.condition, ReturnEntity.Field.disposition]

    /// The step writes `old` holds that `new`, a later version of the same return, no longer does (neither as a
    /// current value nor in its conflict history).
    public static func between(_ old: VersionedRecord, _ new: VersionedRecord) -> [SupersededStep] {
        var steps: [SupersededStep] = []
        for field in fields {
            let before = old.values(of: field)
            guard !before.isEmpty else { continue }
            var kept = Set(new.values(of: field).map(\.dot))
            for settled in new.conflictHistory where settled.field == field {
                kept.insert(settled.resolution.dot)
                kept.formUnion(settled.replaced.map(\.dot))
            }
            for write in before where !kept.contains(write.dot) {
                guard case .string(let value) = write.value else { continue }
                steps.append(
                    SupersededStep(returnID: new.id, field: field, value: value, dot: write.dot, stamp: write.stamp)
                )
            }
        }
        return steps
    }

    /// As a register value of its field, for the functions that read values.
    public var dottedValue: DottedValue { DottedValue(value: .string(value), dot: dot, stamp: stamp) }
}
