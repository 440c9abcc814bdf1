import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// The returns pages: every store's returns with filters, their CSV and JSON downloads (every match, never a first
/// page), and one return with its notes. Any signed-in role may read them.
extension HQConsole {
    /// At most this many rows on the page; the downloads hold every match.
    static let pageRows = 200

    /// The filters of `/returns` as typed; a bad one is named on the page and nothing is searched.
    struct ReturnFilters {
        var typed: [String: String] = [:]
        var search = ReturnSearch()

        static let names = ["store", "order", "gtin", "serial", "status", "reason"]

        init() {}

        init(_ request: Request) throws {
            for name in Self.names {
                if let value = request.uri.queryParameters.get(name)?.trimmingCharacters(in: .whitespaces),
                    !value.isEmpty
                {
                    typed[name] = value
                }
            }
            search.store = try typed["store"].map(StoreID.init)
            search.orderID = try typed["order"].map(OrderID.init)
            search.gtin = try typed["gtin"].map(GTIN.init)
            search.serial = try typed["serial"].map { try ItemCode($0, kind: "serial") }
            search.status = try typed["status"].map(ReturnStatus.parse)
            search.reason = try typed["reason"].map(ReturnReason.parse)
        }

        /// The filters as a query string, for the download links.
        var query: String {
            typed.sorted { $0.key < $1.key }.map { "\($0.key)=\(Page.percentEncoded($0.value))" }.joined(separator: "&")
        }
    }

    func returnsPage(_ request: Request) async throws -> Response {
        guard let (token, user) = try await signedIn(request) else { return Response.redirect(to: "/login") }
        var problem: String?
        var filters = ReturnFilters()
        do {
            filters = try ReturnFilters(request)
        } catch {
            problem = "\(error)"
        }
        var rows = ""
        var summary = ""
        if problem == nil {
            var search = filters.search
            search.limit = Self.pageRows
            let found = try await returns.findReturns(search, records: false)
            rows = found.returns.map { found in
                let row = found.row
                return
                    "<tr><td><a href=\"/returns/\(Page.percentEncoded(row.id))\">\(Page.escape(found.shortID))</a></td>"
                    + [
                        row.storeId, row.orderId, row.gtin, row.serial ?? "", row.reason, "\(row.quantity)", row.status,
                        row.disposition, Format.time(row.createdAt),
                    ].map { "<td>\(Page.escape($0))</td>" }.joined()
                    + "</tr>"
            }.joined(separator: "\n")
            summary =
                found.more
                ? "The first \(Self.pageRows) returns that match; more match — narrow the filters, or download them all."
                : "\(found.returns.count) returns match."
        }
        let field = { (name: String, label: String) -> String in
            "<div><label for=\"\(name)\">\(label)</label><input id=\"\(name)\" name=\"\(name)\" value=\"\(Page.escape(filters.typed[name] ?? ""))\"></div>"
        }
        return Page.html(
            title: "Returns",
            status: problem == nil ? .ok : .badRequest,
            body: """
                \(header(user, token))
                <main>
                <h1>Returns</h1>
                <form method="get" action="/returns" class="filters">
                \(field("store", "Store"))\(field("order", "Order"))\(field("gtin", "GTIN"))\(field("serial", "Serial"))\(field("status", "Status"))\(field("reason", "Reason"))
                <button type="submit">Find</button>
                </form>
                \(problem.map { "<p class=\"error\" role=\"alert\">\(Page.escape($0))</p>" } ?? "")
                <p>\(Page.escape(summary)) Download: <a href="/returns.csv?\(filters.query)">CSV</a>, <a href="/returns.json?\(filters.query)">JSON</a></p>
                <table>
                <thead><tr><th>Return</th><th>Store</th><th>Order</th><th>GTIN</th><th>Serial</th><th>Reason</th><th>Units</th><th>Status</th><th>Disposition</th><th>Captured</th></tr></thead>
                <tbody>
                \(rows)
                </tbody>
                </table>
                </main>
                """
        )
    }

    /// Every return the filters match, as CSV (`format` "csv") or JSON.
    func returnsDownload(_ request: Request, format: String) async throws -> Response {
        guard try await signedIn(request) != nil else { return Response.redirect(to: "/login") }
        let filters: ReturnFilters
        do {
            filters = try ReturnFilters(request)
        } catch {
            return Response(
                status: .badRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "\(error)\n"))
            )
        }
        let rows = try await returns.findReturns(filters.search, records: false).returns.map(\.row)
        let columns = [
            "id", "store", "order", "gtin", "serial", "reason", "quantity", "status", "disposition", "createdAt",
        ]
        func values(_ row: ReturnRow) -> [String] {
            [
                row.id, row.storeId, row.orderId, row.gtin, row.serial ?? "", row.reason, "\(row.quantity)", row.status,
                row.disposition, ISO8601Milliseconds.format(Date(millisecondsSince1970: row.createdAt)),
            ]
        }
        let body: String
        let type: String
        if format == "csv" {
            body =
                ([columns] + rows.map(values)).map {
                    $0.map { Format.csvField($0, neutralisingFormulas: true) }.joined(separator: ",")
                }.joined(separator: "\r\n")
                + "\r\n"
            type = "text/csv; charset=utf-8"
        } else {
            let objects = rows.map { Dictionary(uniqueKeysWithValues: zip(columns, values($0))) }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .prettyPrinted])
            body = String(decoding: data, as: UTF8.self) + "\n"
            type = "application/json"
        }
        var response = Response(
            status: .ok,
            headers: [.contentType: type],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
        response.headers[.contentDisposition] = "attachment; filename=\"returns.\(format)\""
        return response
    }

    /// One return: its facts and its notes, every value escaped (a note may hold anything a kiosk typed).
    func returnPage(_ request: Request, id text: String) async throws -> Response {
        guard let (token, user) = try await signedIn(request) else { return Response.redirect(to: "/login") }
        guard let id = try? ReturnID(text), let record = try? await returns.returnRecord(id) else {
            return Page.html(
                title: "Not found",
                status: .notFound,
                body: "\(header(user, token))<main><h1>Not found</h1><p>No return \(Page.escape(text)).</p></main>"
            )
        }
        let item = try ProductReturn(record: record)
        let facts: [(String, String)] = [
            ("Store", item.storeID.rawValue), ("Order", item.orderID.rawValue), ("GTIN", item.gtin.digits),
            ("Serial", item.serial?.rawValue ?? "—"), ("Reason", item.reason.rawValue), ("Units", "\(item.quantity)"),
            ("Status", item.status.rawValue), ("Condition", item.condition.rawValue),
            ("Disposition", item.disposition.rawValue),
        ]
        let notes = item.notes.map { note in
            "<li><p>\(Page.escape(note.text))</p><small>\(Page.escape(note.author)), \(Format.time(note.createdAt))</small></li>"
        }.joined(separator: "\n")
        return Page.html(
            title: "Return \(item.id.rawValue)",
            body: """
                \(header(user, token))
                <main>
                <h1>Return \(Page.escape(item.id.rawValue))</h1>
                <dl class="facts">
                \(facts.map { "<dt>\(Page.escape($0.0))</dt><dd>\(Page.escape($0.1))</dd>" }.joined(separator: "\n"))
                </dl>
                <h2>Notes</h2>
                <ul class="notes">
                \(notes.isEmpty ? "<li>None.</li>" : notes)
                </ul>
                <p><a href="/returns">All returns</a></p>
                </main>
                """
        )
    }
}
