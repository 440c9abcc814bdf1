/// How a field in conflict chooses the value it shows.
///
/// A policy only chooses what is *visible*: the other values stay in the field until an edit that has seen them
/// resolves the conflict. Every policy is a deterministic function of the set of values, so every replica holding
/// the same record shows the same value.
public struct ResolutionPolicy: Hashable, Sendable {
    private enum Kind: Hashable, Sendable {
        case latestStamp
        case ranked([FieldValue: Int])
    }

    private let kind: Kind

    /// The value with the greatest hybrid logical clock stamp wins; equal stamps fall back to the writing
    /// replica's id, then the write's counter. This is the default.
    public static let latestStamp = ResolutionPolicy(kind: .latestStamp)

    /// The value that comes first in `preference` wins; values not in the list lose to every listed value; ties
    /// (equal values written by different edits, or unlisted values) fall back to ``latestStamp``.
    ///
    /// ```swift
    /// // Safety first: quarantine beats everything, restock loses to everything else.
    /// let disposition = ResolutionPolicy.ranked(["quarantine", "dispose", "recycle", "restock"])
    /// ```
    public static func ranked(_ preference: [FieldValue]) -> ResolutionPolicy {
        var ranks: [FieldValue: Int] = [:]
        for (rank, value) in preference.enumerated() where ranks[value] == nil {
            ranks[value] = rank
        }
        return ResolutionPolicy(kind: .ranked(ranks))
    }

    /// The visible value among `values`, or `nil` when there are none.
    ///
    /// The answer does not depend on the order of `values`.
    public func winner(among values: some Collection<DottedValue>) -> DottedValue? {
        switch kind {
        case .latestStamp:
            return values.max(by: Self.olderStamp)
        case .ranked(let ranks):
            let unlisted = ranks.count
            return values.max { lhs, rhs in
                let (left, right) = (ranks[lhs.value] ?? unlisted, ranks[rhs.value] ?? unlisted)
                if left != right { return left > right }  // a lower rank is preferred, so it is "greater"
                return Self.olderStamp(lhs, rhs)
            }
        }
    }

    private static func olderStamp(_ lhs: DottedValue, _ rhs: DottedValue) -> Bool {
        if lhs.stamp != rhs.stamp { return lhs.stamp < rhs.stamp }
        if lhs.dot.replica != rhs.dot.replica { return lhs.dot.replica < rhs.dot.replica }
        if lhs.dot.counter != rhs.dot.counter { return lhs.dot.counter < rhs.dot.counter }
        return lhs.value < rhs.value
    }
}

/// The resolution policies of one kind of entity: one per field, with a default for the rest.
///
/// The engine knows nothing of the entities it stores; each entity supplies its policies.
public struct EntityPolicy: Sendable {
    /// The policy of fields not listed in ``fieldPolicies``.
    public var defaultPolicy: ResolutionPolicy
    /// Policies by field name.
    public var fieldPolicies: [String: ResolutionPolicy]

    /// Creates a set of policies.
    public init(defaultPolicy: ResolutionPolicy = .latestStamp, fieldPolicies: [String: ResolutionPolicy] = [:]) {
        self.defaultPolicy = defaultPolicy
        self.fieldPolicies = fieldPolicies
    }

    /// The policy that resolves `field`.
    public func policy(for field: String) -> ResolutionPolicy {
        fieldPolicies[field] ?? defaultPolicy
    }
}
