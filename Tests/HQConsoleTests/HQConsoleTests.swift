import Foundation
import HQAccess
import HQConsole
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import ReturnSyncTestSupport
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
        return (HQConsole(authentication: HQConsoleAuthentication(storage: storage), reports: storage), storage)
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
                #expect(String(buffer: response.body).contains(Page.escaped(SignIn.refusal)))
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

    @Test func everythingShownIsEscaped() {
        #expect(
            Page.escaped("<script>alert('x')</script> & \"q\"")
                == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        )
    }
}
