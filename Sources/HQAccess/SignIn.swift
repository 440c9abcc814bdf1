import Crypto
import Foundation
import HummingbirdBcrypt
import WireProtocol

/// How HQ's sign-in resists guessing and how long a session lasts (issue 21). One value for every storage, so the
/// console behaves the same on SQLite and on PostgreSQL.
public struct SignInPolicy: Sendable, Hashable {
    /// Wrong passwords in a row after which the account is locked.
    public var maximumFailures: Int
    /// How long a lock lasts; a correct password during it is refused too.
    public var lockout: TimeInterval
    /// A session unused this long is over.
    public var idleTimeout: TimeInterval
    /// A session is over this long after sign-in, however busy.
    public var lifetime: TimeInterval
    /// Refused sign-ins from one address within ``lockout`` after which every attempt from it is refused unchecked,
    /// whatever the name: one address trying a password on many names (spraying) locks no account but is stopped.
    public var maximumFailuresPerAddress: Int

    public init(
        maximumFailures: Int = 5,
        lockout: TimeInterval = 15 * 60,
        idleTimeout: TimeInterval = 30 * 60,
        lifetime: TimeInterval = 12 * 3600,
        maximumFailuresPerAddress: Int = 20
    ) {
        self.maximumFailures = maximumFailures
        self.lockout = lockout
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.maximumFailuresPerAddress = maximumFailuresPerAddress
    }
}

/// A user's sign-in record: consecutive failures and the end of a lock.
public struct SignInState: Sendable, Hashable {
    public var failures: Int
    public var lockedUntil: Date?

    public init(failures: Int = 0, lockedUntil: Date? = nil) {
        self.failures = failures
        self.lockedUntil = lockedUntil
    }

    /// Whether the account is locked at `now`.
    public func isLocked(at now: Date) -> Bool { lockedUntil.map { $0 > now } ?? false }
}

/// The decision on one sign-in attempt, pure: the storage reads the user and their state, this decides, the storage
/// writes the new state and, on success, a session.
public enum SignIn {
    /// What an attempt comes to.
    public enum Outcome: Sendable, Hashable {
        /// The password is right and the account open: start a session; failures start again from zero.
        case signedIn(HQUser)
        /// Refused. `countsAsFailure` for a wrong password on an open account (the storage then counts it, and locks
        /// the account at ``SignInPolicy/maximumFailures`` — in one statement, so attempts sent in parallel are all
        /// counted). Everyone is told the same sentence (``refusal``) whatever the reason: the console never says
        /// whether a name exists or is locked.
        case refused(countsAsFailure: Bool)
    }

    /// What a refused attempt is told, whatever the reason.
    public static let refusal = "wrong user name or password, or too many attempts: wait a few minutes"

    /// A bcrypt hash of a random secret nobody knows, checked against for names nobody has, so an unknown name takes
    /// as long to refuse as a wrong password (no telling names apart by time). Made once, at the users' default cost.
    static let decoy = Bcrypt.hash(SessionToken().secret, cost: PasswordHasher().cost)

    /// Decides an attempt by `user` (`nil`: no such name) in `state` with `password` at `now`. Runs bcrypt once in
    /// every case — slow on purpose: call it off shared threads.
    public static func decide(user: HQUser?, state: SignInState, password: String, at now: Date) -> Outcome {
        guard let user else {
            _ = PasswordHasher.verify(password, hash: decoy)
            return .refused(countsAsFailure: false)
        }
        let matches = PasswordHasher.verify(password, hash: user.passwordHash)
        if state.isLocked(at: now) { return .refused(countsAsFailure: false) }
        return matches ? .signedIn(user) : .refused(countsAsFailure: true)
    }
}

/// A console session's secret, as the browser holds it in an `HttpOnly` cookie, and what the server keeps of it:
/// only its SHA-256, so a copy of the database signs nobody in.
public struct SessionToken: Sendable, Hashable {
    /// The cookie's value: 32 random bytes, base64url without padding.
    public let secret: String

    /// A new random token.
    public init() {
        secret = Self.base64URL(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    /// A token as the browser sent it; `nil` when it is not 43 base64url characters.
    public init?(secret: String) {
        guard secret.utf8.count == 43,
            secret.utf8.allSatisfy({ byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_")
            })
        else { return nil }
        self.secret = secret
    }

    /// What the server stores and looks sessions up by.
    public var hash: String { lowercaseHex(SHA256.hash(data: Data(secret.utf8))) }

    /// The token every form of this session carries (synchronizer token, derived: nothing more to store). A forged
    /// cross-site form cannot know it: the session cookie is never readable by a page.
    public var csrfToken: String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("csrf".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Self.base64URL(Data(code))
    }

    /// Whether `candidate` is this session's CSRF token, compared in constant time.
    public func acceptsCSRFToken(_ candidate: String) -> Bool { Self.equalInConstantTime(csrfToken, candidate) }

    /// Whether two secrets are equal, in a time that does not depend on where they first differ (only on their
    /// lengths): a guesser learns nothing from how long a refusal takes.
    public static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let (left, right) = (Array(a.utf8), Array(b.utf8))
        guard left.count == right.count else { return false }
        return zip(left, right).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// A console session as stored.
public struct HQSession: Sendable, Hashable {
    public var user: HQUserName
    public var createdAt: Date
    public var lastSeenAt: Date

    public init(user: HQUserName, createdAt: Date, lastSeenAt: Date) {
        self.user = user
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
    }

    /// Whether the session still holds at `now` under `policy`.
    public func isLive(at now: Date, policy: SignInPolicy = SignInPolicy()) -> Bool {
        now.timeIntervalSince(lastSeenAt) < policy.idleTimeout && now.timeIntervalSince(createdAt) < policy.lifetime
    }
}

/// The statements of sign-in bookkeeping every SQL storage runs the same way.
public enum HQSignInSQL {
    /// Counts a wrong password and, at the limit, locks the account and starts counting again — one statement, so
    /// attempts sent in parallel are each counted. Parameters, in `placeholders`' order: the limit, the lock's end
    /// (milliseconds), the user's name.
    public static func countFailure(placeholders p: [String]) -> String {
        """
        UPDATE hq_users SET
            locked_until = CASE WHEN failed_sign_ins + 1 >= \(p[0]) THEN \(p[1]) ELSE locked_until END,
            failed_sign_ins = CASE WHEN failed_sign_ins + 1 >= \(p[0]) THEN 0 ELSE failed_sign_ins + 1 END
        WHERE name = \(p[2])
        """
    }

    /// Who a refused attempt is audited as.
    public static let anonymous = "(not signed in)"

    /// Where an attempt came from, as the audit's detail says it — what ``refusedFrom(placeholders:)`` counts by.
    public static func origin(_ address: String) -> String { "from \(address)" }

    /// The audit lines of a refused sign-in as `typed` from `address`, and the lock when it locked the account.
    public static func refusalAudit(typed: String, address: String, at now: Date, locked: Bool) -> [HQAuditEntry] {
        (["sign-in-refused"] + (locked ? ["account-locked"] : [])).map { action in
            HQAuditEntry(at: now, actor: anonymous, action: action, subject: subject(typed), detail: origin(address))
        }
    }

    /// Counts the sign-ins refused from one address since a time (the audit's lines, by time). Parameters, in
    /// `placeholders`' order: the time (milliseconds), the address's ``origin(_:)``.
    public static func refusedFrom(placeholders p: [String]) -> String {
        "SELECT count(*) FROM hq_audit WHERE at >= \(p[0]) AND action = 'sign-in-refused' AND detail = \(p[1])"
    }

    /// A typed name as the audit shows it: at most 64 characters, control characters dropped.
    public static func subject(_ typed: String) -> String {
        String(typed.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.prefix(64))
    }
}
