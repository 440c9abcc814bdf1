import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// Recall campaigns: each with its completion per store and the recall alerts (recalled units that left before the
/// recall reached them); recall managers and admins start and close campaigns, the same HQ edits as
/// `returns-server recall add|close`, recorded in the user's name.
extension HQConsole {
    func recallsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        async let campaigns = returns.recallCampaigns()
        async let completion = reports.recallCompletionReport()
        async let alerts = returns.findReturns(ReturnSearch(recallAlerts: true), records: false)
        let mayRun = signed.user.role.may(.runRecalls)
        let rows = try await campaigns.sorted { $0.createdAt > $1.createdAt }.map { campaign in
            let close =
                mayRun && campaign.status == .open
                ? """
                <form method="post" action="/recalls/\(Page.percentEncoded(campaign.id))/close">
                <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
                <button type="submit">Close \(Page.escape(campaign.id))</button>
                </form>
                """ : ""
            return "<tr>"
                + [
                    campaign.id, campaign.status.rawValue, campaign.gtins.map(\.digits).joined(separator: " "),
                    campaign.lots.isEmpty ? "all" : campaign.lots.map(\.rawValue).joined(separator: " "),
                    campaign.serials.isEmpty ? "all" : campaign.serials.map(\.rawValue).joined(separator: " "),
                    "\(campaign.unitsAffected)", campaign.hazard, campaign.instructions,
                    Format.time(campaign.createdAt),
                ].map { "<td>\(Page.escape($0))</td>" }.joined() + "<td>\(close)</td></tr>"
        }
        let alertRows = try await alerts.returns.map { found in
            let row = found.row
            return "<tr><td><a href=\"/returns/\(Page.percentEncoded(row.id))\">\(Page.escape(found.shortID))</a></td>"
                + [row.storeId, row.recallCampaign ?? "", row.gtin, row.status, row.disposition].map {
                    "<td>\(Page.escape($0))</td>"
                }.joined() + "</tr>"
        }
        var message = ""
        if let created = request.uri.queryParameters.get("created") {
            let flagged = request.uri.queryParameters.get("flagged").flatMap(Int.init) ?? 0
            message =
                "<p class=\"done\" role=\"status\">Recall \(Page.escape(created)) started; \(flagged) "
                + "return\(flagged == 1 ? "" : "s") already held at HQ flagged. Kiosks receive it at their next sync.</p>"
        }
        if let closed = request.uri.queryParameters.get("closed") {
            message = "<p class=\"done\" role=\"status\">Recall \(Page.escape(closed)) closed.</p>"
        }
        return Page.html(
            title: "Recalls",
            body: """
                \(header(signed))
                <main>
                <h1>Recall campaigns</h1>
                \(message)
                <p>Download: <a href="/recalls.json">campaigns (JSON)</a>, \
                <a href="/recalls.csv">completion per store (CSV)</a></p>
                \(rows.isEmpty ? "<p>No campaigns yet.</p>" : "")
                <table>
                <thead><tr><th>Campaign</th><th>Status</th><th>GTINs</th><th>Lots</th><th>Serials</th><th>Units</th>\
                <th>Hazard</th><th>Instructions</th><th>Started</th><th></th></tr></thead>
                <tbody>\(rows.joined(separator: "\n"))</tbody>
                </table>
                <h2>Completion per store</h2>
                \(Page.table(try await completion))
                <h2>Recall alerts</h2>
                <p>Recalled units restocked, repackaged or repaired before the recall reached them: find them.</p>
                \(alertRows.isEmpty ? "<p>None.</p>" : """
                <table><thead><tr><th>Return</th><th>Store</th><th>Campaign</th><th>GTIN</th><th>Status</th>\
                <th>Disposition</th></tr></thead><tbody>\(alertRows.joined(separator: "\n"))</tbody></table>
                """)
                \(mayRun ? Self.recallForm(signed) : "")
                </main>
                """
        )
    }

    /// The form that starts a campaign: the fields of `returns-server recall add`.
    static func recallForm(_ signed: Signed) -> String {
        let field = { (name: String, label: String, hint: String) -> String in
            "<label for=\"recall-\(name)\">\(label)</label><input id=\"recall-\(name)\" name=\"\(name)\""
                + (hint.isEmpty ? " required" : " placeholder=\"\(hint)\"") + ">"
        }
        return """
            <h2>Start a campaign</h2>
            <form method="post" action="/recalls" class="narrow-form">
            <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
            \(field("id", "Campaign id", ""))
            \(field("gtins", "GTINs (separated by spaces or commas)", ""))
            \(field("lots", "Lots", "all lots"))
            \(field("serials", "Serials", "all serials"))
            \(field("hazard", "Hazard", ""))
            \(field("instructions", "Instructions for staff", ""))
            \(field("units", "Units the campaign covers", ""))
            <button type="submit">Start the campaign</button>
            </form>
            """
    }

    struct RecallForm: ConsoleForm {
        var csrf: String?
        var id: String?
        var gtins: String?
        var lots: String?
        var serials: String?
        var hazard: String?
        var instructions: String?
        var units: String?
    }

    func startRecall(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(RecallForm.self, request, may: .runRecalls)
        func list(_ text: String?) -> [String] {
            (text ?? "").split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" }).map(String.init)
        }
        do {
            let unitsText = (form.units ?? "").trimmingCharacters(in: .whitespaces)
            guard let units = Int(unitsText) else {
                throw ConsoleInputError("invalid units '\(unitsText)': expected a whole number")
            }
            let campaign = try RecallCampaign(
                id: (form.id ?? "").trimmingCharacters(in: .whitespaces),
                gtins: list(form.gtins).map(GTIN.init),
                lots: list(form.lots).map { try ItemCode($0, kind: "lot") },
                serials: list(form.serials).map { try ItemCode($0, kind: "serial") },
                hazard: form.hazard ?? "",
                instructions: form.instructions ?? "",
                unitsAffected: units,
                createdAt: authentication.now()
            )
            let started = try await RecallActions.start(campaign, in: storage, operatorID: signed.operatorID)
            try await audit(signed, "recall-started", subject: campaign.id, detail: "\(started.flagged) flagged")
            return Response.redirect(
                to: "/recalls?created=\(Page.percentEncoded(campaign.id))&flagged=\(started.flagged)"
            )
        } catch {
            return actionFailed(signed, title: "Not started", error, back: "/recalls")
        }
    }

    func closeRecall(_ request: Request, id: String) async throws -> Response {
        let (signed, _) = try await posted(HQConsole.CSRFOnlyForm.self, request, may: .runRecalls)
        do {
            let campaign = try await RecallActions.close(id, in: storage, operatorID: signed.operatorID)
            try await audit(signed, "recall-closed", subject: campaign.id)
            return Response.redirect(to: "/recalls?closed=\(Page.percentEncoded(campaign.id))")
        } catch {
            return actionFailed(signed, title: "Not closed", error, back: "/recalls")
        }
    }

    /// The campaigns as `recall list --json` prints them, or the completion report as CSV.
    func recallsDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        if format == "json" {
            return try Page.json(
                ReturnDocument.makeEncoder(prettyPrinted: true).encode(
                    try await returns.recallCampaigns().map(RecallDocument.init)
                ),
                filename: "recalls.json"
            )
        }
        let report = try await reports.recallCompletionReport()
        return Page.csv([report.columns] + report.rows.map { $0.map(Page.text) }, filename: "recall-completion.csv")
    }
}

extension Page {
    /// A report as an HTML table, every value escaped.
    static func table(_ report: ReplicaStore.Report) -> String {
        guard !report.rows.isEmpty else { return "<p>Nothing yet.</p>" }
        let head = report.columns.map { "<th>\(escape($0))</th>" }.joined()
        let rows = report.rows.map { row in
            "<tr>" + row.map { "<td>\(escape(text($0)))</td>" }.joined() + "</tr>"
        }
        return "<table><thead><tr>\(head)</tr></thead><tbody>\(rows.joined(separator: "\n"))</tbody></table>"
    }
}
