import CommandLineSupport
import Foundation
import HQAccess
import HTTPTypes
import Hummingbird
import NIOCore
import ReplicaStore
import ReturnsServer
import ServiceLifecycle

/// The dashboard: the summary report's figures and two charts (returns by store and by reason), live.
///
/// Live without a second renderer: `/events` is a stream of server-sent events that says when HQ's data changed
/// (any process's commit: a kiosk's push, an HQ edit, another `serve` on the same PostgreSQL database), and the
/// page's script fetches the dashboard again and swaps its figures in. Without the script the page is complete;
/// it is just not live.
extension HQConsole {
    /// Sent by the page's own refreshes: they do not count as the person using the console.
    static let refreshHeader = HTTPField.Name("X-Console-Refresh")!

    func dashboard(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        async let summary = reports.summaryReport()
        async let byStore = reports.groupedReport(by: .store, withTotal: false)
        async let byReason = reports.groupedReport(by: .reason, withTotal: false)
        // The summary is one row per measure: its name, its value.
        let figures = try await summary.rows.filter { $0.count >= 2 }.map { row in
            "<div class=\"figure\"><dt>\(Page.escape(Page.text(row[0])))</dt><dd>\(Page.escape(Page.text(row[1])))</dd></div>"
        }.joined(separator: "\n")
        let charts = [
            Self.chart(try await byStore, label: "store", title: "Returns by store"),
            Self.chart(try await byReason, label: "reason", title: "Returns by reason"),
        ]
        return Page.html(
            title: "Dashboard",
            live: true,
            body: """
                \(header(signed))
                <main data-live="/events">
                <h1>Dashboard</h1>
                <p id="live" role="status" aria-live="polite">Figures as of \(Format.time(Date())); reload for the \
                latest.</p>
                <div id="live-content">
                <dl class="figures">
                \(figures)
                </dl>
                <div class="charts">
                \(charts.joined(separator: "\n"))
                </div>
                </div>
                </main>
                """
        )
    }

    /// A horizontal bar chart of a grouped report's `returns`, as SVG in the page (no script, no inline style):
    /// the ten largest groups, each bar labelled with its count; the text alternative lists them all.
    static func chart(_ report: ReplicaStore.Report, label column: String, title: String) -> String {
        let bars = report.rows.compactMap { row -> (String, Int64)? in
            guard case .number(let count)? = report.value("returns", in: row) else { return nil }
            return (report.value(column, in: row).map(Page.text) ?? "—", count)
        }.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.prefix(10)
        guard let largest = bars.map(\.1).max(), largest > 0 else {
            return
                "<figure class=\"chart\"><figcaption>\(Page.escape(title))</figcaption><p>No returns yet.</p></figure>"
        }
        let (labelWidth, barWidth, rowHeight) = (130.0, 220.0, 24.0)
        let rows = bars.enumerated().map { index, bar in
            let y = Double(index) * rowHeight
            let width = max(1, barWidth * Double(bar.1) / Double(largest))
            return """
                <text x="0" y="\(y + 16)">\(Page.escape(String(bar.0.prefix(18))))</text>\
                <rect x="\(labelWidth)" y="\(y + 4)" width="\(width)" height="16"></rect>\
                <text x="\(labelWidth + width + 4)" y="\(y + 16)">\(bar.1)</text>
                """
        }
        let description = bars.map { "\($0.0): \($0.1)" }.joined(separator: ", ")
        let height = Double(bars.count) * rowHeight + 4
        return """
            <figure class="chart"><figcaption>\(Page.escape(title))</figcaption>
            <svg viewBox="0 0 \(labelWidth + barWidth + 50) \(height)" role="img" \
            aria-label="\(Page.escape("\(title): \(description)"))">
            \(rows.joined(separator: "\n"))
            </svg></figure>
            """
    }

    /// Server-sent events for a signed-in user (``streamChanges(until:write:)`` says what they hold).
    func events(_ request: Request) async throws -> Response {
        // The browser reopens the stream by itself (it can send no header saying so): never the person's use.
        let signed = try await session(request, byPerson: false)
        let console = self
        var response = Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8"],
            body: ResponseBody { writer in
                try await console.streamChanges(
                    until: { try await console.authentication.user(for: signed.token, touching: false) == nil }
                ) { text in try await writer.write(ByteBuffer(string: text)) }
                try await writer.finish(nil)
            }
        )
        response.headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return response
    }

    /// Writes a stream of server-sent events: `event: change` whenever HQ's latest change sequence moves (looked at
    /// every ``LiveEvents/poll``), a comment every ``LiveEvents/heartbeat`` — when `signedOut` is asked too, ending
    /// the stream once it says so —, and an end after ``LiveEvents/lifetime`` or when the server shuts down.
    func streamChanges(
        until signedOut: @Sendable () async throws -> Bool,
        write: (String) async throws -> Void
    ) async throws {
        var last = try await storage.lastChangeSeq()
        // The browser reconnects 3 s after a stream ends.
        try await write("retry: 3000\n: live\n\n")
        let clock = ContinuousClock()
        let ends = clock.now.advanced(by: liveEvents.lifetime)
        var nextHeartbeat = clock.now.advanced(by: liveEvents.heartbeat)
        while clock.now < ends, !Task.isCancelled, !Task.isShuttingDownGracefully {
            try await Task.sleep(for: liveEvents.poll)
            if clock.now >= nextHeartbeat {
                nextHeartbeat = clock.now.advanced(by: liveEvents.heartbeat)
                if try await signedOut() { return }
                try await write(": still here\n\n")
            }
            let latest = try await storage.lastChangeSeq()
            if latest != last {
                last = latest
                try await write("event: change\ndata: \(latest)\n\n")
            }
        }
    }
}

/// How the dashboard's event stream paces itself.
public struct LiveEvents: Sendable {
    /// How often the stream looks for a change: the most a merged push waits to show.
    public var poll: Duration = .seconds(1)
    /// How often the stream checks the session is still live, and says something to keep proxies from closing it.
    public var heartbeat: Duration = .seconds(15)
    /// How long one stream lasts before the browser opens another (`EventSource` reconnects by itself), so no
    /// stream outlives its session for long.
    public var lifetime: Duration = .seconds(10 * 60)

    public init() {}
}

extension Page {
    /// The console's one script: it makes the dashboard live and nothing else. Every page and action works
    /// without it (it is loaded by the dashboard only, from the console itself, as the policy demands).
    static let script = """
        // ReturnSync HQ: the live dashboard. The server says when HQ's data changed; the dashboard is fetched again
        // and its figures swapped in, so the page has one renderer, the server. Fetched pages are parsed, never
        // run: the console's policy allows no inline script.
        (function () {
          const main = document.querySelector('main[data-live]');
          const status = document.getElementById('live');
          const content = document.getElementById('live-content');
          if (!main || !status || !content || !window.EventSource) return;
          let busy = false, again = false;
          async function refresh() {
            if (busy) { again = true; return; }
            busy = true;
            try {
              const response = await fetch(location.pathname, { headers: { 'X-Console-Refresh': '1' } });
              if (response.redirected || !response.ok) {
                source.close();
                status.textContent = 'Signed out: reload the page to sign in again.';
                return;
              }
              const page = new DOMParser().parseFromString(await response.text(), 'text/html');
              const fresh = page.getElementById('live-content');
              if (fresh) content.replaceChildren(...fresh.childNodes);
              status.textContent = 'Live: updated ' + new Date().toLocaleTimeString();
            } catch (error) {
              status.textContent = 'Live updates paused: ' + error.message;
            } finally {
              busy = false;
              if (again) { again = false; refresh(); }
            }
          }
          const source = new EventSource(main.dataset.live);
          source.addEventListener('open', () => { status.textContent = 'Live: figures update as pushes arrive.'; });
          source.addEventListener('change', refresh);
          source.addEventListener('error', () => { status.textContent = 'Live updates paused; reconnecting…'; });
        })();
        """
}
