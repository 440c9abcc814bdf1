import Foundation
import HQAccess
import PostgresNIO
import ReturnsModel
import ReturnsServer

/// HQ's console users on PostgreSQL: as on SQLite (``HQUserRules`` inside each transaction), with the table locked
/// against the other `serve` processes' changes for the transaction, so two of them never both remove "the other"
/// admin.
extension PostgresServerStorage: UserAdministration {
    public func hqUsers() async throws -> [HQUser] {
        try await transaction { [logger] connection in try await Self.hqUsers(on: connection, logger: logger) }
    }

    public func addHQUser(_ user: HQUser, by actor: String) async throws {
        try await transaction { [logger] connection in
            let users = try await Self.lockedUsers(on: connection, logger: logger)
            if let refusal = HQUserRules.refusalToAdd(user.name, existing: users) { throw refusal }
            let (name, role, hash) = (user.name.rawValue, user.role.rawValue, user.passwordHash)
            let (created, changed) = (
                user.createdAt.millisecondsSince1970, user.passwordChangedAt.millisecondsSince1970
            )
            try await connection.query(
                """
                INSERT INTO hq_users (name, role, password_hash, created_at, password_changed_at)
                VALUES (\(name), \(role), \(hash), \(created), \(changed))
                """,
                logger: logger
            )
            try await Self.audit(
                HQAuditEntry(at: Date(), actor: actor, action: "user-added", subject: name, detail: role),
                on: connection,
                logger: logger
            )
        }
    }

    public func removeHQUser(_ name: HQUserName, by actor: String) async throws {
        try await transaction { [logger] connection in
            let users = try await Self.lockedUsers(on: connection, logger: logger)
            if let refusal = HQUserRules.refusalToRemove(name, existing: users) { throw refusal }
            let text = name.rawValue
            try await connection.query("DELETE FROM hq_users WHERE name = \(text)", logger: logger)
            try await Self.audit(
                HQAuditEntry(at: Date(), actor: actor, action: "user-removed", subject: text),
                on: connection,
                logger: logger
            )
        }
    }

    public func setHQUserPassword(_ name: HQUserName, hash: String, by actor: String) async throws {
        try await transaction { [logger] connection in
            let (text, at) = (name.rawValue, Date())
            let milliseconds = at.millisecondsSince1970
            var found = false
            for try await _ in try await connection.query(
                """
                UPDATE hq_users SET password_hash = \(hash), password_changed_at = \(milliseconds)
                WHERE name = \(text) RETURNING 1
                """,
                logger: logger
            ).decode(Int.self) { found = true }
            guard found else { throw HQUserRules.unknown(name) }
            try await Self.audit(
                HQAuditEntry(at: at, actor: actor, action: "password-changed", subject: text),
                on: connection,
                logger: logger
            )
        }
    }

    public func hqAudit(limit: Int) async throws -> [HQAuditEntry] {
        try await transaction { [logger] connection in
            var entries: [HQAuditEntry] = []
            for try await (at, actor, action, subject, detail) in try await connection.query(
                """
                SELECT at, actor, action, subject, detail
                FROM (SELECT * FROM hq_audit ORDER BY id DESC LIMIT \(limit)) newest ORDER BY id
                """,
                logger: logger
            ).decode((Int64, String, String, String, String).self) {
                entries.append(
                    HQAuditEntry(
                        at: Date(millisecondsSince1970: at),
                        actor: actor,
                        action: action,
                        subject: subject,
                        detail: detail
                    )
                )
            }
            return entries
        }
    }

    /// The users, with the table locked against other transactions' changes until this one ends.
    private static func lockedUsers(on connection: PostgresConnection, logger: Logger) async throws -> [HQUser] {
        try await connection.query("LOCK TABLE hq_users IN SHARE ROW EXCLUSIVE MODE", logger: logger)
        return try await hqUsers(on: connection, logger: logger)
    }

    private static func hqUsers(on connection: PostgresConnection, logger: Logger) async throws -> [HQUser] {
        var users: [HQUser] = []
        for try await (name, role, hash, created, changed) in try await connection.query(
            "SELECT name, role, password_hash, created_at, password_changed_at FROM hq_users ORDER BY name",
            logger: logger
        ).decode((String, String, String, Int64, Int64).self) {
            users.append(
                HQUser(
                    name: try HQUserName(name),
                    role: try HQRole(parsing: role),
                    passwordHash: hash,
                    createdAt: Date(millisecondsSince1970: created),
                    passwordChangedAt: Date(millisecondsSince1970: changed)
                )
            )
        }
        return users
    }

    private static func audit(_ entry: HQAuditEntry, on connection: PostgresConnection, logger: Logger) async throws {
        let at = entry.at.millisecondsSince1970
        try await connection.query(
            """
            INSERT INTO hq_audit (at, actor, action, subject, detail)
            VALUES (\(at), \(entry.actor), \(entry.action), \(entry.subject), \(entry.detail))
            """,
            logger: logger
        )
    }
}
