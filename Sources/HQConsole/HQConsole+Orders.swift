import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import MultipartKit
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// Sales orders: the lines HQ holds (the first few hundred on the page, all in the downloads), and for admins an
/// orders CSV upload — `returns-server orders import`, all or nothing, every bad row named by its line number.
extension HQConsole {
    /// The largest orders file the console accepts (about 800,000 lines); larger ones go through the command line.
    static let ordersUploadLimit = 64 * 1024 * 1024

    func ordersPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        let (lines, total) = try await storage.orderLines(first: Self.pageRows)
        let rows = lines.map { line in
            "<tr>"
                + [
                    line.orderID.rawValue, "\(line.line)", line.storeID.rawValue, line.gtin.digits,
                    line.serial?.rawValue ?? "", "\(line.quantity)",
                    OrderLineDocument.price(line.unitPriceCents, line.currency)
                        + (line.currency.map { " \($0)" } ?? ""),
                    Format.time(line.soldAt),
                ].map { "<td>\(Page.escape($0))</td>" }.joined() + "</tr>"
        }
        var message = ""
        if let imported = request.uri.queryParameters.get("imported") {
            message = "<p class=\"done\" role=\"status\">\(Page.escape(imported))</p>"
        }
        let upload =
            signed.user.role.may(.administerFleet)
            ? """
            <h2>Import orders</h2>
            <form method="post" action="/orders" enctype="multipart/form-data" class="narrow-form">
            <input type="hidden" name="csrf" value="\(signed.token.csrfToken)">
            <label for="orders-file">Orders CSV (header: \(Page.escape(OrderCSV.columns.joined(separator: ","))))</label>
            <input id="orders-file" name="file" type="file" accept=".csv,text/csv" required>
            <label for="orders-currency">Currency of rows that name none (optional, ISO 4217)</label>
            <input id="orders-currency" name="currency" placeholder="EUR">
            <button type="submit">Import</button>
            </form>
            <p>All or nothing: a file with a bad row imports nothing, and every bad row is named by its line.</p>
            """ : ""
        let shown = total > lines.count ? "The first \(lines.count) of \(total) lines." : "\(total) lines."
        return Page.html(
            title: "Orders",
            body: """
                \(header(signed))
                <main>
                <h1>Sales orders</h1>
                \(message)
                <p>\(shown) Download: <a href="/orders.csv">CSV</a>, <a href="/orders.json">JSON</a></p>
                <table>
                <thead><tr><th>Order</th><th>Line</th><th>Store</th><th>GTIN</th><th>Serial</th><th>Units</th>\
                <th>Unit price</th><th>Sold</th></tr></thead>
                <tbody>\(rows.joined(separator: "\n"))</tbody>
                </table>
                \(upload)
                </main>
                """
        )
    }

    struct OrdersUpload: ConsoleForm {
        var csrf: String?
        var currency: String?
        /// The file's bytes: text only once checked, so a file that is not UTF-8 is named as such.
        var file: Data?
    }

    /// Imports an uploaded orders CSV; a refused file lists each bad row with its line number.
    func importOrders(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(OrdersUpload.self, request, may: .administerFleet) { request in
            guard let type = request.headers[.contentType].flatMap(MediaType.init(from:)),
                type.isType(.multipartForm), let boundary = type.parameter?.value
            else { return nil }
            let body = try await request.body.collect(upTo: Self.ordersUploadLimit)
            return try? FormDataDecoder().decode(OrdersUpload.self, from: body, boundary: boundary)
        }
        let problems: [String]
        do {
            let currencyText = (form.currency ?? "").trimmingCharacters(in: .whitespaces)
            let currency = try currencyText.isEmpty ? nil : Currency(currencyText)
            guard let text = String(data: form.file ?? Data(), encoding: .utf8) else {
                throw ConsoleInputError("the orders file is not UTF-8 text: save it as CSV (UTF-8) and upload it again")
            }
            let (count, outcome) = try await storage.importOrders(csv: text, defaultCurrency: currency)
            let summary =
                "Imported \(count) order lines: \(outcome.created) new, \(outcome.updated) updated, "
                + "\(outcome.unchanged) unchanged; \(outcome.reverified) returns re-verified."
            try await audit(signed, "orders-imported", subject: "\(count) lines", detail: summary)
            return Response.redirect(to: "/orders?imported=\(Page.percentEncoded(summary))")
        } catch let error as OrderCSV.ParseError {
            problems =
                error.problems.prefix(200).map { "line \($0.line): \($0.message)" }
                + (error.problems.count > 200 ? ["… and \(error.problems.count - 200) more bad rows"] : [])
        } catch {
            return actionFailed(signed, title: "Nothing imported", error, back: "/orders")
        }
        return Page.html(
            title: "Nothing imported",
            status: .unprocessableContent,
            body: """
                \(header(signed))
                <main><h1>Nothing imported</h1>
                <p class="error" role="alert">The orders file was refused; nothing was imported. Fix these rows and \
                upload it again:</p>
                <ul class="problems">\(problems.map { "<li>\(Page.escape($0))</li>" }.joined(separator: "\n"))</ul>
                <p><a href="/orders">Back</a></p></main>
                """
        )
    }

    /// Every order line, as `orders list --json` prints them, or as an orders CSV that imports again.
    func ordersDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        let storage = self.storage
        let json = format == "json"
        // Written as it is read, a page of lines at a time: HQ may hold millions of order lines.
        return Page.streamed(csvHeader: OrderCSV.columns + ["currency"], format: format, name: "orders") { write in
            let encoder = ReturnDocument.makeEncoder(prettyPrinted: true)
            var last: OrderLine?
            while true {
                let lines = try await storage.orderLines(after: last, limit: Self.downloadPage)
                guard let end = lines.last else { return }
                try await write(
                    try lines.map { line in
                        let document = OrderLineDocument(line)
                        if json { return String(decoding: try encoder.encode(document), as: UTF8.self) }
                        // The orders file's own columns, in its order: the download imports again as it is.
                        return Page.csvLine([
                            line.orderID.rawValue, line.storeID.rawValue, "\(line.line)", line.gtin.digits,
                            line.serial?.rawValue ?? "", "\(line.quantity)", document.unitPrice,
                            ISO8601Milliseconds.format(line.soldAt), line.currency?.code ?? "",
                        ])
                    }
                )
                last = end
            }
        }
    }
}
