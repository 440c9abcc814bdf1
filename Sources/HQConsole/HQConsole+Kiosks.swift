import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync
import WireProtocol

/// The enrolled kiosks — their last sync and how long ago that was — and, for admins, enrolling a kiosk (its
/// one-time token shown once, never stored in the clear) and revoking one: `returns-server enroll` and
/// `returns-server kiosks revoke`, audited in the user's name.
extension HQConsole {
    func kiosksPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        let kiosks = try await storage.enrolledKiosks()
        let mayAdminister = signed.user.role.may(.administerFleet)
        let now = authentication.now()
        let rows = kiosks.map { kiosk in
            let revoke =
                mayAdminister && kiosk.revokedAt == nil
                ? """
                <form method="post" action="/kiosks/revoke">
                <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
                <input type="hidden" name="store" value="\(Page.escape(kiosk.storeID))">
                <input type="hidden" name="kiosk" value="\(Page.escape(kiosk.kioskID))">
                <label><input type="checkbox" name="confirm" value="yes" required> I mean it</label>
                <button type="submit">Revoke \(Page.escape(kiosk.replicaID))</button>
                </form>
                """ : ""
            var cells: [String] = [kiosk.storeID, kiosk.kioskID, Format.time(kiosk.enrolledAt)]
            cells.append(kiosk.lastSyncAt.map(Format.time) ?? "never")
            cells.append(kiosk.lastSyncAt.map { Self.age(now.timeIntervalSince($0)) } ?? "—")
            cells.append(kiosk.protocolVersion.map { "\($0)" } ?? "—")
            cells.append(kiosk.revokedAt.map { "revoked \(Format.time($0))" } ?? "enrolled")
            return "<tr>" + cells.map { "<td>\(Page.escape($0))</td>" }.joined() + "<td>\(revoke)</td></tr>"
        }
        var message = ""
        if let revoked = request.uri.queryParameters.get("revoked") {
            message =
                "<p class=\"done\" role=\"status\">Kiosk \(Page.escape(revoked)) revoked: refused from now on; "
                + "a new enrollment token lifts it.</p>"
        }
        let enroll =
            mayAdminister
            ? """
            <h2>Enroll a kiosk</h2>
            <form method="post" action="/kiosks/enroll" class="narrow-form">
            <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
            <label for="enroll-store">Store</label><input id="enroll-store" name="store" required>
            <label for="enroll-kiosk">Kiosk</label><input id="enroll-kiosk" name="kiosk" required>
            <label for="enroll-valid">The token stays valid for</label>
            <select id="enroll-valid" name="days"><option value="1">1 day</option>\
            <option value="7" selected>7 days</option><option value="30">30 days</option></select>
            <button type="submit">Issue a token</button>
            </form>
            """ : ""
        return Page.html(
            title: "Kiosks",
            body: """
                \(header(signed))
                <main>
                <h1>Kiosks</h1>
                \(message)
                <p>\(kiosks.count) enrolled. Download: <a href="/kiosks.csv">CSV</a>, <a href="/kiosks.json">JSON</a></p>
                <table>
                <thead><tr><th>Store</th><th>Kiosk</th><th>Enrolled</th><th>Last sync</th><th>Since then</th>\
                <th>Protocol</th><th>State</th><th></th></tr></thead>
                <tbody>\(rows.joined(separator: "\n"))</tbody>
                </table>
                \(enroll)
                </main>
                """
        )
    }

    /// How long ago, in the largest whole unit: `45 s`, `12 min`, `3 h`, `2 days`.
    static func age(_ seconds: TimeInterval) -> String {
        let seconds = max(0, Int(seconds))
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3_600: return "\(seconds / 60) min"
        case ..<86_400: return "\(seconds / 3_600) h"
        default: return "\(seconds / 86_400) day\(seconds / 86_400 == 1 ? "" : "s")"
        }
    }

    struct KioskForm: ConsoleForm {
        var csrf: String?
        var store: String?
        var kiosk: String?
        var days: String?
        var confirm: String?
    }

    /// Issues an enrollment token and shows it once: HQ keeps only its hash.
    func enrollKiosk(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(KioskForm.self, request, may: .administerFleet)
        let token: EnrollmentToken
        let (store, kiosk): (StoreID, KioskID)
        do {
            (store, kiosk) = (try StoreID(form.store ?? ""), try KioskID(form.kiosk ?? ""))
            guard let days = form.days.flatMap(Int.init), [1, 7, 30].contains(days) else {
                throw ConsoleInputError("invalid validity '\(form.days ?? "")': expected 1, 7 or 30 days")
            }
            token = try await EnrollmentToken.issue(
                in: storage,
                store: store,
                kiosk: kiosk,
                validFor: TimeInterval(days) * 86_400
            )
            try await audit(signed, "kiosk-token-issued", subject: "\(store)/\(kiosk)", detail: "valid \(days) d")
        } catch {
            return actionFailed(signed, title: "No token issued", error, back: "/kiosks")
        }
        return Page.html(
            title: "Enrollment token",
            body: """
                \(header(signed))
                <main>
                <h1>Enrollment token for \(Page.escape("\(store)/\(kiosk)"))</h1>
                <p class="error" role="alert">Shown this once: HQ keeps only its hash. Copy it now.</p>
                <p><code class="token">\(Page.escape(token.description))</code></p>
                <p>On the kiosk: <code>kiosk init --store \(Page.escape(store.rawValue)) --kiosk \
                \(Page.escape(kiosk.rawValue)) --server HQ-ADDRESS --token \(Page.escape(token.description))</code> \
                (or <code>kiosk enroll --token …</code> for a kiosk enrolled before).</p>
                <p><a href="/kiosks">Kiosks</a></p>
                </main>
                """
        )
    }

    func revokeKiosk(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(KioskForm.self, request, may: .administerFleet)
        do {
            guard form.confirm == "yes" else { throw ConsoleInputError("tick 'I mean it' to revoke a kiosk") }
            let (store, kiosk) = (try StoreID(form.store ?? ""), try KioskID(form.kiosk ?? ""))
            try await storage.revokeKiosk(store: store, kiosk: kiosk)
            try await audit(signed, "kiosk-revoked", subject: "\(store)/\(kiosk)")
            return Response.redirect(to: "/kiosks?revoked=\(Page.percentEncoded("\(store)/\(kiosk)"))")
        } catch {
            return actionFailed(signed, title: "Not revoked", error, back: "/kiosks")
        }
    }

    /// The enrolled kiosks: the JSON `kiosks list --json` prints, or a CSV of the same columns.
    func kiosksDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        let kiosks = try await storage.enrolledKiosks()
        if format == "json" {
            return Page.json(
                try ReturnDocument.makeEncoder(prettyPrinted: true).encode(kiosks.map(KioskDocument.init)),
                filename: "kiosks.json"
            )
        }
        let columns = ["replicaId", "storeId", "kioskId", "enrolledAt", "lastSyncAt", "revokedAt", "protocolVersion"]
        let rows = kiosks.map { kiosk -> [String] in
            let enrolled = ISO8601Milliseconds.format(kiosk.enrolledAt)
            let synced = kiosk.lastSyncAt.map(ISO8601Milliseconds.format) ?? ""
            let revoked = kiosk.revokedAt.map(ISO8601Milliseconds.format) ?? ""
            let version = kiosk.protocolVersion.map { "\($0)" } ?? ""
            return [kiosk.replicaID, kiosk.storeID, kiosk.kioskID, enrolled, synced, revoked, version]
        }
        return Page.csv([columns] + rows, filename: "kiosks.csv")
    }
}
