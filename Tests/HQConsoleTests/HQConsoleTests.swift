import Foundation
import HQAccess
import HQConsole
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import SyncEngine
import Testing

/// The console over HTTP as a browser and an attacker use it: sign-in, the session cookie's flags, the dashboard,
/// sign-out, forged forms, headers on every answer.
@Suite struct HQConsoleTests {
    static let password = "correct horse battery staple"

    /// A console over a fresh SQLite HQ with user `dana` (admin).
    static func console(in directory: TemporaryDirectory) throws -> (HQConsole, SQLiteServerStorage) {
        let store = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let at = Date()
        try store.addHQUser(
            HQUser(
                name: try HQUserName("dana"),
                role: .admin,
                passwordHash: try PasswordHasher(cost: 4).hash(password),
                createdAt: at,
                passwordChangedAt: at
            ),
            by: "test"
        )
        let storage = SQLiteServerStorage(store)
        var console = HQConsole(storage: storage)
        // bcrypt's lowest cost: the same checks, faster.
        console.passwordHasher = PasswordHasher(cost: 4)
        return (console, storage)
    }

    /// Adds user `name` with `role` and the test password.
    static func addUser(_ name: String, _ role: HQRole, to storage: SQLiteServerStorage) throws {
        let at = Date()
        try storage.store.addHQUser(
            HQUser(
                name: try HQUserName(name),
                role: role,
                passwordHash: try PasswordHasher(cost: 4).hash(password),
                createdAt: at,
                passwordChangedAt: at
            ),
            by: "test"
        )
    }

    /// The cookie `name` a response sets: its whole `Set-Cookie` line.
    static func setCookie(_ name: String, in response: TestResponse) -> String? {
        response.headers[values: .setCookie].first { $0.hasPrefix(name + "=") }
    }

    static func value(of line: String) -> String {
        String(line.prefix { $0 != ";" }.drop { $0 != "=" }.dropFirst())
    }

    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        ByteBuffer(
            string: fields.map { name, value in
                "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            }.joined(separator: "&")
        )
    }

    static let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test func signInShowTheDashboardAndSignOut() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try Self.console(in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            // Not signed in: every page sends the browser to the sign-in page.
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/login")
            }
            // The sign-in page: a form with its nonce, the same nonce as a strict, HttpOnly cookie; strict headers.
            let (nonce, page) = try await client.execute(uri: "/login", method: .get) { response in
                let line = try #require(Self.setCookie("returnsync_sign_in", in: response))
                #expect(line.contains("HttpOnly") && line.contains("SameSite=Strict"), "\(line)")
                let csp = response.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
                #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "\(csp)")
                #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                return (Self.value(of: line), String(buffer: response.body))
            }
            #expect(page.contains("name=\"csrf\" value=\"\(nonce)\"") && page.contains("<label for=\"password\">"))
            let nonceHeader: HTTPFields = [
                .contentType: "application/x-www-form-urlencoded", .cookie: "returnsync_sign_in=\(nonce)",
            ]

            // A wrong password: the one sentence for every refusal, 401, no session.
            try await client.execute(
                uri: "/login",
                method: .post,
                headers: nonceHeader,
                body: Self.form([("csrf", nonce), ("name", "dana"), ("password", "not the password")])
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains(Page.escape(SignIn.refusal)))
                #expect(Self.setCookie("returnsync_session", in: response) == nil)
            }
            // The right one: a session cookie (HttpOnly, SameSite=Strict, Path=/), and on to the dashboard.
            let session = try await client.execute(
                uri: "/login",
                method: .post,
                headers: nonceHeader,
                body: Self.form([("csrf", nonce), ("name", "Dana"), ("password", Self.password)])
            ) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/")
                let line = try #require(Self.setCookie("returnsync_session", in: response))
                #expect(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/"))
                #expect(!line.contains("Secure"), "plain HTTP here")
                return Self.value(of: line)
            }
            let token = try #require(SessionToken(secret: session))
            let signedIn: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            try await client.execute(uri: "/", method: .get, headers: signedIn) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .ok && body.contains("signed in as dana (admin)"), "\(body)")
                #expect(body.contains("<dt>returns</dt>"), "the summary's figures")
                #expect(body.contains("value=\"\(token.csrfToken)\""), "the sign-out form carries the CSRF token")
            }

            // Sign-out without the CSRF token (a forged form): refused, still signed in.
            var formWithSession = signedIn
            formWithSession[.contentType] = "application/x-www-form-urlencoded"
            try await client.execute(
                uri: "/logout",
                method: .post,
                headers: formWithSession,
                body: Self.form([("csrf", SessionToken().csrfToken)])
            ) { response in #expect(response.status == .forbidden) }
            try await client.execute(uri: "/", method: .get, headers: signedIn) { #expect($0.status == .ok) }
            // With it: signed out, the cookie cleared, the session gone.
            try await client.execute(
                uri: "/logout",
                method: .post,
                headers: formWithSession,
                body: Self.form([("csrf", token.csrfToken)])
            ) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/login")
                #expect(Self.setCookie("returnsync_session", in: response)?.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/", method: .get, headers: signedIn) { #expect($0.status == .seeOther) }
        }
        let audit = try await storage.hqAudit(limit: 10).map(\.action)
        #expect(audit.suffix(3) == ["sign-in-refused", "signed-in", "signed-out"], "\(audit)")
    }

    /// A sign-in form posted from another site has no nonce cookie (SameSite=Strict keeps it home) or a wrong one:
    /// refused before any password is checked.
    @Test func aForgedCrossSiteSignInIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try Self.console(in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            let fields = Self.form([("csrf", "forged"), ("name", "dana"), ("password", Self.password)])
            try await client.execute(uri: "/login", method: .post, headers: Self.formType, body: fields) { response in
                #expect(response.status == .forbidden)
                #expect(Self.setCookie("returnsync_session", in: response) == nil)
                #expect(response.headers[HTTPField.Name("Content-Security-Policy")!] != nil, "headers on refusals too")
            }
            var other = Self.formType
            other[.cookie] = "returnsync_sign_in=\(SessionToken().secret)"
            try await client.execute(uri: "/login", method: .post, headers: other, body: fields) { response in
                #expect(response.status == .forbidden)
            }
        }
        #expect(try await storage.hqAudit(limit: 10).map(\.action) == ["user-added"], "no attempt was even made")
    }

    /// Signs `name` in through the sign-in form; the session cookie's value.
    static func signIn(_ client: some TestClientProtocol, as name: String = "dana") async throws -> String {
        let nonce = try await client.execute(uri: "/login", method: .get) { response in
            Self.value(of: Self.setCookie("returnsync_sign_in", in: response) ?? "")
        }
        return try await client.execute(
            uri: "/login",
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "returnsync_sign_in=\(nonce)"],
            body: Self.form([("csrf", nonce), ("name", name), ("password", Self.password)])
        ) { response in Self.value(of: Self.setCookie("returnsync_session", in: response) ?? "") }
    }

    /// Returns at two stores, one with a note a kiosk typed as markup, one serial starting like a formula.
    static func pushReturns(into storage: SQLiteServerStorage, in directory: TemporaryDirectory) throws -> [ReturnID] {
        var ids: [ReturnID] = []
        for store in ["north", "south"] {
            let kiosk = try ReplicaStore.create(
                at: directory.file("\(store).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID("k1"))
            )
            let item = try kiosk.recordReturn(
                ReturnCapture(
                    orderID: OrderID("O-\(store)"),
                    gtin: GTIN("4006381333931"),
                    reason: .damaged,
                    serial: store == "south" ? try ItemCode("-2+3", kind: "serial") : nil
                )
            )
            _ = try kiosk.updateReturn(item.id, operation: "note") { item, author, date in
                try item.addNote("<script>alert('\(store)')</script> & more", by: author, at: date)
            }
            _ = try storage.store.acceptPush(
                try kiosk.returnRecords(),
                from: kiosk.identity.replicaID,
                store: StoreID(store)
            )
            ids.append(item.id)
        }
        return ids
    }

    @Test func returnsAreFoundFilteredDownloadedWholeAndShownEscaped() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try Self.console(in: directory)
        let ids = try Self.pushReturns(into: storage, in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/returns.csv", method: .get) { #expect($0.status == .seeOther) }
            let session = try await Self.signIn(client)
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            try await client.execute(uri: "/returns", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .ok && body.contains("2 returns match."), "\(body)")
                #expect(ids.allSatisfy { body.contains("/returns/\($0.rawValue)") })
            }
            try await client.execute(uri: "/returns?store=south", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(
                    body.contains("1 return matches.") && body.contains(ids[1].rawValue)
                        && !body.contains(ids[0].rawValue)
                )
                #expect(body.contains("value=\"south\""), "the filter stays in its field")
            }
            // A bad filter: named, escaped, nothing searched.
            try await client.execute(uri: "/returns?gtin=%3Cb%3E12", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(
                    response.status == .badRequest && body.contains("invalid GTIN &#39;&lt;b&gt;12&#39;"),
                    "\(body)"
                )
                #expect(!body.contains("<b>12"))
            }
            // Days, in each store's time zone, as the command line's --since/--until take them; a bad one named.
            try await client.execute(uri: "/returns?since=2020-01-01&until=2999-12-31", method: .get, headers: cookie) {
                #expect(String(buffer: $0.body).contains("2 returns match."))
            }
            try await client.execute(uri: "/returns?since=2999-01-01", method: .get, headers: cookie) {
                #expect(String(buffer: $0.body).contains("0 returns match."))
            }
            try await client.execute(uri: "/returns?since=yesterday", method: .get, headers: cookie) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("&#39;yesterday&#39;"))
            }
            try await client.execute(uri: "/returns?serial=-2%2B3", method: .get, headers: cookie) {
                #expect(String(buffer: $0.body).contains("1 return matches."), "a value starting with '-'")
            }
            // Downloads hold every match; a spreadsheet would not run the serial as a formula.
            try await client.execute(uri: "/returns.csv", method: .get, headers: cookie) { response in
                let lines = String(buffer: response.body).split(separator: "\r\n")
                #expect(lines.count == 3 && lines[0].hasPrefix("id,store,order,gtin,serial"), "\(lines)")
                #expect(lines.contains { $0.contains("\"'-2+3\"") }, "\(lines)")
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"returns.csv\"")
            }
            try await client.execute(uri: "/returns.json?store=north", method: .get, headers: cookie) { response in
                let rows = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: String]]
                #expect(rows?.map { $0["id"] } == [ids[0].rawValue])
            }
            // A return's page: its notes as text, never as markup.
            try await client.execute(uri: "/returns/\(ids[0].rawValue)", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .ok)
                #expect(body.contains("&lt;script&gt;alert(&#39;north&#39;)&lt;/script&gt; &amp; more"), "\(body)")
                #expect(!body.contains("<script>"))
            }
            try await client.execute(uri: "/returns/nonsense%3Cx%3E", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .notFound && body.contains("No return nonsense") && !body.contains("<x>"))
            }
        }
    }

    @Test func everythingShownIsEscaped() {
        #expect(
            Page.escape("<script>alert('x')</script> & \"q\"")
                == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        )
    }
}
