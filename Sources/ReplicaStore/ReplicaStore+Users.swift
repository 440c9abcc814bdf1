import Foundation
import GRDB
import HQAccess
import ReturnsModel

/// HQ's console users on a SQLite server (issue 21): names, roles and bcrypt hashes, with an audit of every change.
/// Each change and its audit line commit together.
extension ReplicaStore {
    /// Every HQ user, by name.
    public func hqUsers() throws -> [HQUser] {
        try read { db in try Self.hqUsers(db) }
    }

    /// Adds `user`, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` when the name is taken.
    public func addHQUser(_ user: HQUser, by actor: String) throws {
        try write { context in
            if let refusal = HQUserRules.refusalToAdd(user.name, existing: try Self.hqUsers(context.db)) {
                throw refusal
            }
            try context.db.execute(
                sql: """
                    INSERT INTO hq_users (name, role, password_hash, created_at, password_changed_at)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    user.name.rawValue, user.role.rawValue, user.passwordHash, user.createdAt.millisecondsSince1970,
                    user.passwordChangedAt.millisecondsSince1970,
                ]
            )
            try Self.audit(
                HQAuditEntry(
                    at: now(),
                    actor: actor,
                    action: "user-added",
                    subject: user.name.rawValue,
                    detail: user.role.rawValue
                ),
                in: context.db
            )
        }
    }

    /// Removes user `name`, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` for an unknown user, or the last admin.
    public func removeHQUser(_ name: HQUserName, by actor: String) throws {
        try write { context in
            if let refusal = HQUserRules.refusalToRemove(name, existing: try Self.hqUsers(context.db)) {
                throw refusal
            }
            try context.db.execute(sql: "DELETE FROM hq_users WHERE name = ?", arguments: [name.rawValue])
            try Self.audit(
                HQAuditEntry(at: now(), actor: actor, action: "user-removed", subject: name.rawValue),
                in: context.db
            )
        }
    }

    /// Replaces user `name`'s password hash, audited as `actor`'s.
    ///
    /// - Throws: ``HQAccessError`` for an unknown user.
    public func setHQUserPassword(_ name: HQUserName, hash: String, by actor: String) throws {
        try write { context in
            let at = now()
            try context.db.execute(
                sql: "UPDATE hq_users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
                arguments: [hash, at.millisecondsSince1970, name.rawValue]
            )
            guard context.db.changesCount == 1 else { throw HQUserRules.unknown(name) }
            // A new password ends every session the old one opened.
            try context.db.execute(sql: "DELETE FROM hq_sessions WHERE user_name = ?", arguments: [name.rawValue])
            try Self.audit(
                HQAuditEntry(at: at, actor: actor, action: "password-changed", subject: name.rawValue),
                in: context.db
            )
        }
    }

    // MARK: Signing in to the console

    /// User `name` and their sign-in state; `nil` for a name nobody has.
    public func hqSignInState(_ name: HQUserName) throws -> (user: HQUser, state: SignInState)? {
        try read { db in
            // One row by its key: this is read on every sign-in and every console request.
            guard
                let row = try Row.fetchOne(db, sql: "SELECT * FROM hq_users WHERE name = ?", arguments: [name.rawValue])
            else { return nil }
            return (
                try Self.hqUser(row),
                SignInState(
                    failures: row["failed_sign_ins"],
                    lockedUntil: (row["locked_until"] as Int64?).map(Date.init(millisecondsSince1970:))
                )
            )
        }
    }

    /// Counts a wrong password for `user` (when the name exists) and locks the account at the policy's limit, in one
    /// statement; audits the attempt under the name `typed`, from `address`.
    public func recordFailedSignIn(
        typed: String,
        user: HQUserName?,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) throws {
        try write { context in
            var locked = false
            if let user {
                let lockEnd = now.addingTimeInterval(policy.lockout).millisecondsSince1970
                try context.db.execute(
                    sql: HQSignInSQL.countFailure(placeholders: ["?1", "?2", "?3"]),
                    arguments: [policy.maximumFailures, lockEnd, user.rawValue]
                )
                locked =
                    try Int64.fetchOne(
                        context.db,
                        sql: "SELECT locked_until FROM hq_users WHERE name = ?",
                        arguments: [user.rawValue]
                    ) == lockEnd
            }
            for entry in HQSignInSQL.refusalAudit(typed: typed, address: address, at: now, locked: locked) {
                try Self.audit(entry, in: context.db)
            }
        }
    }

    /// Opens a session for `user` (stored by the hash of its secret), clears their failures, removes sessions that
    /// are over, and audits the sign-in.
    public func startHQSession(
        _ tokenHash: String,
        for user: HQUserName,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) throws {
        try write { context in
            let milliseconds = now.millisecondsSince1970
            try context.db.execute(
                sql: "UPDATE hq_users SET failed_sign_ins = 0, locked_until = NULL WHERE name = ?",
                arguments: [user.rawValue]
            )
            try context.db.execute(
                sql: "DELETE FROM hq_sessions WHERE last_seen_at <= ? OR created_at <= ?",
                arguments: [
                    now.addingTimeInterval(-policy.idleTimeout).millisecondsSince1970,
                    now.addingTimeInterval(-policy.lifetime).millisecondsSince1970,
                ]
            )
            try context.db.execute(
                sql: "INSERT INTO hq_sessions (token_hash, user_name, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
                arguments: [tokenHash, user.rawValue, milliseconds, milliseconds]
            )
            try Self.audit(
                HQAuditEntry(
                    at: now,
                    actor: user.rawValue,
                    action: "signed-in",
                    subject: user.rawValue,
                    detail: HQSignInSQL.origin(address)
                ),
                in: context.db
            )
        }
    }

    /// The session stored under `tokenHash`, if any (live or not: ``HQSession/isLive(at:policy:)`` says).
    public func hqSession(_ tokenHash: String) throws -> HQSession? {
        try read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT user_name, created_at, last_seen_at FROM hq_sessions WHERE token_hash = ?",
                arguments: [tokenHash]
            ).map { row in
                HQSession(
                    user: try HQUserName(row["user_name"] as String),
                    createdAt: Date(millisecondsSince1970: row["created_at"]),
                    lastSeenAt: Date(millisecondsSince1970: row["last_seen_at"])
                )
            }
        }
    }

    /// Notes that the session was used at `now` (its idle timer starts again). Not synced to disk on its own: a
    /// power cut can only make a session look idle sooner.
    public func touchHQSession(_ tokenHash: String, at now: Date) throws {
        try write(durability: .deferred) { context in
            try context.db.execute(
                sql: "UPDATE hq_sessions SET last_seen_at = ? WHERE token_hash = ?",
                arguments: [now.millisecondsSince1970, tokenHash]
            )
        }
    }

    /// Ends the session (sign-out), audited; nothing when there is none.
    public func endHQSession(_ tokenHash: String, at now: Date) throws {
        try write { context in
            guard
                let user = try String.fetchOne(
                    context.db,
                    sql: "DELETE FROM hq_sessions WHERE token_hash = ? RETURNING user_name",
                    arguments: [tokenHash]
                )
            else { return }
            try Self.audit(HQAuditEntry(at: now, actor: user, action: "signed-out", subject: user), in: context.db)
        }
    }

    /// How many sign-ins from `address` were refused at or after `since`.
    public func failedSignIns(from address: String, since: Date) throws -> Int {
        try read { db in
            try Int.fetchOne(
                db,
                sql: HQSignInSQL.refusedFrom(placeholders: ["?", "?"]),
                arguments: [since.millisecondsSince1970, HQSignInSQL.origin(address)]
            ) ?? 0
        }
    }

    /// Adds a line to HQ's access audit.
    public func recordHQAudit(_ entry: HQAuditEntry) throws {
        try write { context in try Self.audit(entry, in: context.db) }
    }

    /// The newest `limit` lines of HQ's access audit, oldest first.
    public func hqAudit(limit: Int) throws -> [HQAuditEntry] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM (SELECT * FROM hq_audit ORDER BY id DESC LIMIT ?) ORDER BY id
                    """,
                arguments: [limit]
            ).map(Self.auditEntry)
        }
    }

    /// At most `limit` lines of HQ's access audit after line `number` (0: from the first), oldest first, each with
    /// its number.
    public func hqAudit(after number: Int64, limit: Int) throws -> [(number: Int64, entry: HQAuditEntry)] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM hq_audit WHERE id > ? ORDER BY id LIMIT ?",
                arguments: [number, limit]
            ).map { row in (row["id"], Self.auditEntry(row)) }
        }
    }

    private static func auditEntry(_ row: Row) -> HQAuditEntry {
        HQAuditEntry(
            at: Date(millisecondsSince1970: row["at"]),
            actor: row["actor"],
            action: row["action"],
            subject: row["subject"],
            detail: row["detail"]
        )
    }

    private static func hqUsers(_ db: Database) throws -> [HQUser] {
        try Row.fetchAll(db, sql: "SELECT * FROM hq_users ORDER BY name").map(hqUser)
    }

    private static func hqUser(_ row: Row) throws -> HQUser {
        HQUser(
            name: try HQUserName(row["name"] as String),
            role: try HQRole(parsing: row["role"]),
            passwordHash: row["password_hash"],
            createdAt: Date(millisecondsSince1970: row["created_at"]),
            passwordChangedAt: Date(millisecondsSince1970: row["password_changed_at"])
        )
    }

    private static func audit(_ entry: HQAuditEntry, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO hq_audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [entry.at.millisecondsSince1970, entry.actor, entry.action, entry.subject, entry.detail]
        )
    }
}
