import ArgumentParser
import Foundation
import HQAccess
import HTTPTypes
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer

/// A request from a signed-in user: their session, and who they are.
struct Signed: Sendable {
    let token: SessionToken
    let user: HQUser

    /// The name HQ's edits record in a return's history: the user's (user names are valid operator ids).
    var operatorID: OperatorID? { try? OperatorID(user.name.rawValue) }
}

/// A request stopped before its work, answered with a page that says why: the sign-in page without a session, a
/// refusal for a form without its token or a role that may not.
struct Refusal: HTTPResponseError {
    let page: Response
    var status: HTTPResponse.Status { page.status }

    func response(from request: Request, context: some RequestContext) throws -> Response { page }
}

/// A form the console posts: every one carries the session's CSRF token.
protocol ConsoleForm: Decodable, Sendable {
    var csrf: String? { get }
}

extension HQConsole {
    /// A form of nothing but its token: sign-out, closing a campaign.
    struct CSRFOnlyForm: ConsoleForm {
        var csrf: String?
    }
}

extension HQConsole {
    /// The signed-in user, when their role may do `action`.
    ///
    /// - Throws: ``Refusal``: without a live session, to the sign-in page; for a role that may not, a 403 page that
    ///   says so (checked here on every request: hiding a button is not enough).
    ///
    /// - Parameter byPerson: whether the request counts as the person using the console, restarting the session's
    ///   idle timer; by default, unless it is a live page's own refresh (``refreshHeader``).
    func session(_ request: Request, may action: HQAction = .read, byPerson: Bool? = nil) async throws -> Signed {
        // A live page's own refresh is not the person using the console: it does not keep the session from idling.
        let byPerson = byPerson ?? (request.headers[Self.refreshHeader] == nil)
        guard let token = Self.token(request), let user = try await authentication.user(for: token, touching: byPerson)
        else {
            throw Refusal(page: Response.redirect(to: "/login"))
        }
        let signed = Signed(token: token, user: user)
        guard user.role.may(action) else { throw try await refusal(signed, may: action, request) }
        return signed
    }

    /// A form a signed-in user posted to do `action`, with its fields.
    ///
    /// - Throws: ``Refusal``, and changes nothing: without a session, to the sign-in page; without the session's
    ///   CSRF token (a forged cross-site form, an old page), 403; for a role that may not, 403 and a line in the audit.
    func posted<Fields: ConsoleForm>(
        _ type: Fields.Type,
        _ request: Request,
        may action: HQAction,
        decode: (Request) async throws -> Fields? = { try await HQConsole.form(Fields.self, $0) }
    ) async throws -> (Signed, Fields) {
        let signed = try await session(request)
        guard let fields = try await decode(request), let sent = fields.csrf,
            signed.token.acceptsCSRFToken(sent)
        else { throw Refusal(page: Page.forbidden()) }
        guard signed.user.role.may(action) else { throw try await refusal(signed, may: action, request) }
        return (signed, fields)
    }

    /// A 403 page naming what the user's role may not do; an attempt to post is audited.
    private func refusal(_ signed: Signed, may action: HQAction, _ request: Request) async throws -> Refusal {
        if request.method == .post {
            try await storage.recordHQAudit(
                HQAuditEntry(
                    at: authentication.now(),
                    actor: signed.user.name.rawValue,
                    action: "action-refused",
                    subject: request.uri.path,
                    detail: "role \(signed.user.role.rawValue) may not \(action.phrase)"
                )
            )
        }
        return Refusal(
            page: Page.html(
                title: "Not allowed",
                status: .forbidden,
                body: """
                    \(header(signed))
                    <main><h1>Not allowed</h1>
                    <p class="error" role="alert">Your role (\(Page.escape(signed.user.role.rawValue))) may not \
                    \(Page.escape(action.phrase)). Nothing was changed.</p>
                    <p><a href="/">Dashboard</a></p></main>
                    """
            )
        )
    }

    /// Audits an action a user took, after it committed.
    func audit(_ signed: Signed, _ action: String, subject: String, detail: String = "") async throws {
        try await storage.recordHQAudit(
            HQAuditEntry(
                at: authentication.now(),
                actor: signed.user.name.rawValue,
                action: action,
                subject: subject,
                detail: detail
            )
        )
    }

    /// A page telling why an action was refused by HQ's rules (a value the field cannot take, a return no longer
    /// waiting for a review): the rule's own words, escaped; nothing was changed.
    func actionFailed(_ signed: Signed, title: String, _ error: any Error, back: String) -> Response {
        var message = "\(error)"
        if let last = message.last, !".!?:".contains(last) { message += "." }
        return Page.html(
            title: title,
            status: .unprocessableContent,
            body: """
                \(header(signed))
                <main><h1>\(Page.escape(title))</h1>
                <p class="error" role="alert">\(Page.escape(message)) Nothing was changed.</p>
                <p><a href="\(Page.escape(back))">Back</a></p></main>
                """
        )
    }
}

/// The command line's own options (`ParsableArguments`) read from `--name=value` arguments a form made: the same
/// checks as the command line; a missing or malformed one named as the command line names it.
func parsed<Options: ParsableArguments>(_ type: Options.Type, _ arguments: [String]) throws -> Options {
    do {
        return try Options.parse(arguments)
    } catch {
        throw ConsoleInputError(Options.message(for: error))
    }
}
