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

    /// The filters of `/returns` as typed; a bad one is named on the page and nothing is searched. They are the
    /// command line's (`returns-server returns list`), checked by the same code: a day is in each store's time zone.
    struct ReturnFilters {
        var typed: [String: String] = [:]
        var search = ReturnSearch()

        static let fields = [
            ("store", "Store"), ("order", "Order"), ("gtin", "GTIN"), ("serial", "Serial"), ("status", "Status"),
            ("reason", "Reason"), ("customer", "Customer"), ("since", "Since (day or time)"), ("until", "Until"),
        ]

        init() {}

        init(_ request: Request, timeZones: StoreTimeZones) throws {
            for (name, _) in Self.fields {
                if let value = request.uri.queryParameters.get(name)?.trimmingCharacters(in: .whitespaces),
                    !value.isEmpty
                {
                    typed[name] = value
                }
            }
            // The command line's own options, parsed from `--name=value` (a value may start with '-').
            let options = try parsed(
                ReturnSearchOptions.self,
                typed.filter { $0.key != "store" }.sorted { $0.key < $1.key }.map { "--\($0.key)=\($0.value)" }
            )
            search = try options.search(store: try typed["store"].map(StoreID.init), timeZones: timeZones)
        }

        /// The filters as a query string, for the download links.
        var query: String {
            typed.sorted { $0.key < $1.key }.map { "\($0.key)=\(Page.percentEncoded($0.value))" }.joined(separator: "&")
        }
    }

    func returnsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        var problem: String?
        var filters = ReturnFilters()
        let timeZones = try await storage.storeTimeZones()
        do {
            filters = try ReturnFilters(request, timeZones: timeZones)
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
                : found.returns.count == 1 ? "1 return matches." : "\(found.returns.count) returns match."
        }
        let field = { (name: String, label: String) -> String in
            "<div><label for=\"\(name)\">\(label)</label><input id=\"\(name)\" name=\"\(name)\" value=\"\(Page.escape(filters.typed[name] ?? ""))\"></div>"
        }
        return Page.html(
            title: "Returns",
            status: problem == nil ? .ok : .badRequest,
            body: """
                \(header(signed))
                <main>
                <h1>Returns</h1>
                <form method="get" action="/returns" class="filters">
                \(ReturnFilters.fields.map { field($0.0, $0.1) }.joined())
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
        _ = try await session(request)
        let filters: ReturnFilters
        let timeZones = try await storage.storeTimeZones()
        do {
            filters = try ReturnFilters(request, timeZones: timeZones)
        } catch {
            return Response(
                status: .badRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "\(error)\n"))
            )
        }
        let columns = [
            "id", "store", "order", "gtin", "serial", "reason", "quantity", "status", "disposition", "createdAt",
        ]
        @Sendable func values(_ row: ReturnRow) -> [String] {
            [
                row.id, row.storeId, row.orderId, row.gtin, row.serial ?? "", row.reason, "\(row.quantity)", row.status,
                row.disposition, ISO8601Milliseconds.format(Date(millisecondsSince1970: row.createdAt)),
            ]
        }
        // Written as it is read, a page at a time in the list's order: a million returns are not held at once.
        let returns = self.returns
        let filtered = filters.search
        return Page.streamed(columns, format: format, name: "returns") { page in
            var search = filtered
            let wanted = search.limit
            var sent = 0
            while wanted.map({ sent < $0 }) ?? true {
                search.limit = min(Self.downloadPage, wanted.map { $0 - sent } ?? .max)
                let found = try await returns.findReturns(search, records: false)
                try await page(found.returns.map { values($0.row) })
                sent += found.returns.count
                guard found.more, let last = found.returns.last?.row else { return }
                search.after = .init(createdAt: last.createdAt, id: last.id)
            }
        }
    }
}

extension Page {
    /// A download of `rows` as CSV (the first row the header), every field quoted as needed and a spreadsheet's
    /// formulas neutralised: a serial typed as `=…` at a kiosk must not run on an analyst's machine.
    static func csv(_ rows: [[String]], filename: String) -> Response {
        download(ByteBuffer(string: rows.map(csvLine).joined()), type: "text/csv; charset=utf-8", filename: filename)
    }

    /// One line of a CSV download, its end included: fields quoted where they must be, formulas neutralised.
    static func csvLine(_ row: [String]) -> String {
        row.map { Format.csvField($0, neutralisingFormulas: true) }.joined(separator: ",") + "\r\n"
    }

    /// One object of a JSON download: `row` keyed by `columns`, as ``download(_:_:format:name:)`` writes each.
    static func jsonObject(_ columns: [String], _ row: [String]) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: Dictionary(uniqueKeysWithValues: zip(columns, row)),
            options: [.sortedKeys, .prettyPrinted]
        )
        return String(decoding: data, as: UTF8.self)
    }

    /// Rows of text as `name`.csv (the columns first), or as `name`.json: objects keyed by the columns.
    static func download(_ columns: [String], _ rows: [[String]], format: String, name: String) throws -> Response {
        if format == "csv" { return csv([columns] + rows, filename: "\(name).csv") }
        return json(
            try JSONSerialization.data(
                withJSONObject: rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) },
                options: [.sortedKeys, .prettyPrinted]
            ),
            filename: "\(name).json"
        )
    }

    /// A download of rows read a page at a time and written as they come, as `name`.csv (the columns first) or as
    /// `name`.json (objects keyed by the columns), the same documents ``download(_:_:format:name:)`` writes: `rows`
    /// hands each page to the function it is given, and returns at the end. A list that grows without end (the
    /// audit, the returns) is never held whole; rows added while it is written may be left out.
    static func streamed(
        _ columns: [String],
        format: String,
        name: String,
        rows: @escaping @Sendable (_ page: ([[String]]) async throws -> Void) async throws -> Void
    ) -> Response {
        let csv = format == "csv"
        return streamed(csvHeader: columns, format: format, name: name) { write in
            try await rows { page in try await write(try page.map { csv ? csvLine($0) : try jsonObject(columns, $0) }) }
        }
    }

    /// A download written as it is read, as `name`.csv (`csvHeader` first) or as `name`.json (an array): `entries`
    /// hands each page of entries, already written — CSV lines (``csvLine(_:)``) or JSON objects — to the function
    /// it is given, and returns at the end; the header, the array's brackets and commas are written here.
    static func streamed(
        csvHeader: [String],
        format: String,
        name: String,
        entries: @escaping @Sendable (_ page: ([String]) async throws -> Void) async throws -> Void
    ) -> Response {
        let csv = format == "csv"
        var response = Response(
            status: .ok,
            headers: [.contentType: csv ? "text/csv; charset=utf-8" : "application/json"],
            body: ResponseBody { writer in
                var written = 0
                try await writer.write(ByteBuffer(string: csv ? csvLine(csvHeader) : "["))
                try await entries { page in
                    var text = ""
                    for entry in page {
                        if !csv { text += written == 0 ? "\n" : ",\n" }
                        text += entry
                        written += 1
                    }
                    try await writer.write(ByteBuffer(string: text))
                }
                if !csv { try await writer.write(ByteBuffer(string: written == 0 ? "]\n" : "\n]\n")) }
                try await writer.finish(nil)
            }
        )
        response.headers[.contentDisposition] = "attachment; filename=\"\(name).\(csv ? "csv" : "json")\""
        return response
    }

    /// A download of CSV already written.
    static func csv(text: String, filename: String) -> Response {
        download(ByteBuffer(string: text), type: "text/csv; charset=utf-8", filename: filename)
    }

    /// A download of a JSON document.
    static func json(_ data: Data, filename: String) -> Response {
        var buffer = ByteBuffer(bytes: data)
        buffer.writeString("\n")
        return download(buffer, type: "application/json", filename: filename)
    }

    private static func download(_ body: ByteBuffer, type: String, filename: String) -> Response {
        var response = Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: body))
        response.headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return response
    }
}
