import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import NIOCore
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Synchronization

/// One return's page — everything `returns-server returns show` prints, its photos, its open conflicts with the
/// values side by side and a settle button for each, its review, its history of edits and its notes — and the two
/// actions taken there: settling a conflict and deciding a review (returns managers and above).
extension HQConsole {
    func returnPage(_ request: Request, id text: String) async throws -> Response {
        let signed = try await session(request)
        guard let id = try? ReturnID(text), let record = try? await returns.returnRecord(id) else {
            return Page.html(
                title: "Not found",
                status: .notFound,
                body: "\(header(signed))<main><h1>Not found</h1><p>No return \(Page.escape(text)).</p></main>"
            )
        }
        let item = try ProductReturn(record: record)
        var recall: RecallCampaign?
        if let campaign = item.recallCampaign {
            recall = try await returns.recallCampaigns().first { $0.id == campaign }
        }
        let mayEdit = signed.user.role.may(.editReturns)
        var sections: [String] = []
        if let settled = request.uri.queryParameters.get("settled") {
            sections.append("<p class=\"done\" role=\"status\">Settled \(Page.escape(settled)).</p>")
        }
        if let decided = request.uri.queryParameters.get("decided") {
            sections.append("<p class=\"done\" role=\"status\">Review \(Page.escape(decided)).</p>")
        }
        if let edited = request.uri.queryParameters.get("edited") {
            sections.append("<p class=\"done\" role=\"status\">\(Page.escape(edited)).</p>")
        }
        sections.append(Self.details(record, recall: recall))
        if !item.attachments.isEmpty {
            sections.append(Self.photos(item))
        }
        let conflicts = record.openConflicts(policy: ReturnEntity.policy)
        if !conflicts.isEmpty {
            let operators = Dictionary(
                ReturnEdit.history(of: record).map { ($0.dot, $0.operatorID) },
                uniquingKeysWith: { first, _ in first }
            )
            sections.append(
                "<h2>Open conflicts</h2>"
                    + conflicts.map { conflict in
                        conflictSides(
                            item.id,
                            field: conflict.field,
                            values: conflict.values,
                            showing: conflict.winner,
                            operators: operators,
                            signed: signed,
                            mayEdit: mayEdit,
                            from: "return"
                        )
                    }.joined(separator: "\n")
            )
        }
        if item.awaitsReview {
            sections.append(reviewSection(item, signed: signed, mayEdit: mayEdit))
        }
        if mayEdit { sections.append(editSection(item, signed: signed)) }
        sections.append(Self.history(record))
        let notes = item.notes.map { note in
            "<li><p>\(Page.escape(note.text))</p><small>\(Page.escape(note.author)), \(Format.time(note.createdAt))</small></li>"
        }.joined(separator: "\n")
        sections.append("<h2>Notes</h2><ul class=\"notes\">\(notes.isEmpty ? "<li>None.</li>" : notes)</ul>")
        return Page.html(
            title: "Return \(item.id.rawValue)",
            body: """
                \(header(signed))
                <main>
                <h1>Return \(Page.escape(item.id.rawValue))</h1>
                \(sections.joined(separator: "\n"))
                <p><a href="/returns">All returns</a></p>
                </main>
                """
        )
    }

    /// Everything `returns show` prints, one fact a row: its lines are the one description of a return both
    /// command lines and the console share. Conflicts, edits and notes have sections of their own.
    static func details(_ record: VersionedRecord, recall: RecallCampaign?) -> String {
        let lines = (try? Format.returnDetails(record, recall: recall)) ?? ""
        let rows = lines.split(separator: "\n").compactMap { line -> String? in
            // Each line is a label padded to 13 columns, then the value.
            let label = line.prefix(13).trimmingCharacters(in: .whitespaces)
            let value = String(line.dropFirst(13))
            guard !["CONFLICT", "ALERT", "edited", "note", "notes", "id"].contains(label) else { return nil }
            return "<dt>\(Page.escape(label))</dt><dd>\(Page.escape(value))</dd>"
        }
        let alert =
            lines.contains("\nALERT ")
            ? "<p class=\"error\" role=\"alert\">Refunded twice: two places refunded this return at once.</p>" : ""
        return "\(alert)<dl class=\"facts\">\n\(rows.joined(separator: "\n"))\n</dl>"
    }

    /// The return's photos and documents: images shown, PDFs linked; one whose bytes its kiosk has not sent yet
    /// answers "not here yet" (``attachment(_:digest:)``).
    static func photos(_ item: ProductReturn) -> String {
        let figures = item.attachments.map { attachment in
            let link = "/attachments/\(attachment.digest)"
            let caption = Page.escape(attachment.caption ?? "no caption")
            let shown =
                attachment.mediaType.rawValue.hasPrefix("image/")
                ? "<a href=\"\(link)\"><img src=\"\(link)\" alt=\"\(caption)\"></a>"
                : "<a href=\"\(link)\">\(Page.escape(attachment.mediaType.rawValue)) document</a>"
            return "<figure>\(shown)<figcaption>\(caption), \(attachment.size) bytes</figcaption></figure>"
        }
        return "<h2>Photos and documents</h2><div class=\"photos\">\(figures.joined(separator: "\n"))</div>"
    }

    /// A return's edits that named who made them, oldest first.
    static func history(_ record: VersionedRecord) -> String {
        let rows = ReturnEdit.history(of: record).map { edit in
            "<tr><td>\(Format.time(edit.at))</td><td>\(Page.escape(edit.operatorID))</td>"
                + "<td>\(Page.escape(edit.replica))</td><td>\(edit.counter)</td></tr>"
        }
        guard !rows.isEmpty else { return "<h2>History</h2><p>No named edits.</p>" }
        return """
            <h2>History</h2>
            <table><thead><tr><th>When</th><th>Who</th><th>Where</th><th>Write</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table>
            """
    }

    /// One open conflict: each value side by side, who wrote it and where, and — for a role that may — a button
    /// keeping it. `from` is where the settle returns to: `return` or `conflicts`.
    func conflictSides(
        _ id: ReturnID,
        field: String,
        values: [DottedValue],
        showing: DottedValue,
        operators: [Dot: String],
        signed: Signed,
        mayEdit: Bool,
        from: String
    ) -> String {
        let sides = values.map { value in
            let text = ReturnEntity.plainText(value.value)
            let who = operators[value.dot].map { " by \(Page.escape($0))" } ?? ""
            let button =
                mayEdit
                ? """
                <form method="post" action="/returns/\(Page.percentEncoded(id.rawValue))/settle">
                <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
                <input type="hidden" name="field" value="\(Page.escape(field))">
                <input type="hidden" name="value" value="\(Page.escape(value.value.description))">
                <input type="hidden" name="from" value="\(from)">
                <button type="submit">Keep \(Page.escape(text))</button>
                </form>
                """ : ""
            return """
                <div class="side"><p class="value">\(Page.escape(text))</p>
                <small>written at \(Page.escape(value.dot.description))\(who)\
                \(value.dot == showing.dot ? " — shown now" : "")</small>\(button)</div>
                """
        }
        return """
            <section class="conflict" aria-label="Conflict on \(Page.escape(field))">
            <h3>\(Page.escape(field))</h3>
            <div class="sides">\(sides.joined(separator: "\n"))</div>
            </section>
            """
    }

    /// A return waiting for HQ's review: its exceptions, and approve/reject for a role that may.
    func reviewSection(_ item: ProductReturn, signed: Signed, mayEdit: Bool) -> String {
        let exceptions = item.exceptions.map { "<li>\(Page.escape($0.rawValue))</li>" }.joined()
        let form =
            mayEdit
            ? """
            <form method="post" action="/review">
            <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
            <input type="hidden" name="ids[]" value="\(Page.escape(item.id.rawValue))">
            <input type="hidden" name="from" value="return">
            <label for="review-note">Note (required to reject)</label>
            <input id="review-note" name="note">
            <button type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="reject">Reject</button>
            </form>
            """
            : "<p>Returns managers and admins decide reviews.</p>"
        return "<h2>Waiting for review</h2><ul>\(exceptions)</ul>\(form)"
    }

    // MARK: Actions

    struct SettleForm: ConsoleForm {
        var csrf: String?
        var field: String?
        var value: String?
        var from: String?
    }

    /// Settles a conflict as the user's HQ edit, then back to where the button was.
    func settle(_ request: Request, id text: String) async throws -> Response {
        let (signed, form) = try await posted(SettleForm.self, request, may: .editReturns)
        let field = form.field ?? ""
        let value = form.value ?? ""
        let back = "/returns/\(Page.percentEncoded(text))"
        do {
            let id = try ReturnID(text)
            let settled = try await returns.resolveConflict(
                id,
                field: field,
                value: value,
                operatorID: signed.operatorID
            )
            try await audit(
                signed,
                "conflict-settled",
                subject: id.rawValue,
                detail: "\(field): \(ReturnEntity.plainText(settled.value))"
            )
        } catch {
            return actionFailed(signed, title: "Not settled", error, back: back)
        }
        return Response.redirect(
            to: form.from == "conflicts"
                ? "/conflicts?settled=\(Page.percentEncoded(field))" : "\(back)?settled=\(Page.percentEncoded(field))"
        )
    }

    /// A photo or document of a return, its bytes as the server holds them (checked against the digest as read).
    func attachment(_ request: Request, digest: String) async throws -> Response {
        let signed = try await session(request)
        let notHeld = Page.html(
            title: "Not here yet",
            status: .notFound,
            body: "\(header(signed))<main><h1>Not here yet</h1><p>HQ does not hold all of attachment "
                + "\(Page.escape(digest)): its kiosk sends it after the return's records.</p></main>"
        )
        guard digest.count == 64, digest.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return notHeld }
        let bytes = Mutex(ByteBuffer())
        let held = try await storage.streamAttachment(digest) { chunk in
            bytes.withLock { _ = $0.writeBytes(chunk) }
        }
        guard let mediaType = held?.mediaType else { return notHeld }
        // Only the types a kiosk accepts are ever stored; a PDF is downloaded rather than shown in the console.
        var response = Response(
            status: .ok,
            headers: [.contentType: mediaType],
            body: .init(byteBuffer: bytes.withLock { $0 })
        )
        response.headers[.contentDisposition] =
            mediaType.hasPrefix("image/") ? "inline" : "attachment; filename=\"\(digest.prefix(12)).pdf\""
        return response
    }
}

/// HQ's edits of a return from its page — a note, a disposition, closing, voiding — the command line's own edits
/// (``ReturnEdits``), recorded in the user's name; returns managers and above.
extension HQConsole {
    /// The edit forms, for a role that may edit returns.
    func editSection(_ item: ProductReturn, signed: Signed) -> String {
        let action = "/returns/\(Page.percentEncoded(item.id.rawValue))/edit"
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(signed.token.csrfToken)\">"
        let options = Disposition.routable.map {
            "<option value=\"\($0.rawValue)\"\($0 == item.disposition ? " selected" : "")>\($0.rawValue)</option>"
        }.joined()
        return """
            <h2>Edit</h2>
            <div class="edits">
            <form method="post" action="\(action)">\(token)<input type="hidden" name="edit" value="note">
            <label for="edit-note">Add a note</label><input id="edit-note" name="note" required>
            <button type="submit">Add the note</button></form>
            <form method="post" action="\(action)">\(token)<input type="hidden" name="edit" value="disposition">
            <label for="edit-disposition">Route to</label><select id="edit-disposition" name="disposition">\(options)</select>
            <label for="edit-disposition-note">Why (optional)</label><input id="edit-disposition-note" name="note">
            <button type="submit">Route</button></form>
            <form method="post" action="\(action)">\(token)<input type="hidden" name="edit" value="close">
            <label for="edit-close-note">Close: the item was handled (note optional)</label>
            <input id="edit-close-note" name="note"><button type="submit">Close the return</button></form>
            <form method="post" action="\(action)">\(token)<input type="hidden" name="edit" value="void">
            <label for="edit-void-note">Void: it should never have been recorded (why, required)</label>
            <input id="edit-void-note" name="note" required><button type="submit">Void the return</button></form>
            </div>
            <details><summary>Repair, hand-off, refund, vendor RMA and credit</summary>
            <div class="edits">
            \(Self.optionForm("repair", "Record a repair", action: action, token: token, [
                ("vendor", "Repairer", true), ("status", "Status: sent, in-repair, repaired, beyond-repair", true),
                ("sent", "Sent on, YYYY-MM-DD (default today)", false), ("back", "Back on, YYYY-MM-DD", false),
                ("note", "Note", false),
            ]))
            \(Self.optionForm("handoff", "Hand over (recycler, disposer)", action: action, token: token, [
                ("to", "Taken by", true), ("document", "Manifest or certificate id", true),
                ("weight-grams", "Weight, grams", false), ("count", "Units", false),
                ("date", "On, YYYY-MM-DD (default today)", false), ("note", "Note", false),
            ]))
            \(Self.optionForm("refund", "Decide the refund", action: action, token: token, [
                ("method", "Method: \(RefundMethod.allowedSpellings)", true),
                ("amount", "Amount instead of the order line's value less the fee", false),
                ("reason", "Why the amount differs", false), ("currency", "Currency (ISO 4217)", false),
                ("exchange", "Replacement GTIN (exchange)", false), ("note", "Note", false),
            ]))
            \(Self.optionForm("rma", "Vendor RMA", action: action, token: token, [
                ("number", "RMA number", true), ("carrier", "Carrier", false), ("tracking", "Tracking id", false),
                ("shipped", "Shipped on, YYYY-MM-DD", false), ("note", "Note", false),
            ]))
            \(Self.optionForm("credit", "Vendor credit", action: action, token: token, [
                ("amount", "Amount credited", true), ("currency", "Currency (ISO 4217)", false),
                ("on", "Received on, YYYY-MM-DD (default today)", false), ("note", "Note", false),
            ]))
            </div></details>
            """
    }

    /// A form posting one of ``optionEdits``: a labelled field per option.
    static func optionForm(
        _ edit: String,
        _ title: String,
        action: String,
        token: String,
        _ fields: [(name: String, label: String, required: Bool)]
    ) -> String {
        let inputs = fields.map { field in
            let id = "\(edit)-\(field.name)"
            return "<label for=\"\(id)\">\(Page.escape(field.label))</label>"
                + "<input id=\"\(id)\" name=\"\(field.name)\"\(field.required ? " required" : "")>"
        }.joined(separator: "\n")
        return """
            <form method="post" action="\(action)">\(token)<input type="hidden" name="edit" value="\(edit)">
            <h3>\(Page.escape(title))</h3>
            \(inputs)
            <button type="submit">\(Page.escape(title))</button></form>
            """
    }

    struct EditForm: ConsoleForm {
        var csrf: String?
        var edit: String?
        var note: String?
        var disposition: String?
        /// Every field as posted, for the edits read by the command line's own options.
        var fields: [String: String] = [:]

        enum CodingKeys: String, CodingKey { case csrf, edit, note, disposition }
    }

    /// The edits whose forms post the command line's options by name (`returns-server returns repair --vendor …`),
    /// read by those options' own parsers: the same checks and messages, one place. Each with its fields.
    static let optionEdits: [String: (fields: [String], perform: OptionEdit)] = [
        "repair": (
            ["vendor", "status", "sent", "back", "note"],
            { try await parsed(RepairOptions.self, $0).perform(on: $1, id: $2) }
        ),
        "handoff": (
            ["to", "document", "weight-grams", "count", "date", "note"],
            { try await parsed(HandoffOptions.self, $0).perform(on: $1, id: $2) }
        ),
        "refund": (
            ["method", "amount", "reason", "currency", "exchange", "note"],
            { try await parsed(RefundOptions.self, $0).perform(on: $1, id: $2) }
        ),
        "rma": (
            ["number", "carrier", "tracking", "shipped", "note"],
            { try await parsed(VendorShipmentOptions.self, $0).perform(on: $1, id: $2) }
        ),
        "credit": (
            ["amount", "currency", "on", "note"],
            { try await parsed(VendorCreditOptions.self, $0).perform(on: $1, id: $2) }
        ),
    ]
    typealias OptionEdit = @Sendable ([String], any ReturnEditing, String) async throws -> String

    func editReturn(_ request: Request, id: String) async throws -> Response {
        let (signed, form) = try await posted(EditForm.self, request, may: .editReturns) { request in
            let body = String(buffer: try await request.body.collect(upTo: 16 * 1024))
            guard var form = try? URLEncodedFormDecoder().decode(EditForm.self, from: body) else { return nil }
            form.fields = (try? URLEncodedFormDecoder().decode([String: String].self, from: body)) ?? [:]
            return form
        }
        let back = "/returns/\(Page.percentEncoded(id))"
        let editor = returns.operated(by: signed.operatorID)
        let note = form.note.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        do {
            let done: String
            switch form.edit {
            case "note": done = try await ReturnEdits.note(editor, id: id, text: note ?? "")
            case "disposition":
                done = try await ReturnEdits.disposition(editor, id: id, to: form.disposition ?? "", note: note)
            case "close": done = try await ReturnEdits.close(editor, id: id, note: note)
            case "void": done = try await ReturnEdits.void(editor, id: id, note: note ?? "")
            case let edit? where Self.optionEdits[edit] != nil:
                let (names, perform) = Self.optionEdits[edit]!
                // Only the edit's own fields, as `--name=value` (a value may start with '-'); blank ones left out.
                let arguments = names.compactMap { name in
                    Self.given(form.fields[name]).map { "--\(name)=\($0)" }
                }
                done = try await perform(arguments, editor, id)
            default: throw ConsoleInputError("unknown edit '\(form.edit ?? "")'")
            }
            try await audit(signed, "return-\(form.edit ?? "")", subject: id, detail: done)
            return Response.redirect(to: "\(back)?edited=\(Page.percentEncoded(done))")
        } catch {
            return actionFailed(signed, title: "Not changed", error, back: back)
        }
    }
}

/// Every photo and document the returns name, and what HQ holds of each: `returns-server attachments list`.
extension HQConsole {
    func attachmentsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        let missing = request.uri.queryParameters.get("missing") == "yes"
        let listing = try await storage.attachmentListing(store: nil, missing: missing)
        let rows = listing.map { item in
            let link =
                item.complete
                ? "<a href=\"/attachments/\(item.digest)\">\(item.digest.prefix(12))</a>"
                : String(item.digest.prefix(12))
            var cells = [
                item.mediaType, "\(item.size)", "\(item.held)", item.complete ? "whole" : "waiting for the kiosk",
            ]
            cells.append(item.stores.joined(separator: ", "))
            cells.append("\(item.returns)")
            return "<tr><td>\(link)</td>" + cells.map { "<td>\(Page.escape($0))</td>" }.joined() + "</tr>"
        }
        return Page.html(
            title: "Photos and documents",
            body: """
                \(header(signed))
                <main>
                <h1>Photos and documents</h1>
                <p>\(listing.count) \(missing ? "not yet held whole" : "named by returns"). \
                \(missing ? "<a href=\"/attachments\">All</a>" : "<a href=\"/attachments?missing=yes\">Only those not held whole</a>")</p>
                <table><thead><tr><th>Digest</th><th>Type</th><th>Bytes</th><th>Held</th><th>State</th><th>Stores</th>\
                <th>Returns</th></tr></thead><tbody>\(rows.joined(separator: "\n"))</tbody></table>
                </main>
                """
        )
    }
}
