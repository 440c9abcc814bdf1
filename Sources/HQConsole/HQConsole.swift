import Foundation
import HQAccess
import HTTPTypes
import Hummingbird
import NIOCore
import ReplicaStore
import ReturnsServer

/// HQ's web console (issue 21), served by `returns-server serve --console-port PORT` on Hummingbird: every HQ task
/// of the command line but the operators' (docs/console.md lists the pages), each list also as CSV and JSON.
///
/// Security, on every response and every request:
/// - Sessions are ``HQConsoleAuthentication``'s: a cookie `HttpOnly`, `SameSite=Strict`, `Path=/` (`Secure` when the
///   console is served over TLS); every page but the sign-in page needs a live session and redirects there without.
/// - Every form carries a CSRF token: the session's (``SessionToken/csrfToken``) once signed in; before, a random
///   nonce also set as a `SameSite=Strict` cookie (so a forged cross-site sign-in form cannot pass). A form without
///   the right token is answered 403 and changes nothing.
/// - A strict Content-Security-Policy (script and style only from the console's own files — no inline script, no
///   `eval` —, no framing, forms only to itself), `nosniff`, no referrer, `no-store`; every value shown is
///   HTML-escaped. The one script (`/console.js`) makes the dashboard live; every page and action works without it.
public struct HQConsole: Sendable {
    /// HQ's storage, SQLite or PostgreSQL: the same calls the server's commands make.
    public let storage: any ServerStorage
    public let authentication: HQConsoleAuthentication
    /// Whether the console is served over TLS: its cookies are then `Secure`.
    public var secure: Bool
    /// How the live dashboard's event stream paces itself.
    public var liveEvents = LiveEvents()
    /// How passwords set in the console are hashed (`returns-server serve` uses `$RETURNS_SERVER_PASSWORD_COST`).
    public var passwordHasher = PasswordHasher()

    /// A console over `storage`; sign-in under `authentication`'s policy and clock (by default, the storage's users
    /// under the default policy).
    public init(storage: any ServerStorage, authentication: HQConsoleAuthentication? = nil, secure: Bool = false) {
        self.storage = storage
        self.authentication = authentication ?? HQConsoleAuthentication(storage: storage)
        self.secure = secure
    }

    var reports: any ReportSource { storage }
    var returns: any ReturnAdministration { storage }

    static let sessionCookie = "returnsync_session"
    static let signInCookie = "returnsync_sign_in"
    /// Script, style and images from the console only (no inline script), forms only to itself, never framed.
    static let policy: ContentSecurityPolicy = [
        .defaultSrc(.none), .scriptSrc(.self), .connectSrc(.self), .styleSrc(.self), .imgSrc(.self),
        .formAction(.self), .frameAncestors(.none), .baseURI(.none),
    ]

    /// The console's routes, its headers on every response.
    public func router() -> Router<ConsoleRequestContext> {
        let router = Router(context: ConsoleRequestContext.self)
        // Outermost: every answer gets the policy and `nosniff`, the refusals SecurityHeaders makes of errors too.
        router.add(middleware: ContentSecurityMiddleware(contentSecurityPolicy: Self.policy))
        router.add(middleware: SecurityHeaders())
        router.get("/console.css") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/css; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Page.stylesheet))
            )
        }
        router.get("/console.js") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/javascript; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Page.script))
            )
        }
        router.get("/events") { request, _ in try await self.events(request) }
        router.get("/login") { _, _ in self.signInPage(refused: false) }
        router.post("/login") { request, context in
            try await self.signIn(request, from: context.remoteAddress?.ipAddress ?? "unknown")
        }
        router.post("/logout") { request, _ in try await self.signOut(request) }
        router.get("/") { request, _ in try await self.dashboard(request) }
        router.get("/returns") { request, _ in try await self.returnsPage(request) }
        router.get("/returns.csv") { request, _ in try await self.returnsDownload(request, format: "csv") }
        router.get("/returns.json") { request, _ in try await self.returnsDownload(request, format: "json") }
        router.get("/returns/:id") { request, context in
            try await self.returnPage(request, id: context.parameters.get("id") ?? "")
        }
        router.post("/returns/:id/edit") { request, context in
            try await self.editReturn(request, id: context.parameters.get("id") ?? "")
        }
        router.post("/returns/:id/settle") { request, context in
            try await self.settle(request, id: context.parameters.get("id") ?? "")
        }
        router.get("/attachments") { request, _ in try await self.attachmentsPage(request) }
        router.get("/attachments/:digest") { request, context in
            try await self.attachment(request, digest: context.parameters.get("digest") ?? "")
        }
        router.get("/review") { request, _ in try await self.reviewPage(request) }
        router.post("/review") { request, _ in try await self.decideReview(request) }
        router.get("/review.csv") { request, _ in try await self.reviewDownload(request, format: "csv") }
        router.get("/review.json") { request, _ in try await self.reviewDownload(request, format: "json") }
        router.get("/recalls") { request, _ in try await self.recallsPage(request) }
        router.post("/recalls") { request, _ in try await self.startRecall(request) }
        router.post("/recalls/:id/close") { request, context in
            try await self.closeRecall(request, id: context.parameters.get("id") ?? "")
        }
        router.get("/recalls.csv") { request, _ in try await self.recallsDownload(request, format: "csv") }
        router.get("/recalls.json") { request, _ in try await self.recallsDownload(request, format: "json") }
        router.get("/kiosks") { request, _ in try await self.kiosksPage(request) }
        router.post("/kiosks/enroll") { request, _ in try await self.enrollKiosk(request) }
        router.post("/kiosks/revoke") { request, _ in try await self.revokeKiosk(request) }
        router.get("/kiosks.csv") { request, _ in try await self.kiosksDownload(request, format: "csv") }
        router.get("/kiosks.json") { request, _ in try await self.kiosksDownload(request, format: "json") }
        router.get("/orders") { request, _ in try await self.ordersPage(request) }
        router.post("/orders") { request, _ in try await self.importOrders(request) }
        router.get("/orders.csv") { request, _ in try await self.ordersDownload(request, format: "csv") }
        router.get("/orders.json") { request, _ in try await self.ordersDownload(request, format: "json") }
        router.get("/reports") { request, _ in try await self.reportsPage(request) }
        router.get("/reports.csv") { request, _ in try await self.reportsDownload(request, format: "csv") }
        router.get("/reports.json") { request, _ in try await self.reportsDownload(request, format: "json") }
        router.get("/users") { request, _ in try await self.usersPage(request) }
        router.post("/users/add") { request, _ in try await self.addUser(request) }
        router.post("/users/password") { request, _ in try await self.setPassword(request) }
        router.post("/users/remove") { request, _ in try await self.removeUser(request) }
        router.get("/users.csv") { request, _ in try await self.usersDownload(request, format: "csv") }
        router.get("/users.json") { request, _ in try await self.usersDownload(request, format: "json") }
        router.get("/audit.csv") { request, _ in try await self.auditDownload(request, format: "csv") }
        router.get("/audit.json") { request, _ in try await self.auditDownload(request, format: "json") }
        router.get("/settings") { request, _ in try await self.settingsPage(request) }
        router.post("/settings/policy") { request, _ in try await self.setPolicy(request) }
        router.post("/settings/policy/remove") { request, _ in try await self.removePolicy(request) }
        router.post("/settings/store") { request, _ in try await self.setStore(request) }
        router.get("/export/epcis") { request, _ in try await self.epcisDownload(request) }
        router.get("/account") { request, _ in try await self.accountPage(request) }
        router.post("/account/password") { request, _ in try await self.changeOwnPassword(request) }
        router.get("/conflicts") { request, _ in try await self.conflictsPage(request) }
        router.get("/conflicts.csv") { request, _ in try await self.conflictsDownload(request, format: "csv") }
        router.get("/conflicts.json") { request, _ in try await self.conflictsDownload(request, format: "json") }
        return router
    }

    // MARK: Pages

    func signInPage(refused: Bool) -> Response {
        let nonce = SessionToken()
        var response = Page.html(
            title: "Sign in",
            status: refused ? .unauthorized : .ok,
            body: """
                <main class="narrow">
                <h1>ReturnSync HQ</h1>
                \(refused ? "<p class=\"error\" role=\"alert\">\(Page.escape(SignIn.refusal))</p>" : "")
                <form method="post" action="/login">
                <input type="hidden" name="csrf" value="\(nonce.secret)">
                <label for="name">User name</label>
                <input id="name" name="name" autocomplete="username" required autofocus>
                <label for="password">Password</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
                </form>
                </main>
                """
        )
        response.setCookie(cookie(Self.signInCookie, nonce.secret, maxAge: 15 * 60))
        return response
    }

    func signIn(_ request: Request, from address: String) async throws -> Response {
        let form = try await Self.form(SignInForm.self, request)
        guard let nonce = request.cookies[Self.signInCookie]?.value, let sent = form?.csrf,
            SessionToken.equalInConstantTime(nonce, sent)
        else { return Page.forbidden() }
        guard
            let (token, _) = try await authentication.signIn(
                name: form?.name ?? "",
                password: form?.password ?? "",
                address: address
            )
        else { return signInPage(refused: true) }
        var response = Response.redirect(to: "/")
        response.setCookie(cookie(Self.sessionCookie, token.secret, maxAge: nil))
        response.setCookie(cookie(Self.signInCookie, "", maxAge: 0))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        guard let token = Self.token(request) else { return Response.redirect(to: "/login") }
        let form = try await Self.form(CSRFOnlyForm.self, request)
        guard let sent = form?.csrf, token.acceptsCSRFToken(sent) else { return Page.forbidden() }
        try await authentication.signOut(token)
        var response = Response.redirect(to: "/login")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    /// The bar at the top of every page: where to go, who is signed in, and sign-out (with the CSRF token).
    func header(_ signed: Signed) -> String {
        """
        <header>
        <nav aria-label="Console"><a href="/">Dashboard</a> <a href="/reports">Reports</a> <a href="/returns">Returns</a> \
        <a href="/review">Review</a> <a href="/conflicts">Conflicts</a> <a href="/recalls">Recalls</a> \
        <a href="/kiosks">Kiosks</a> <a href="/orders">Orders</a> <a href="/attachments">Photos</a> \
        <a href="/settings">Policies</a>\
        \(signed.user.role.may(.manageUsers) ? " <a href=\"/users\">Users</a>" : "")</nav>
        <a class="account" href="/account">signed in as \(Page.escape(signed.user.name.rawValue)) \
        (\(Page.escape(signed.user.role.rawValue)))</a>
        <form method="post" action="/logout">
        <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
        <button type="submit">Sign out</button>
        </form>
        </header>
        """
    }

    // MARK: Helpers

    static func token(_ request: Request) -> SessionToken? {
        request.cookies[sessionCookie].flatMap { SessionToken(secret: $0.value) }
    }

    func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
    }
}

/// A console request's context: Hummingbird's, and the address it came from (for the audit of sign-ins).
public struct ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The headers every console response carries besides the policy, errors turned into pages that carry them.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            // Storage down, say: a page that says so, not the error's text (it may name database internals).
            context.logger.error(
                "console request failed",
                metadata: ["path": "\(request.uri.path)", "error": "\(error)"]
            )
            response = Page.html(
                title: "Unavailable",
                status: .internalServerError,
                body: "<main class=\"narrow\"><h1>Unavailable</h1><p>HQ's database did not answer. Try again in a "
                    + "moment.</p></main>"
            )
        }
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

/// The sign-in form's fields.
struct SignInForm: Decodable {
    var csrf: String?
    var name: String?
    var password: String?
}

extension HQConsole {
    /// A form as browsers post it (`application/x-www-form-urlencoded`, at most 16 KiB), read with Hummingbird's
    /// decoder; `nil` when it does not decode (a repeated or malformed field), which the caller refuses as a form
    /// without its token.
    static func form<Fields: Decodable>(_ type: Fields.Type, _ request: Request) async throws -> Fields? {
        let body = try await request.body.collect(upTo: 16 * 1024)
        return try? URLEncodedFormDecoder().decode(Fields.self, from: String(buffer: body))
    }
}

/// The console's HTML: one layout, everything interpolated escaped.
public enum Page {
    static func html(title: String, status: HTTPResponse.Status = .ok, live: Bool = false, body: String) -> Response {
        let page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) — ReturnSync HQ</title>
            <link rel="stylesheet" href="/console.css">
            \(live ? "<script src=\"/console.js\" defer></script>" : "")
            </head>
            <body>
            \(body)
            </body>
            </html>
            """
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: page))
        )
    }

    static func forbidden() -> Response {
        html(
            title: "Refused",
            status: .forbidden,
            body: "<main class=\"narrow\"><h1>Refused</h1><p>This form is out of date or came from elsewhere. "
                + "<a href=\"/\">Start again</a>.</p></main>"
        )
    }

    /// `text` safe inside HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func text(_ value: ReplicaStore.ReportValue) -> String {
        switch value {
        case .text(let text): text
        case .number(let number): String(number)
        case .decimal(let decimal): String(format: "%.2f", decimal)
        case .none: "—"
        }
    }

    /// `text` safe in a URL's path segment or query value.
    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }

    static let stylesheet = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #f6f6f4; }
        main { padding: 1.5rem; max-width: 70rem; margin: 0 auto; }
        main.narrow { max-width: 24rem; }
        header { display: flex; flex-wrap: wrap; gap: 0.5rem; justify-content: space-between; align-items: center;
                 padding: 0.75rem 1.5rem; background: #23395d; color: white; }
        label { display: block; margin-top: 1rem; font-weight: 600; }
        input { width: 100%; padding: 0.5rem; font-size: 1rem; box-sizing: border-box; }
        button { margin-top: 1rem; padding: 0.5rem 1rem; font-size: 1rem; }
        header button { margin: 0; }
        header nav a { color: white; margin-right: 1rem; font-weight: 600; }
        header a.account { color: white; }
        table { border-collapse: collapse; width: 100%; background: white; }
        th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #ddd; }
        .filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: 0.5rem;
                   align-items: end; margin-bottom: 1rem; }
        .filters label { margin-top: 0; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
        .facts dt { font-weight: 600; }
        .facts dd { margin: 0; }
        .error { color: #a00; font-weight: 600; }
        .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: 0.75rem; }
        .figure { background: white; padding: 0.75rem; border-radius: 0.5rem; }
        .figure dt { font-size: 0.85rem; color: #555; }
        .figure dd { margin: 0; font-size: 1.6rem; font-weight: 700; }
        .done { color: #0a6b2c; font-weight: 600; }
        .sides { display: flex; flex-wrap: wrap; gap: 0.75rem; }
        .side { background: white; padding: 0.75rem; border-radius: 0.5rem; flex: 1 1 12rem; }
        .side .value { font-size: 1.2rem; font-weight: 700; margin: 0 0 0.25rem; }
        .conflict h3, .open-conflict p { margin-bottom: 0.5rem; }
        .photos { display: flex; flex-wrap: wrap; gap: 0.75rem; }
        .photos img { max-width: 16rem; max-height: 12rem; }
        main > table, form > table { display: block; overflow-x: auto; }
        input[type=checkbox] { width: auto; }
        .narrow-form { max-width: 32rem; }
        select { padding: 0.5rem; font-size: 1rem; }
        code.token { font-size: 1.1rem; word-break: break-all; background: white; padding: 0.25rem; }
        td form { margin: 0; } td form button { margin-top: 0.25rem; }
        .edits { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
        .edits form { background: white; padding: 0.75rem; border-radius: 0.5rem; }
        .edits label { margin-top: 0.5rem; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 1rem; margin-top: 1.5rem; }
        .chart { background: white; padding: 0.75rem; border-radius: 0.5rem; margin: 0; }
        .chart figcaption { font-weight: 600; margin-bottom: 0.5rem; }
        .chart svg { width: 100%; height: auto; }
        .chart rect { fill: #23395d; }
        .chart text { font-size: 13px; fill: #1b1b1b; }
        #live, .note { color: #555; }
        :focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
        """
}
