import Foundation
import HQAccess
import NIOPosix

/// Signing in to HQ's console, over whichever storage the server uses (issue 21): the rules are ``SignIn``'s and
/// ``SignInPolicy``'s, the state is the storage's, so several `serve` processes on one PostgreSQL database share
/// every lock and session.
///
/// - A refused attempt is always told ``SignIn/refusal``, whether the name exists, the password is wrong or the
///   account is locked, and takes one bcrypt check in every case: the console tells nobody which names exist.
/// - Five wrong passwords in a row lock the account for 15 minutes (counted in the database, so attempts sent in
///   parallel, or through several processes, are each counted); a sign-in clears the count.
/// - Twenty refused sign-ins from one address within 15 minutes, whatever the names, and every further attempt from it
///   is refused unchecked until the window passes: spraying one password over many names is stopped too.
/// - A session is a random secret the browser keeps in an `HttpOnly` cookie; the database holds only its SHA-256.
///   It ends after 30 minutes unused, 12 hours after sign-in, at sign-out, when the user's password changes and when
///   the user is removed. Every sign-in, refusal, lock and sign-out is audited.
public struct HQConsoleAuthentication: Sendable {
    public let storage: any UserAdministration
    public var policy: SignInPolicy
    /// The clock; tests move it.
    public var now: @Sendable () -> Date

    public init(
        storage: any UserAdministration,
        policy: SignInPolicy = SignInPolicy(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.storage = storage
        self.policy = policy
        self.now = now
    }

    /// Signs `typed` in with `password` from `address`: the new session's token and the user, or `nil` when refused
    /// (show ``SignIn/refusal``).
    public func signIn(
        name typed: String,
        password: String,
        address: String
    ) async throws -> (
        token: SessionToken, user: HQUser
    )? {
        let at = now()
        // Too many refusals from this address lately: refused unchecked (and audited), whatever the name.
        let recent = try await storage.failedSignIns(from: address, since: at.addingTimeInterval(-policy.lockout))
        if recent >= policy.maximumFailuresPerAddress {
            try await storage.recordFailedSignIn(typed: typed, user: nil, address: address, at: at, policy: policy)
            return nil
        }
        var lookedUp: (user: HQUser, state: SignInState)?
        if let name = try? HQUserName(typed) { lookedUp = try await storage.hqSignInState(name) }
        let found = lookedUp
        // bcrypt is slow on purpose: on NIO's blocking-work threads, never on the threads all tasks share.
        let outcome = try await NIOThreadPool.singleton.runIfActive {
            SignIn.decide(user: found?.user, state: found?.state ?? SignInState(), password: password, at: at)
        }
        switch outcome {
        case .signedIn(let user):
            let token = SessionToken()
            try await storage.startHQSession(token.hash, for: user.name, address: address, at: at, policy: policy)
            return (token, user)
        case .refused(let countsAsFailure):
            try await storage.recordFailedSignIn(
                typed: typed,
                user: countsAsFailure ? found?.user.name : nil,
                address: address,
                at: at,
                policy: policy
            )
            return nil
        }
    }

    /// The user a browser's session token stands for, when the session is live and the user still exists; the
    /// session's idle timer starts again unless `touching` is false (what a page refreshes on its own asks, so an
    /// unattended live dashboard still signs out when idle). `nil` otherwise: sign in again.
    public func user(for token: SessionToken, touching: Bool = true) async throws -> HQUser? {
        let at = now()
        guard let session = try await storage.hqSession(token.hash), session.isLive(at: at, policy: policy) else {
            return nil
        }
        guard let user = try await storage.hqSignInState(session.user)?.user else { return nil }
        if touching { try await storage.touchHQSession(token.hash, at: at) }
        return user
    }

    /// Ends the session (sign-out).
    public func signOut(_ token: SessionToken) async throws {
        try await storage.endHQSession(token.hash, at: now())
    }
}
