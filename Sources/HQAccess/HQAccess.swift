import Foundation
import HummingbirdBcrypt

/// What an HQ user may do: each role can do what the one before it can, and more (issue 21).
///
/// Analysts read; returns managers also settle conflicts, dispositions and reviews; recall managers also run
/// recall campaigns; admins also enroll and revoke kiosks and manage users. The console checks the role on every
/// request, not only by hiding what a role may not use.
public enum HQRole: String, CaseIterable, Codable, Sendable, Comparable {
    case analyst
    case returnsManager = "returns-manager"
    case recallManager = "recall-manager"
    case admin

    /// The roles, as typed: `analyst|returns-manager|recall-manager|admin`.
    public static var spelled: String { allCases.map(\.rawValue).joined(separator: "|") }

    /// Reads a role as typed, naming the bad value and the good ones.
    public init(parsing text: String) throws {
        guard let role = HQRole(rawValue: text) else {
            throw HQAccessError("invalid role '\(text)': expected \(Self.spelled)")
        }
        self = role
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: HQRole, rhs: HQRole) -> Bool { lhs.rank < rhs.rank }

    /// Whether this role may do `action`.
    public func may(_ action: HQAction) -> Bool { self >= action.leastRole }
}

/// What HQ's people do, each with the least role allowed to do it.
public enum HQAction: String, CaseIterable, Sendable {
    /// Reports, returns, conflicts, recalls and kiosks, read.
    case read
    /// Settle conflicts, set dispositions, decide reviews, edit returns.
    case editReturns = "edit-returns"
    /// Start and close recall campaigns.
    case runRecalls = "run-recalls"
    /// Enroll and revoke kiosks, import orders, set policies and store settings.
    case administerFleet = "administer-fleet"
    /// Add, remove and change HQ users.
    case manageUsers = "manage-users"

    /// What it is, in words a refusal can use: "Your role may not …".
    public var phrase: String {
        switch self {
        case .read: "read HQ's data"
        case .editReturns: "settle conflicts, set dispositions or decide reviews"
        case .runRecalls: "start or close recall campaigns"
        case .administerFleet: "enroll or revoke kiosks, or import orders"
        case .manageUsers: "manage users"
        }
    }

    /// The least role allowed to do it.
    public var leastRole: HQRole {
        switch self {
        case .read: .analyst
        case .editReturns: .returnsManager
        case .runRecalls: .recallManager
        case .administerFleet, .manageUsers: .admin
        }
    }
}

/// An HQ user's name: 1 to 64 characters of lower-case letters, digits and `.`, `_`, `-`, `@` — an e-mail address
/// fits. Names are compared as typed in lower case, so `Dana` and `dana` are one user.
public struct HQUserName: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ text: String) throws {
        let name = text.lowercased()
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-@")
        guard (1...64).contains(name.count), name.allSatisfy(allowed.contains) else {
            throw HQAccessError(
                "invalid user name '\(text)': 1 to 64 letters, digits, '.', '_', '-' or '@'"
            )
        }
        rawValue = name
    }

    public init?(rawValue: String) { try? self.init(rawValue) }
    public var description: String { rawValue }
}

/// An HQ user as stored: the password only as its bcrypt hash.
public struct HQUser: Hashable, Codable, Sendable {
    public var name: HQUserName
    public var role: HQRole
    /// The bcrypt hash of the password (`$2b$…`): never the password.
    public var passwordHash: String
    public var createdAt: Date
    public var passwordChangedAt: Date

    public init(name: HQUserName, role: HQRole, passwordHash: String, createdAt: Date, passwordChangedAt: Date) {
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.passwordChangedAt = passwordChangedAt
    }
}

/// Passwords as a back office expects them: 12 characters at least, at most 72 bytes (bcrypt reads no further, so
/// a longer one would be accepted for its first 72 bytes alone), hashed with bcrypt.
public struct PasswordHasher: Sendable {
    /// bcrypt's cost: 2^cost rounds. 12 takes a few hundred milliseconds here, which is what slows a guesser down.
    public var cost: UInt8

    public init(cost: UInt8 = 12) { self.cost = cost }

    public static let minimumLength = 12
    public static let maximumBytes = 72

    /// Checks `password` against the rules, with a reason that never repeats it.
    public static func check(_ password: String) throws {
        guard password.count >= minimumLength else {
            throw HQAccessError("the password is too short: at least \(minimumLength) characters")
        }
        guard password.utf8.count <= maximumBytes else {
            throw HQAccessError("the password is too long: at most \(maximumBytes) bytes")
        }
        guard !password.contains(where: { $0.isNewline }) else {
            throw HQAccessError("the password holds a line break")
        }
    }

    /// The bcrypt hash of a password that passes ``check(_:)``. Slow on purpose: run it off shared threads.
    public func hash(_ password: String) throws -> String {
        try Self.check(password)
        return Bcrypt.hash(password, cost: cost)
    }

    /// Whether `password` is the one `hash` was made from.
    public static func verify(_ password: String, hash: String) -> Bool {
        guard password.utf8.count <= maximumBytes else { return false }
        return Bcrypt.verify(password, hash: hash)
    }
}

/// A refusal of HQ access: a name, a role or a password that will not do; the message says which and why.
public struct HQAccessError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One line of HQ's access audit: who did what to whom, and when.
public struct HQAuditEntry: Hashable, Codable, Sendable {
    public var at: Date
    /// Who did it: a console user's name, or `command line (USER)` for `returns-server users`.
    public var actor: String
    /// What: `user-added`, `user-removed`, `password-changed`; the console adds logins and its actions.
    public var action: String
    /// To whom or what.
    public var subject: String
    public var detail: String

    public init(at: Date, actor: String, action: String, subject: String, detail: String = "") {
        self.at = at
        self.actor = actor
        self.action = action
        self.subject = subject
        self.detail = detail
    }
}

/// The rules every storage applies to HQ's users, in one place.
public enum HQUserRules {
    /// Why `name` may not be added to `existing`; `nil` when it may.
    public static func refusalToAdd(_ name: HQUserName, existing: [HQUser]) -> HQAccessError? {
        existing.contains { $0.name == name } ? HQAccessError("user '\(name)' already exists") : nil
    }

    /// Why `name` may not be removed from `existing`; `nil` when it may. The last admin stays: without one, nobody
    /// could manage users from the console again.
    public static func refusalToRemove(_ name: HQUserName, existing: [HQUser]) -> HQAccessError? {
        guard let user = existing.first(where: { $0.name == name }) else { return unknown(name) }
        if user.role == .admin, existing.filter({ $0.role == .admin }).count == 1 {
            return HQAccessError("user '\(name)' is the last admin: add another admin first")
        }
        return nil
    }

    /// The refusal for a user that does not exist.
    public static func unknown(_ name: HQUserName) -> HQAccessError { HQAccessError("no user '\(name)'") }
}
