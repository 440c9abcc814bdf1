import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

/// HQ's two work queues: returns waiting for a review (approve or reject, one by one or selected) and open
/// conflicts (the values side by side, one click to keep one). Any role reads them; returns managers and above act.
extension HQConsole {
    // MARK: Review queue

    func reviewPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        let queue = try await returns.reviewQueue().map { try ProductReturn(record: $0) }
        let mayEdit = signed.user.role.may(.editReturns)
        let rows = queue.map { item in
            let id = Page.escape(item.id.rawValue)
            let box =
                mayEdit
                ? "<td><input type=\"checkbox\" name=\"ids[]\" value=\"\(id)\" id=\"pick-\(id)\" "
                    + "aria-label=\"Select return \(id)\"></td>" : ""
            return "<tr>\(box)<td><a href=\"/returns/\(Page.percentEncoded(item.id.rawValue))\">\(id)</a></td>"
                + [
                    item.storeID.rawValue, item.orderID.rawValue, item.gtin.digits,
                    item.exceptions.map(\.rawValue).joined(separator: ", "), item.verification?.rawValue ?? "—",
                    Format.time(item.createdAt),
                ].map { "<td>\(Page.escape($0))</td>" }.joined() + "</tr>"
        }
        var message = ""
        if let decided = request.uri.queryParameters.get("decided").flatMap(Int.init),
            let outcome = request.uri.queryParameters.get("outcome").flatMap(ReviewDecision.Outcome.init(rawValue:))
        {
            message =
                "<p class=\"done\" role=\"status\">\(decided) return\(decided == 1 ? "" : "s") "
                + "\(outcome.rawValue).</p>"
        }
        let table = """
            <table>
            <thead><tr>\(mayEdit ? "<th>Pick</th>" : "")<th>Return</th><th>Store</th><th>Order</th><th>GTIN</th>\
            <th>Exceptions</th><th>Purchase</th><th>Captured</th></tr></thead>
            <tbody>
            \(rows.joined(separator: "\n"))
            </tbody>
            </table>
            """
        let work =
            mayEdit
            ? """
            <form method="post" action="/review">
            <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
            <input type="hidden" name="from" value="queue">
            \(table)
            <label for="note">Note (the same for every return picked; required to reject)</label>
            <input id="note" name="note">
            <button type="submit" name="decision" value="approve">Approve picked</button>
            <button type="submit" name="decision" value="reject">Reject picked</button>
            </form>
            """ : "\(table)<p>Returns managers and admins decide reviews.</p>"
        return Page.html(
            title: "Review",
            body: """
                \(header(signed))
                <main>
                <h1>Waiting for review</h1>
                \(message)
                <p>\(queue.count) return\(queue.count == 1 ? "" : "s") waiting. Download: \
                <a href="/review.csv">CSV</a>, <a href="/review.json">JSON</a></p>
                \(queue.isEmpty ? "<p>Nothing waits for a review.</p>" : work)
                </main>
                """
        )
    }

    /// The whole queue, as CSV or as JSON in the kiosk's shape of a return.
    func reviewDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        let records = try await returns.reviewQueue()
        if format == "json" {
            return try Page.json(
                ReturnDocument.makeEncoder(prettyPrinted: true).encode(records.map { try ReturnDocument(record: $0) }),
                filename: "review.json"
            )
        }
        let rows = try records.map { record in
            let item = try ProductReturn(record: record)
            return [
                item.id.rawValue, item.storeID.rawValue, item.orderID.rawValue, item.gtin.digits,
                item.exceptions.map(\.rawValue).joined(separator: " "), item.verification?.rawValue ?? "",
                ISO8601Milliseconds.format(item.createdAt),
            ]
        }
        return Page.csv(
            [["id", "store", "order", "gtin", "exceptions", "verification", "createdAt"]] + rows,
            filename: "review.csv"
        )
    }

    struct ReviewForm: ConsoleForm {
        var csrf: String?
        var ids: [String]?
        var decision: String?
        var note: String?
        var from: String?
    }

    /// Decides the picked returns' reviews, each its own HQ edit in the user's name — or none, when any one cannot
    /// be decided (the command line's rule).
    func decideReview(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(ReviewForm.self, request, may: .editReturns)
        let picked = form.ids ?? []
        let back =
            form.from == "return" && picked.count == 1 ? "/returns/\(Page.percentEncoded(picked[0]))" : "/review"
        let outcome: ReviewDecision.Outcome
        switch form.decision {
        case "approve": outcome = .approved
        case "reject": outcome = .rejected
        default:
            return actionFailed(
                signed,
                title: "Not decided",
                ConsoleInputError("choose approve or reject"),
                back: back
            )
        }
        let note = form.note.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        do {
            guard !picked.isEmpty else { throw ConsoleInputError("pick at least one return") }
            let ids = try picked.map(ReturnID.init)
            let decided = try await returns.decideReviews(
                ids,
                outcome: outcome,
                note: note,
                operatorID: signed.operatorID
            )
            for item in decided {
                try await audit(signed, "review-\(outcome.rawValue)", subject: item.id.rawValue, detail: note ?? "")
            }
        } catch {
            return actionFailed(signed, title: "Not decided", error, back: back)
        }
        return Response.redirect(
            to: back == "/review"
                ? "/review?decided=\(picked.count)&outcome=\(outcome.rawValue)" : "\(back)?decided=\(outcome.rawValue)"
        )
    }

    // MARK: Conflicts

    /// At most this many open conflicts on the page; the downloads hold every one.
    static let conflictRows = 200

    func conflictsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        // The open ones only, from the returns in conflict: the audit keeps every settled conflict for as long as
        // HQ runs, and this page is viewed all day.
        let open = try await returns.openReturnConflicts()
        let mayEdit = signed.user.role.may(.editReturns)
        let shown = open.suffix(Self.conflictRows).reversed()
        let sections = shown.compactMap { entry -> String? in
            guard let id = try? ReturnID(entry.recordID) else { return nil }
            var operators: [Dot: String] = [:]
            for value in entry.values {
                if let name = entry.operators[value.dot.description] { operators[value.dot] = name }
            }
            return """
                <article class="open-conflict">
                <p><a href="/returns/\(Page.percentEncoded(id.rawValue))">Return \(Page.escape(id.rawValue))</a>, \
                detected \(Format.time(entry.detectedAt)) by \(Page.escape(entry.detectedBy))</p>
                \(conflictSides(id, field: entry.field, values: entry.values, showing: entry.winner, operators: operators, signed: signed, mayEdit: mayEdit, from: "conflicts"))
                </article>
                """
        }
        var message = ""
        if let settled = request.uri.queryParameters.get("settled") {
            message = "<p class=\"done\" role=\"status\">Settled \(Page.escape(settled)).</p>"
        }
        let more =
            open.count > Self.conflictRows
            ? " The newest \(Self.conflictRows) are shown; download them all." : ""
        return Page.html(
            title: "Conflicts",
            body: """
                \(header(signed))
                <main>
                <h1>Open conflicts</h1>
                \(message)
                <p>\(open.count) open.\(more) Download every conflict, open and settled: \
                <a href="/conflicts.csv">CSV</a>, <a href="/conflicts.json">JSON</a></p>
                \(sections.isEmpty ? "<p>No open conflicts.</p>" : sections.joined(separator: "\n"))
                </main>
                """
        )
    }

    /// Every conflict HQ detected, open and settled: `conflicts list`'s JSON entries, or a CSV of them — written as
    /// they are read, ``downloadPage`` at a time (``Page/streamed(csvHeader:format:name:entries:)``): the audit
    /// keeps every settled conflict for as long as HQ runs.
    func conflictsDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        let returns = self.returns
        let csv = format == "csv"
        let columns = ["record", "field", "values", "shown", "detectedAt", "detectedBy", "state"]
        return Page.streamed(csvHeader: columns, format: format, name: "conflicts") { write in
            let encoder = ReturnDocument.makeEncoder(prettyPrinted: true)
            var after: Int64 = 0
            while true {
                let entries = try await returns.conflictAudit(after: after, limit: Self.downloadPage)
                guard let last = entries.last else { return }
                after = last.id
                try await write(
                    try entries.map { entry in
                        csv
                            ? Page.csvLine(Self.conflictRow(entry))
                            : String(decoding: try encoder.encode(ConflictDocument(entry)), as: UTF8.self)
                    }
                )
            }
        }
    }

    /// A conflict as a line of the CSV download.
    private static func conflictRow(_ entry: ConflictAuditEntry) -> [String] {
        [
            entry.recordID, entry.field,
            entry.values.map { value in
                "\(value.value)@\(value.dot)" + (entry.operators[value.dot.description].map { " by \($0)" } ?? "")
            }.joined(separator: " | "),
            entry.winner.value.description, ISO8601Milliseconds.format(entry.detectedAt), entry.detectedBy,
            entry.isOpen ? "open" : "settled",
        ]
    }
}

/// A form's value the console refuses before asking HQ's rules: what is wrong, in words.
struct ConsoleInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
