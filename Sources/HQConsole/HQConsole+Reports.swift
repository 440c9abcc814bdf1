import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import NIOCore
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// Every report of `returns-server report`, chosen on the page, with its totals and its note, and its CSV and JSON
/// as the command line writes them.
extension HQConsole {
    /// The report a request asks for: `by` (default `store`) and `money`; a bad choice is named
    /// (``ReportSource/report(by:money:withTotal:)`` checks it).
    func requestedReport(_ request: Request) async throws -> (by: String, money: Bool, report: ReplicaStore.Report) {
        let by = request.uri.queryParameters.get("by") ?? "store"
        let money = request.uri.queryParameters.get("money") == "yes"
        return (by, money, try await reports.report(by: by, money: money, withTotal: true))
    }

    func reportsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        var chosen = (by: request.uri.queryParameters.get("by") ?? "store", money: false)
        var content: String
        var status = HTTPResponse.Status.ok
        do {
            let (by, money, report) = try await requestedReport(request)
            chosen = (by, money)
            let note = ReportNotes.note(by: by, money: money).map {
                "<p class=\"note\">\(Page.escape($0.replacingOccurrences(of: "\n", with: " ")))</p>"
            }
            let query = "by=\(Page.percentEncoded(by))\(money ? "&money=yes" : "")"
            content = """
                <p>Download: <a href="/reports.csv?\(query)">CSV</a>, <a href="/reports.json?\(query)">JSON</a></p>
                \(Page.table(report))
                \(note ?? "")
                """
        } catch {
            status = .badRequest
            content = "<p class=\"error\" role=\"alert\">\(Page.escape("\(error)"))</p>"
        }
        let options = ReportNotes.kinds.map {
            "<option value=\"\($0)\"\($0 == chosen.by ? " selected" : "")>\($0)</option>"
        }.joined()
        return Page.html(
            title: "Reports",
            status: status,
            body: """
                \(header(signed))
                <main>
                <h1>Reports</h1>
                <form method="get" action="/reports" class="filters">
                <div><label for="by">Report</label><select id="by" name="by">\(options)</select></div>
                <div><label for="money"><input type="checkbox" id="money" name="money" value="yes"\
                \(chosen.money ? " checked" : "")> Money (by store, reason, status, disposition or GTIN)</label></div>
                <button type="submit">Show</button>
                </form>
                \(content)
                <h2>EPCIS 2.0 export</h2>
                <form method="get" action="/export/epcis" class="filters">
                <div><label for="epcis-store">Store (empty: every store)</label><input id="epcis-store" name="store"></div>
                <div><label for="epcis-since">Since (ISO 8601 time, optional)</label><input id="epcis-since" name="since"></div>
                <button type="submit">Download EPCIS</button>
                </form>
                <p class="note">The returns' lifecycle as GS1 EPCIS 2.0 JSON-LD, as <code>returns-server export epcis</code> \
                writes it (docs/epcis.md).</p>
                </main>
                """
        )
    }

    func reportsDownload(_ request: Request, format: String) async throws -> Response {
        _ = try await session(request)
        do {
            let (by, money, report) = try await requestedReport(request)
            let name = "report-\(by)\(money ? "-money" : "").\(format)"
            let text = ReportNotes.render(report, as: format) + "\n"
            return format == "csv"
                ? Page.csv(text: text, filename: name) : Page.json(Data(text.utf8).dropLast(), filename: name)
        } catch {
            return Response(
                status: .badRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "\(error)\n"))
            )
        }
    }
}

/// The EPCIS 2.0 export as a download: `returns-server export epcis`, streamed as it is read.
extension HQConsole {
    func epcisDownload(_ request: Request) async throws -> Response {
        _ = try await session(request)
        let store: StoreID?
        let since: Date?
        do {
            store = try Self.given(request.uri.queryParameters.get("store")).map(StoreID.init)
            since = try Self.given(request.uri.queryParameters.get("since")).map { text in
                guard let date = ISO8601Milliseconds.parse(text) else {
                    throw ConsoleInputError(
                        "invalid since '\(text)': expected an ISO 8601 time such as 2026-12-04T09:30:00Z"
                    )
                }
                return date
            }
        } catch {
            return Response(
                status: .badRequest,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "\(error)\n"))
            )
        }
        let storage = self.storage
        var response = Response(
            status: .ok,
            headers: [.contentType: "application/ld+json"],
            body: ResponseBody { writer in
                _ = try await EPCISExportStream.write(from: storage, store: store, since: since, creationDate: Date()) {
                    try await writer.write(ByteBuffer(string: $0))
                }
                try await writer.finish(nil)
            }
        )
        response.headers[.contentDisposition] = "attachment; filename=\"returns-epcis.jsonld\""
        return response
    }
}
