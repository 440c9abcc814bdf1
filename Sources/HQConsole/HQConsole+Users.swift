import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import NIOPosix
import ReturnsServer
import ReturnsSync

/// HQ's users and the access audit, for admins: `returns-server users add|list|remove|passwd|audit` in the browser,
/// under the same rules (unique names, the last admin stays, the password rules), each change audited in the
/// admin's name.
extension HQConsole {
    /// How many audit lines the page shows, newest first.
    static let auditRows = 200

    func usersPage(_ request: Request) async throws -> Response {
        let signed = try await session(request, may: .manageUsers)
        async let users = storage.hqUsers()
        async let audit = storage.hqAudit(limit: Self.auditRows)
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(signed.token.csrfToken)\">"
        let rows = try await users.map { user in
            let name = Page.escape(user.name.rawValue)
            return """
                <tr><td>\(name)</td><td>\(Page.escape(user.role.rawValue))</td><td>\(Format.time(user.createdAt))</td>\
                <td>\(Format.time(user.passwordChangedAt))</td><td>
                <form method="post" action="/users/remove">\(token)<input type="hidden" name="name" value="\(name)">
                <label><input type="checkbox" name="confirm" value="yes" required> I mean it</label>
                <button type="submit">Remove \(name)</button></form></td></tr>
                """
        }
        let auditRows = try await audit.reversed().map { entry in
            "<tr>"
                + [Format.time(entry.at), entry.actor, entry.action, entry.subject, entry.detail].map {
                    "<td>\(Page.escape($0))</td>"
                }.joined() + "</tr>"
        }
        let roles = HQRole.allCases.map { "<option value=\"\($0.rawValue)\">\($0.rawValue)</option>" }.joined()
        var message = ""
        if let done = request.uri.queryParameters.get("done") {
            message = "<p class=\"done\" role=\"status\">\(Page.escape(done))</p>"
        }
        return Page.html(
            title: "Users",
            body: """
                \(header(signed))
                <main>
                <h1>Users</h1>
                \(message)
                <table><thead><tr><th>Name</th><th>Role</th><th>Added</th><th>Password changed</th><th></th></tr>\
                </thead><tbody>\(rows.joined(separator: "\n"))</tbody></table>
                <div class="edits">
                <form method="post" action="/users/add">\(token)
                <h2>Add a user</h2>
                <label for="add-name">Name</label><input id="add-name" name="name" required autocomplete="off">
                <label for="add-role">Role</label><select id="add-role" name="role">\(roles)</select>
                <label for="add-password">Password (12 characters or more)</label>
                <input id="add-password" name="password" type="password" required autocomplete="new-password">
                <label for="add-again">Again</label>
                <input id="add-again" name="again" type="password" required autocomplete="new-password">
                <button type="submit">Add the user</button></form>
                <form method="post" action="/users/password">\(token)
                <h2>Set a password</h2>
                <label for="pw-name">Name</label><input id="pw-name" name="name" required autocomplete="off">
                <label for="pw-password">New password</label>
                <input id="pw-password" name="password" type="password" required autocomplete="new-password">
                <label for="pw-again">Again</label>
                <input id="pw-again" name="again" type="password" required autocomplete="new-password">
                <button type="submit">Set the password</button>
                <p class="note">The user's sessions end.</p></form>
                </div>
                <p>Download: users <a href="/users.csv">CSV</a>, <a href="/users.json">JSON</a>; the whole audit \
                <a href="/audit.csv">CSV</a>, <a href="/audit.json">JSON</a></p>
                <h2>Audit</h2>
                <p class="note">The newest \(Self.auditRows) lines, newest first: sign-ins, refusals, locks and every \
                change made in the console.</p>
                <table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Subject</th><th>Detail</th></tr></thead>
                <tbody>\(auditRows.joined(separator: "\n"))</tbody></table>
                </main>
                """
        )
    }

    struct UserForm: ConsoleForm {
        var csrf: String?
        var name: String?
        var role: String?
        var password: String?
        var again: String?
        var confirm: String?
    }

    /// The hash of a new password typed twice; the rules checked before any bcrypt work.
    func newPasswordHash(_ form: UserForm) async throws -> String {
        guard let password = form.password, password == form.again else {
            throw ConsoleInputError("the passwords differ")
        }
        let hasher = passwordHasher
        return try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
    }

    func addUser(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(UserForm.self, request, may: .manageUsers)
        do {
            let name = try HQUserName(form.name ?? "")
            let role = try HQRole(parsing: form.role ?? "")
            let hash = try await newPasswordHash(form)
            let at = authentication.now()
            try await storage.addHQUser(
                HQUser(name: name, role: role, passwordHash: hash, createdAt: at, passwordChangedAt: at),
                by: signed.user.name.rawValue
            )
            return Response.redirect(
                to: "/users?done=\(Page.percentEncoded("User \(name) added as \(role.rawValue)."))"
            )
        } catch {
            return actionFailed(signed, title: "No user added", error, back: "/users")
        }
    }

    func setPassword(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(UserForm.self, request, may: .manageUsers)
        do {
            let name = try HQUserName(form.name ?? "")
            let hash = try await newPasswordHash(form)
            try await storage.setHQUserPassword(name, hash: hash, by: signed.user.name.rawValue)
            return Response.redirect(to: "/users?done=\(Page.percentEncoded("Password of \(name) set."))")
        } catch {
            return actionFailed(signed, title: "Password unchanged", error, back: "/users")
        }
    }

    func removeUser(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(UserForm.self, request, may: .manageUsers)
        do {
            guard form.confirm == "yes" else { throw ConsoleInputError("tick 'I mean it' to remove a user") }
            let name = try HQUserName(form.name ?? "")
            try await storage.removeHQUser(name, by: signed.user.name.rawValue)
            return Response.redirect(to: "/users?done=\(Page.percentEncoded("User \(name) removed."))")
        } catch {
            return actionFailed(signed, title: "Nobody removed", error, back: "/users")
        }
    }
}

/// A user's own account: changing their password, proving the current one first.
extension HQConsole {
    func accountPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        return Page.html(
            title: "Your account",
            body: """
                \(header(signed))
                <main class="narrow">
                <h1>Your account</h1>
                <p>\(Page.escape(signed.user.name.rawValue)), \(Page.escape(signed.user.role.rawValue)); password set \
                \(Format.time(signed.user.passwordChangedAt)).</p>
                <form method="post" action="/account/password">
                <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
                <h2>Change your password</h2>
                <label for="current">Current password</label>
                <input id="current" name="current" type="password" required autocomplete="current-password">
                <label for="new-password">New password (12 characters or more)</label>
                <input id="new-password" name="password" type="password" required autocomplete="new-password">
                <label for="new-again">Again</label>
                <input id="new-again" name="again" type="password" required autocomplete="new-password">
                <button type="submit">Change the password</button>
                <p class="note">Every session of yours ends, this one too: sign in again with the new password.</p>
                </form>
                </main>
                """
        )
    }

    struct OwnPasswordForm: ConsoleForm {
        var csrf: String?
        var current: String?
        var password: String?
        var again: String?
    }

    /// A wrong current password counts as a failed sign-in (toward the lock-out), so a session left open is no way
    /// to guess it.
    func changeOwnPassword(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(OwnPasswordForm.self, request, may: .read)
        let (current, hash) = (form.current ?? "", signed.user.passwordHash)
        let proven = try await NIOThreadPool.singleton.runIfActive { PasswordHasher.verify(current, hash: hash) }
        guard proven else {
            try await storage.recordFailedSignIn(
                typed: signed.user.name.rawValue,
                user: signed.user.name,
                address: "password change",
                at: authentication.now(),
                policy: authentication.policy
            )
            return actionFailed(
                signed,
                title: "Password unchanged",
                ConsoleInputError("the current password is wrong"),
                back: "/account"
            )
        }
        do {
            let newHash = try await newPasswordHash(UserForm(password: form.password, again: form.again))
            try await storage.setHQUserPassword(signed.user.name, hash: newHash, by: signed.user.name.rawValue)
        } catch {
            return actionFailed(signed, title: "Password unchanged", error, back: "/account")
        }
        var response = Response.redirect(to: "/login")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }
}

/// The users and the whole access audit as downloads, for admins.
extension HQConsole {
    func usersDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request, may: .manageUsers)
        let columns = ["name", "role", "createdAt", "passwordChangedAt"]
        let rows = try await storage.hqUsers().map { user in
            [
                user.name.rawValue, user.role.rawValue, ISO8601Milliseconds.format(user.createdAt),
                ISO8601Milliseconds.format(user.passwordChangedAt),
            ]
        }
        return try Page.download(columns, rows, format: format, name: "users")
    }

    /// How many lines a download of a list that grows without end (the audits, the returns, the order lines) reads
    /// at a time.
    public static let downloadPage = 1_000

    /// The whole audit, oldest first, as `audit.csv` or `audit.json`, written as it is read
    /// (``Page/streamed(_:format:name:rows:)``): the audit keeps every sign-in and action for as long as HQ runs.
    func auditDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request, may: .manageUsers)
        let storage = self.storage
        return Page.streamed(["at", "actor", "action", "subject", "detail"], format: format, name: "audit") { page in
            var after: Int64 = 0
            while true {
                let lines = try await storage.hqAudit(after: after, limit: Self.downloadPage)
                guard let last = lines.last else { return }
                after = last.number
                try await page(
                    lines.map { [ISO8601Milliseconds.format($1.at), $1.actor, $1.action, $1.subject, $1.detail] }
                )
            }
        }
    }
}
