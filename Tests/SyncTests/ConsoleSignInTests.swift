import Foundation
import HQAccess
import ReturnSyncTestSupport
import ReturnsServer
import Synchronization
import Testing

/// Signing in to HQ's console on every backend (issue 21), as an attacker would try it: wrong passwords in a row
/// and in parallel, names nobody has, stolen or stale sessions, a password changed under a session.
@Suite struct ConsoleSignInTests {
    final class Clock: Sendable {
        private let value = Mutex(Date(millisecondsSince1970: 1_796_000_000_000))
        var now: Date { value.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    static let password = "correct horse battery staple"

    /// An authentication over `storage` with users `dana` (admin) and `bo` (analyst), hashed at bcrypt's lowest cost
    /// (checking a password the same way, faster).
    static func authentication(_ storage: any SyncServerStorage, clock: Clock) async throws -> HQConsoleAuthentication {
        let users = try #require(storage as? any UserAdministration)
        let hasher = PasswordHasher(cost: 4)
        for (name, role) in [("dana", HQRole.admin), ("bo", .analyst)] {
            try await users.addHQUser(
                HQUser(
                    name: try HQUserName(name),
                    role: role,
                    passwordHash: try hasher.hash(password),
                    createdAt: clock.now,
                    passwordChangedAt: clock.now
                ),
                by: "test"
            )
        }
        return HQConsoleAuthentication(storage: users, now: { clock.now })
    }

    @Test(arguments: StorageBackend.all)
    func aSessionStandsForItsUserUntilSignOutIdlenessOrItsLifetime(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let clock = Clock()
            let console = try await Self.authentication(instance.storage, clock: clock)
            let (token, user) = try #require(
                try await console.signIn(name: "Dana", password: Self.password, address: "10.0.0.7")
            )
            #expect(user.name.rawValue == "dana" && user.role == .admin)
            #expect(try await console.user(for: token)?.name.rawValue == "dana")
            // Another process sees the same session.
            let other = try #require(try await instance.secondHandle() as? any UserAdministration)
            let elsewhere = HQConsoleAuthentication(storage: other, now: { clock.now })
            #expect(try await elsewhere.user(for: token)?.name.rawValue == "dana")
            // A token nobody was given, and one made from the stored hash, stand for nobody.
            #expect(try await console.user(for: SessionToken()) == nil)
            #expect(SessionToken(secret: token.hash) == nil, "a stored hash is not a token's shape")

            // Idle: 29 minutes between uses keep it; 30 end it.
            clock.advance(29 * 60)
            #expect(try await console.user(for: token) != nil)
            clock.advance(30 * 60)
            #expect(try await console.user(for: token) == nil, "idle for 30 minutes")

            // Lifetime: used every 20 minutes, it still ends 12 hours after sign-in.
            let (busy, _) = try #require(try await console.signIn(name: "bo", password: Self.password, address: "x"))
            for _ in 0..<35 {
                clock.advance(20 * 60)
                #expect(try await console.user(for: busy) != nil)
            }
            clock.advance(20 * 60)
            #expect(try await console.user(for: busy) == nil, "12 hours after sign-in")

            // Sign-out ends it; so do a password change and the user's removal.
            let (first, _) = try #require(try await console.signIn(name: "bo", password: Self.password, address: "x"))
            try await console.signOut(first)
            #expect(try await console.user(for: first) == nil)
            let (second, _) = try #require(try await console.signIn(name: "bo", password: Self.password, address: "x"))
            try await console.storage.setHQUserPassword(try HQUserName("bo"), hash: "$2b$04$x", by: "dana")
            #expect(try await console.user(for: second) == nil, "a new password ends the old sessions")
            let (third, _) = try #require(try await console.signIn(name: "dana", password: Self.password, address: "x"))
            try await console.storage.addHQUser(
                HQUser(
                    name: try HQUserName("ed"),
                    role: .admin,
                    passwordHash: try PasswordHasher(cost: 4).hash(Self.password),
                    createdAt: clock.now,
                    passwordChangedAt: clock.now
                ),
                by: "test"
            )
            try await console.storage.removeHQUser(try HQUserName("dana"), by: "ed")
            #expect(try await console.user(for: third) == nil, "a removed user's sessions end")

            let audit = try await console.storage.hqAudit(limit: 100).map { "\($0.action) \($0.subject)" }
            #expect(audit.contains("signed-in dana") && audit.contains("signed-out bo"), "\(audit)")
        }
    }

    /// One address trying passwords over many names locks no account (each is tried once or twice) but is stopped:
    /// after the policy's refusals from it, even the right password is refused from there, until the window passes;
    /// other addresses sign in meanwhile.
    @Test(arguments: StorageBackend.all)
    func anAddressSprayingPasswordsOverManyNamesIsStopped(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let clock = Clock()
            var console = try await Self.authentication(instance.storage, clock: clock)
            console.policy.maximumFailuresPerAddress = 3
            for name in ["dana", "bo", "carol"] {
                #expect(
                    try await console.signIn(name: name, password: "spring 2026 password", address: "10.9.9.9") == nil
                )
            }
            #expect(try await console.signIn(name: "dana", password: Self.password, address: "10.9.9.9") == nil)
            #expect(try await console.signIn(name: "dana", password: Self.password, address: "10.0.0.7") != nil)
            let users = console.storage
            #expect(try await users.hqSignInState(try HQUserName("bo"))?.state.isLocked(at: clock.now) == false)
            clock.advance(15 * 60 + 1)
            #expect(try await console.signIn(name: "dana", password: Self.password, address: "10.9.9.9") != nil)
        }
    }

    @Test(arguments: StorageBackend.all)
    func fiveWrongPasswordsLockAnAccountAndEveryRefusalLooksTheSame(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let clock = Clock()
            let console = try await Self.authentication(instance.storage, clock: clock)
            // Four wrong, then right: signed in, and the count starts again.
            for _ in 0..<4 {
                #expect(try await console.signIn(name: "bo", password: "wrong guess 123", address: "a") == nil)
            }
            #expect(try await console.signIn(name: "bo", password: Self.password, address: "a") != nil)
            for _ in 0..<4 {
                #expect(try await console.signIn(name: "bo", password: "wrong guess 123", address: "a") == nil)
            }
            #expect(try await console.signIn(name: "bo", password: Self.password, address: "a") != nil, "count cleared")

            // Five wrong sent at once (a guesser in a hurry): each counted, the account locked.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for attempt in 0..<5 {
                    group.addTask {
                        try await console.signIn(name: "bo", password: "guess \(attempt) abcdef", address: "b") == nil
                    }
                }
                for try await refused in group { #expect(refused) }
            }
            let users = console.storage
            #expect(try await users.hqSignInState(try HQUserName("bo"))?.state.isLocked(at: clock.now) == true)
            // Locked: the right password is refused too, until the lock ends; then it works.
            #expect(try await console.signIn(name: "bo", password: Self.password, address: "a") == nil)
            clock.advance(14 * 60)
            #expect(try await console.signIn(name: "bo", password: Self.password, address: "a") == nil)
            clock.advance(61)
            #expect(try await console.signIn(name: "bo", password: Self.password, address: "a") != nil)

            // A name nobody has: refused the same way, nothing stored for it, the typed text audited harmlessly.
            let typed = "eve\n<script>alert(1)</script>" + String(repeating: "x", count: 100)
            #expect(try await console.signIn(name: typed, password: Self.password, address: "c") == nil)
            #expect(try await users.hqUsers().map(\.name.rawValue) == ["bo", "dana"])
            let audit = try await users.hqAudit(limit: 100)
            let refused = try #require(audit.last)
            #expect(refused.action == "sign-in-refused" && refused.actor == "(not signed in)")
            #expect(refused.subject.count == 64 && !refused.subject.contains("\n"), "\(refused.subject)")
            #expect(audit.filter { $0.action == "account-locked" }.count == 1)
            // 8 wrong, 5 at once, 2 while locked, 1 unknown name.
            let refusals = audit.filter { $0.action == "sign-in-refused" }.count
            #expect(refusals == 16)
        }
    }

    /// A name nobody has is refused as any other attempt is, and counts against nobody.
    @Test func aNameNobodyHasIsRefusedLikeAnyOther() {
        #expect(SignIn.refusal.contains("wrong user name or password"))
        let outcome = SignIn.decide(user: nil, state: SignInState(), password: "anything at all", at: Date())
        #expect(outcome == .refused(countsAsFailure: false))
    }

    @Test func csrfTokensBelongToTheirSessionAndCompareWhole() {
        let (one, two) = (SessionToken(), SessionToken())
        #expect(one.csrfToken == SessionToken(secret: one.secret)?.csrfToken)
        #expect(one.acceptsCSRFToken(one.csrfToken))
        #expect(!one.acceptsCSRFToken(two.csrfToken))
        #expect(!one.acceptsCSRFToken(String(one.csrfToken.dropLast())))
        #expect(!one.acceptsCSRFToken(""))
        #expect(one.secret.count == 43 && one.hash.count == 64 && one.secret != two.secret)
        #expect(SessionToken(secret: one.secret + "=") == nil && SessionToken(secret: "a b") == nil)
    }
}
