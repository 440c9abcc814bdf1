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
            try Self.audit(
                HQAuditEntry(at: at, actor: actor, action: "password-changed", subject: name.rawValue),
                in: context.db
            )
        }
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
            ).map { row in
                HQAuditEntry(
                    at: Date(millisecondsSince1970: row["at"]),
                    actor: row["actor"],
                    action: row["action"],
                    subject: row["subject"],
                    detail: row["detail"]
                )
            }
        }
    }

    private static func hqUsers(_ db: Database) throws -> [HQUser] {
        try Row.fetchAll(db, sql: "SELECT * FROM hq_users ORDER BY name").map { row in
            HQUser(
                name: try HQUserName(row["name"] as String),
                role: try HQRole(parsing: row["role"]),
                passwordHash: row["password_hash"],
                createdAt: Date(millisecondsSince1970: row["created_at"]),
                passwordChangedAt: Date(millisecondsSince1970: row["password_changed_at"])
            )
        }
    }

    private static func audit(_ entry: HQAuditEntry, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO hq_audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [entry.at.millisecondsSince1970, entry.actor, entry.action, entry.subject, entry.detail]
        )
    }
}
