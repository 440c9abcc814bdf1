import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync

/// `report --format html`: one self-contained page (inline CSS and SVG, no scripts, fonts or images from elsewhere),
/// readable in any browser and printable.
///
/// The markup is well-formed XML (every element closed, only numeric character references), so tools and tests can
/// parse it. Every chart mark carries its numbers as `data-` attributes and a `<title>` tooltip, and every chart is
/// followed by the same numbers as a table: a chart is for seeing, the table for reading exact values and for
/// screen readers.
enum HTMLReport {
    /// Colours for stores, told apart in print as well (the Tableau 10 palette).
    static let palette = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    ]

    static func render(_ data: Dashboard) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>ReturnSync returns report</title>
            <style>
            \(css)
            </style>
            </head>
            <body>
            <header>
            <h1>Returns report</h1>
            <p class="meta">Generated \(escape(timestamp(data.generatedAt))) UTC from the central server's database. \
            Totals leave out voided returns (mis-scans) and returns HQ rejected; both are counted on their own.</p>
            </header>

            """
        html += tiles(data)
        html += section("Returns per day per store", id: "per-day", perDayChart(data))
        html += section(
            "Why products came back",
            id: "reasons",
            mixChart(data.reasons, total: data.returns, kind: "reason")
        )
        html += section(
            "Where returns go",
            id: "dispositions",
            mixChart(data.dispositions, total: data.returns, kind: "disposition")
        )
        html += section("Rule violations", id: "violations", violationsTable(data))
        html += section("Recall completion", id: "recalls", recallTable(data.recallCompletion))
        html += section("Return rates by store", id: "rates", ratesTable(data.returnRates))
        html += section("Open conflicts", id: "conflicts", conflictsTable(data))
        html += section("Review queue", id: "review", reviewTable(data))
        html += "</body>\n</html>\n"
        return html
    }

    static let css = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 2rem auto;
               max-width: 980px; padding: 0 1rem; }
        h1 { font-size: 1.6rem; margin: 0; } h2 { font-size: 1.2rem; margin: 0 0 .6rem; }
        .meta { color: #666; margin: .2rem 0 1.2rem; }
        .tiles { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1.5rem; }
        .tile { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }
        .tile .value { display: block; font-size: 1.6rem; font-weight: 600; }
        .tile .label { color: #555; }
        .tile.alert .value { color: #c0392b; }
        section { margin: 0 0 2rem; page-break-inside: avoid; break-inside: avoid; }
        table { border-collapse: collapse; margin-top: .6rem; font-size: 13px; }
        th, td { border-bottom: 1px solid #e4e4e4; padding: .25rem .6rem; text-align: left; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
        td { white-space: nowrap; } tr.why td { white-space: normal; color: #c0392b; padding-left: 1.5rem; }
        svg { max-width: 100%; height: auto; } svg text { font: 11px system-ui, sans-serif; fill: #333; }
        .legend span { display: inline-block; margin-right: 1rem; }
        .legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; }
        .none, .cap { color: #666; font-style: italic; }
        p.alert { color: #c0392b; }
        details summary { cursor: pointer; color: #555; }
        @media print { body { margin: 0; max-width: none; } details { display: block; } details > * { display: block; } }
        """

    // MARK: Parts

    static func tiles(_ data: Dashboard) -> String {
        func tile(_ measure: String, _ label: String, _ value: Int, alert: Bool = false) -> String {
            "<div class=\"tile\(alert && value > 0 ? " alert" : "")\"><span class=\"value\" data-measure=\"\(measure)\">"
                + "\(value)</span><span class=\"label\">\(label)</span></div>\n"
        }
        return "<div class=\"tiles\">\n" + tile("returns", "returns", data.returns) + tile("units", "units", data.units)
            + tile("voided", "voided (not counted)", data.voided)
            + tile("rejected", "rejected by HQ (not counted)", data.rejected)
            + tile("future-dated", "dated in the future (clock skew)", data.futureDated, alert: true)
            + tile("rule-violations", "breaking a rule", data.ruleViolationCount, alert: true)
            + tile("conflicts", "returns in conflict", data.returnsInConflict, alert: true)
            + tile("review", "awaiting review", data.reviewQueueCount, alert: true) + "</div>\n"
    }

    static func section(_ title: String, id: String, _ body: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(escape(title))</h2>\n\(body)</section>\n"
    }

    /// "Showing the first N of M." when a list is capped, so a capped list is never read as the whole.
    static func capNote(shown: Int, of total: Int) -> String {
        guard total > shown else { return "" }
        return "<p class=\"cap\">Showing the first \(shown) of \(total).</p>\n"
    }

    /// A store's colour: the Tableau 10 palette, then hues a golden angle apart at two lightnesses, so any number
    /// of stores get colours no two of which are the same.
    static func color(forStoreAt index: Int) -> String {
        if index < palette.count { return palette[index] }
        let n = index - palette.count
        let hue = (Double(n) * 137.508).truncatingRemainder(dividingBy: 360)
        let lightness = [38, 52, 66][n % 3]
        return "hsl(\(String(format: "%.3f", hue)),60%,\(lightness)%)"
    }

    /// Every day from the first to the last (at most 400), so quiet days show as gaps rather than vanish.
    static func days(from first: String, to last: String) -> [String] {
        guard let start = ReturnDates.dayNumber(first), let end = ReturnDates.dayNumber(last), start <= end else {
            return [first]
        }
        return (start...min(end, start + 399)).map {
            ISO8601Milliseconds.day(of: Date(millisecondsSince1970: Int64($0) * 86_400_000))
        }
    }

    /// Stacked bars: one bar per day of the window ending on the report's day, one segment per store.
    static func perDayChart(_ data: Dashboard) -> String {
        let (first, last) = (data.firstDay, data.lastDay)
        var note = ""
        if data.futureDated > 0 {
            note =
                "<p class=\"alert\"><span data-measure=\"future-dated\">\(data.futureDated)</span> return"
                + "\(data.futureDated == 1 ? " is" : "s are") dated after this report was made: a kiosk's clock is "
                + "wrong (<code>kiosk clock show</code>). They are counted in the totals but drawn on no day.</p>\n"
        }
        guard !data.perDay.isEmpty else {
            return note + "<p class=\"none\">No returns from \(escape(first)) to \(escape(last)).</p>\n"
        }
        let days = days(from: first, to: last)
        // Month and day are enough inside one year; a window across New Year needs the year to be read right.
        let spansYears = first.prefix(4) != last.prefix(4)
        var counts: [String: [String: Int]] = [:]
        for entry in data.perDay { counts[entry.day, default: [:]][entry.store] = entry.returns }
        let color = Dictionary(uniqueKeysWithValues: data.stores.enumerated().map { ($1, Self.color(forStoreAt: $0)) })
        let peak = max(1, days.map { counts[$0]?.values.reduce(0, +) ?? 0 }.max() ?? 1)
        let scaleTop = niceCeiling(peak)
        let (width, height, left, bottom, top) = (900.0, 280.0, 44.0, 36.0, 12.0)
        let plotHeight = height - bottom - top
        let slot = (width - left - 8) / Double(days.count)
        let barWidth = max(2, slot * 0.72)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" "
            + "aria-label=\"Returns per day per store, \(escape(first)) to \(escape(last))\">\n"
        // Gridlines and the scale, at quarters of a round top.
        for step in 0...4 {
            let value = scaleTop * step / 4
            let y = top + plotHeight - plotHeight * Double(value) / Double(scaleTop)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - 8))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(value)</text>\n"
        }
        let labelEvery = max(1, Int((Double(days.count) / (spansYears ? 8 : 12)).rounded(.up)))
        for (index, day) in days.enumerated() {
            let x = left + Double(index) * slot + (slot - barWidth) / 2
            var y = top + plotHeight
            for store in data.stores {
                guard let n = counts[day]?[store], n > 0 else { continue }
                let h = plotHeight * Double(n) / Double(scaleTop)
                y -= h
                svg += "<rect class=\"bar\" data-day=\"\(day)\" data-store=\"\(escape(store))\" data-returns=\"\(n)\" "
                svg +=
                    "x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(barWidth))\" height=\"\(f(h))\" fill=\"\(color[store]!)\">"
                svg += "<title>\(escape(store)), \(day): \(n) return\(n == 1 ? "" : "s")</title></rect>\n"
            }
            // Every few days, and always the report's day, leaving out a label that would run into that one.
            let last = index == days.count - 1
            if last || index % labelEvery == 0 && days.count - 1 - index >= labelEvery {
                svg += "<text class=\"day\" x=\"\(f(x + barWidth / 2))\" y=\"\(f(height - bottom + 16))\" "
                svg += "text-anchor=\"middle\">\(spansYears ? day : String(day.dropFirst(5)))</text>\n"
            }
        }
        svg += "</svg>\n"
        let legend =
            "<p class=\"legend\">"
            + data.stores.map { "<span><i style=\"background:\(color[$0]!)\"></i>\(escape($0))</span>" }.joined()
            + "</p>\n"
        // The numbers, day by store.
        var table = "<details><summary>The numbers</summary>\n<table class=\"per-day\">\n<tr><th>day</th>"
        table += data.stores.map { "<th class=\"n\">\(escape($0))</th>" }.joined() + "<th class=\"n\">all</th></tr>\n"
        for day in days {
            let row = data.stores.map { counts[day]?[$0] ?? 0 }
            table += "<tr><td>\(day)</td>" + row.map { "<td class=\"n\">\($0)</td>" }.joined()
            table += "<td class=\"n\">\(row.reduce(0, +))</td></tr>\n"
        }
        table += "</table>\n</details>\n"
        return note + svg + legend + table
    }

    /// Horizontal bars, largest first, with counts and shares.
    static func mixChart(_ mix: [(key: String, returns: Int)], total: Int, kind: String) -> String {
        guard !mix.isEmpty else { return "<p class=\"none\">No returns yet.</p>\n" }
        let peak = max(1, mix.map(\.returns).max() ?? 1)
        let (width, row, labelWidth) = (900.0, 24.0, 170.0)
        let barSpace = width - labelWidth - 120
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(Double(mix.count) * row + 8))\" "
            + "role=\"img\" aria-label=\"Returns by \(kind)\">\n"
        var table =
            "<table class=\"mix\">\n<tr><th>\(kind)</th><th class=\"n\">returns</th><th class=\"n\">share</th></tr>\n"
        for (index, entry) in mix.enumerated() {
            let y = 4 + Double(index) * row
            let length = max(1, barSpace * Double(entry.returns) / Double(peak))
            let share = total > 0 ? Double(entry.returns) / Double(total) * 100 : 0
            let label = escape(entry.key)
            svg += "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y + 15))\" text-anchor=\"end\">\(label)</text>"
            svg += "<rect class=\"bar\" data-key=\"\(label)\" data-returns=\"\(entry.returns)\" x=\"\(f(labelWidth))\" "
            svg += "y=\"\(f(y + 3))\" width=\"\(f(length))\" height=\"\(f(row - 8))\" "
            svg += "fill=\"\(color(forStoreAt: index))\"><title>\(label): \(entry.returns)</title></rect>"
            svg += "<text x=\"\(f(labelWidth + length + 6))\" y=\"\(f(y + 15))\">\(entry.returns) ("
            svg += String(format: "%.1f", share) + "%)</text>\n"
            table += "<tr><td>\(label)</td><td class=\"n\">\(entry.returns)</td><td class=\"n\">"
            table += String(format: "%.1f", share) + "%</td></tr>\n"
        }
        svg += "</svg>\n"
        return svg + "<details><summary>The numbers</summary>\n" + table + "</table>\n</details>\n"
    }

    static func violationsTable(_ data: Dashboard) -> String {
        var html =
            "<p><span data-measure=\"rule-violations\">\(data.ruleViolationCount)</span> return"
            + "\(data.ruleViolationCount == 1 ? " breaks" : "s break") a lifecycle rule after a merge (concurrent "
            + "edits on two replicas). Fix each by editing what the rule names (<code>returns-server returns "
            + "disposition ID VALUE</code>, for example).</p>\n"
        guard !data.ruleViolations.isEmpty else { return html }
        html += capNote(shown: data.ruleViolations.count, of: data.ruleViolationCount)
        // The rule in words gets a full-width row of its own: it is the line the reader needs whole.
        html += "<table class=\"violations\">\n<tr><th>return</th><th>store</th><th>disposition</th></tr>\n"
        for item in data.ruleViolations {
            html += "<tr><td><code>\(escape(item.id))</code></td><td>\(escape(item.store))</td>"
            html += "<td>\(escape(item.disposition))</td></tr>\n<tr class=\"why\"><td colspan=\"3\">"
            html += item.problems.map(escape).joined(separator: "<br/>") + "</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// A report's table as HTML, numbers right-aligned; `percent` columns shown as percentages.
    static func reportTable(
        _ report: ReplicaStore.Report,
        class name: String,
        headers: [String: String],
        percent: Set<String>
    ) -> String {
        var html = "<table class=\"\(name)\">\n<tr>"
        for column in report.columns {
            let numeric = !["campaign", "store", "vendor"].contains(column)
            html += "<th\(numeric ? " class=\"n\"" : "")>\(escape(headers[column] ?? column))</th>"
        }
        html += "</tr>\n"
        for row in report.rows {
            html += "<tr>"
            for (column, value) in zip(report.columns, row) {
                switch value {
                case .text(let text): html += "<td>\(escape(text))</td>"
                case .number(let number): html += "<td class=\"n\">\(number)</td>"
                case .decimal(let number) where percent.contains(column):
                    html += "<td class=\"n\">" + String(format: "%.1f", number * 100) + "%</td>"
                case .decimal(let number): html += "<td class=\"n\">\(number)</td>"
                case .none: html += "<td class=\"n\">—</td>"
                }
            }
            html += "</tr>\n"
        }
        return html + "</table>\n"
    }

    static func recallTable(_ report: ReplicaStore.Report) -> String {
        guard !report.rows.isEmpty else { return "<p class=\"none\">No recall campaigns.</p>\n" }
        return
            "<p>Units returned per campaign and store (certain matches; uncertain ones are still being inspected), "
            + "against the units the campaign covers, and of them those found on returns captured before the campaign "
            + "existed. A campaign with no returns yet shows 0.</p>\n"
            + reportTable(
                report,
                class: "recalls",
                headers: [
                    "returns": "returns", "unitsReturned": "units returned", "uncertainUnits": "uncertain units",
                    "unitsAffected": "units affected", "unitsFoundLater": "found after capture",
                ],
                percent: ["completion"]
            )
    }

    static func ratesTable(_ report: ReplicaStore.Report) -> String {
        "<p>Returns and units as taken back at each store; returned units count against the store that "
            + "<em>sold</em> the unit when its order line is known (else the store that took it back), so the return rate "
            + "is returned units / units sold by that store.</p>\n"
            + reportTable(
                report,
                class: "rates",
                headers: ["returnedUnits": "returned units", "soldUnits": "units sold", "returnRate": "return rate"],
                percent: ["returnRate"]
            )
    }

    static func conflictsTable(_ data: Dashboard) -> String {
        var html =
            "<p><span data-measure=\"open-conflicts\">\(data.openConflictCount)</span> open conflict"
            + "\(data.openConflictCount == 1 ? "" : "s") in \(data.returnsInConflict) return"
            + "\(data.returnsInConflict == 1 ? "" : "s"). Every replica shows the same value meanwhile; HQ settles one "
            + "with <code>returns-server conflicts resolve ID FIELD VALUE</code>.</p>\n"
        guard !data.openConflicts.isEmpty else { return html }
        html += capNote(shown: data.openConflicts.count, of: data.openConflictCount)
        html += "<table class=\"conflicts\">\n<tr><th>return</th><th>field</th><th>values</th><th>shown</th></tr>\n"
        for conflict in data.openConflicts {
            html += "<tr><td><code>\(escape(conflict.recordID))</code></td>"
            html += "<td>\(escape(ReturnEntity.label(of: conflict.field)))</td>"
            html += "<td>\(conflict.values.map { escape(ReturnEntity.plainText($0)) }.joined(separator: " or "))</td>"
            html += "<td>\(escape(ReturnEntity.plainText(conflict.shown)))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    static func reviewTable(_ data: Dashboard) -> String {
        var html =
            "<p><span data-measure=\"review-queue\">\(data.reviewQueueCount)</span> return"
            + "\(data.reviewQueueCount == 1 ? "" : "s") waiting for HQ's decision "
            + "(<code>returns-server review approve|reject ID</code>).</p>\n"
        guard !data.reviewQueue.isEmpty else { return html }
        html += capNote(shown: data.reviewQueue.count, of: data.reviewQueueCount)
        html += "<table class=\"review\">\n<tr><th>return</th><th>store</th><th>reason</th><th>verification</th>"
        html += "<th>captured</th></tr>\n"
        for item in data.reviewQueue {
            html += "<tr><td><code>\(escape(item.id))</code></td><td>\(escape(item.store))</td>"
            html += "<td>\(escape(item.reason))</td><td>\(escape(item.verification ?? "—"))</td>"
            html += "<td>\(escape(timestamp(item.createdAt)))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    // MARK: Helpers

    /// The smallest of 1, 2, 5 × 10ⁿ (or 4 for tiny values) at or above `value`: a scale that reads well.
    static func niceCeiling(_ value: Int) -> Int {
        if value <= 4 { return 4 }
        var magnitude = 1
        while magnitude * 10 <= value { magnitude *= 10 }
        for step in [1, 2, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    /// Text for HTML content and attribute values; characters outside ASCII as numeric references.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if scalar.isASCII && scalar.value >= 0x20 || scalar == "\n" {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "&#\(scalar.value);"
                }
            }
        }
        return out
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date).replacingOccurrences(of: "T", with: " ")
    }
}
