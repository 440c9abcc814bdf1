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
            // A new password ends every session the old one opened.
            try await connection.query("DELETE FROM hq_sessions WHERE user_name = \(text)", logger: logger)
            try await Self.audit(
                HQAuditEntry(at: at, actor: actor, action: "password-changed", subject: text),
                on: connection,
                logger: logger
            )
        }
    }

    public func hqAudit(limit: Int) async throws -> [HQAuditEntry] {
        try await auditLines(
            """
            SELECT id, at, actor, action, subject, detail
            FROM (SELECT * FROM hq_audit ORDER BY id DESC LIMIT \(limit)) newest ORDER BY id
            """
        ).map(\.entry)
    }

    public func hqAudit(after number: Int64, limit: Int) async throws -> [(number: Int64, entry: HQAuditEntry)] {
        try await auditLines(
            """
            SELECT id, at, actor, action, subject, detail FROM hq_audit WHERE id > \(number)
            ORDER BY id LIMIT \(limit)
            """
        )
    }

    /// The audit lines `query` selects (`id, at, actor, action, subject, detail`), each with its number.
    private func auditLines(_ query: PostgresQuery) async throws -> [(number: Int64, entry: HQAuditEntry)] {
        try await transaction { [logger] connection in
            var lines: [(number: Int64, entry: HQAuditEntry)] = []
            for try await (id, at, actor, action, subject, detail) in try await connection.query(query, logger: logger)
                .decode((Int64, Int64, String, String, String, String).self)
            {
                let entry = HQAuditEntry(
                    at: Date(millisecondsSince1970: at),
                    actor: actor,
                    action: action,
                    subject: subject,
                    detail: detail
                )
                lines.append((id, entry))
            }
            return lines
        }
    }

    public func failedSignIns(from address: String, since: Date) async throws -> Int {
        try await transaction { [logger] connection in
            var binds = PostgresBindings()
            binds.append(since.millisecondsSince1970)
            binds.append(HQSignInSQL.origin(address))
            var count = 0
            for try await (found) in try await connection.query(
                PostgresQuery(unsafeSQL: HQSignInSQL.refusedFrom(placeholders: ["$1", "$2"]), binds: binds),
                logger: logger
            ).decode(Int64.self) { count = Int(found) }
            return count
        }
    }

    public func recordHQAudit(_ entry: HQAuditEntry) async throws {
        try await transaction { [logger] connection in try await Self.audit(entry, on: connection, logger: logger) }
    }

    public func hqSignInState(_ name: HQUserName) async throws -> (user: HQUser, state: SignInState)? {
        try await transaction { [logger] connection in
            // One row by its key: this is read on every sign-in and every console request.
            let text = name.rawValue
            var found: (user: HQUser, state: SignInState)?
            for try await (name, role, hash, created, changed, failures, locked) in try await connection.query(
                """
                SELECT name, role, password_hash, created_at, password_changed_at, failed_sign_ins, locked_until
                FROM hq_users WHERE name = \(text)
                """,
                logger: logger
            ).decode((String, String, String, Int64, Int64, Int, Int64?).self) {
                found = (
                    try Self.hqUser(name, role, hash, created, changed),
                    SignInState(failures: failures, lockedUntil: locked.map(Date.init(millisecondsSince1970:)))
                )
            }
            return found
        }
    }

    public func recordFailedSignIn(
        typed: String,
        user: HQUserName?,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) async throws {
        try await transaction { [logger] connection in
            var locked = false
            if let user {
                let lockEnd = now.addingTimeInterval(policy.lockout).millisecondsSince1970
                var binds = PostgresBindings()
                binds.append(policy.maximumFailures)
                binds.append(lockEnd)
                binds.append(user.rawValue)
                try await connection.query(
                    PostgresQuery(unsafeSQL: HQSignInSQL.countFailure(placeholders: ["$1", "$2", "$3"]), binds: binds),
                    logger: logger
                )
                let text = user.rawValue
                for try await (until) in try await connection.query(
                    "SELECT locked_until FROM hq_users WHERE name = \(text)",
                    logger: logger
                ).decode(Int64?.self) { locked = until == lockEnd }
            }
            for entry in HQSignInSQL.refusalAudit(typed: typed, address: address, at: now, locked: locked) {
                try await Self.audit(entry, on: connection, logger: logger)
            }
        }
    }

    public func startHQSession(
        _ tokenHash: String,
        for user: HQUserName,
        address: String,
        at now: Date,
        policy: SignInPolicy
    ) async throws {
        try await transaction { [logger] connection in
            let (name, milliseconds) = (user.rawValue, now.millisecondsSince1970)
            let idleSince = now.addingTimeInterval(-policy.idleTimeout).millisecondsSince1970
            let bornSince = now.addingTimeInterval(-policy.lifetime).millisecondsSince1970
            try await connection.query(
                "UPDATE hq_users SET failed_sign_ins = 0, locked_until = NULL WHERE name = \(name)",
                logger: logger
            )
            try await connection.query(
                "DELETE FROM hq_sessions WHERE last_seen_at <= \(idleSince) OR created_at <= \(bornSince)",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO hq_sessions (token_hash, user_name, created_at, last_seen_at)
                VALUES (\(tokenHash), \(name), \(milliseconds), \(milliseconds))
                """,
                logger: logger
            )
            try await Self.audit(
                HQAuditEntry(
                    at: now,
                    actor: name,
                    action: "signed-in",
                    subject: name,
                    detail: HQSignInSQL.origin(address)
                ),
                on: connection,
                logger: logger
            )
        }
    }

    public func hqSession(_ tokenHash: String) async throws -> HQSession? {
        try await transaction { [logger] connection in
            var session: HQSession?
            for try await (name, created, seen) in try await connection.query(
                "SELECT user_name, created_at, last_seen_at FROM hq_sessions WHERE token_hash = \(tokenHash)",
                logger: logger
            ).decode((String, Int64, Int64).self) {
                session = HQSession(
                    user: try HQUserName(name),
                    createdAt: Date(millisecondsSince1970: created),
                    lastSeenAt: Date(millisecondsSince1970: seen)
                )
            }
            return session
        }
    }

    public func touchHQSession(_ tokenHash: String, at now: Date) async throws {
        try await transaction { [logger] connection in
            let milliseconds = now.millisecondsSince1970
            try await connection.query(
                "UPDATE hq_sessions SET last_seen_at = \(milliseconds) WHERE token_hash = \(tokenHash)",
                logger: logger
            )
        }
    }

    public func endHQSession(_ tokenHash: String, at now: Date) async throws {
        try await transaction { [logger] connection in
            var ended: String?
            for try await (name) in try await connection.query(
                "DELETE FROM hq_sessions WHERE token_hash = \(tokenHash) RETURNING user_name",
                logger: logger
            ).decode(String.self) { ended = name }
            guard let ended else { return }
            try await Self.audit(
                HQAuditEntry(at: now, actor: ended, action: "signed-out", subject: ended),
                on: connection,
                logger: logger
            )
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
            users.append(try hqUser(name, role, hash, created, changed))
        }
        return users
    }

    private static func hqUser(
        _ name: String,
        _ role: String,
        _ hash: String,
        _ created: Int64,
        _ changed: Int64
    ) throws
        -> HQUser
    {
        HQUser(
            name: try HQUserName(name),
            role: try HQRole(parsing: role),
            passwordHash: hash,
            createdAt: Date(millisecondsSince1970: created),
            passwordChangedAt: Date(millisecondsSince1970: changed)
        )
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
