import ReturnsModel

/// A printable return label: what a person at the back of the store needs to route a returned unit — where it
/// goes, in large type, and its id as a barcode any store scanner reads back.
///
/// The label is SVG, laid out for a 6 × 4 in label (the common 4 × 6 in thermal label, landscape) or A6
/// (148 × 105 mm); a printer driver rotates it to its feed. SVG keeps it exact at any printer resolution and needs
/// nothing to write.
public struct ReturnLabel: Sendable {
    /// The label stock.
    public enum Size: String, Sendable, CaseIterable {
        /// 6 × 4 in.
        case inches4x6 = "4x6"
        /// 148 × 105 mm.
        case a6

        /// Width and height in CSS pixels (1/96 in), and as SVG lengths.
        var box: (width: Double, height: Double, widthText: String, heightText: String) {
            switch self {
            case .inches4x6: (576, 384, "6in", "4in")
            case .a6: (148 / 25.4 * 96, 105 / 25.4 * 96, "148mm", "105mm")
            }
        }
    }

    /// The return the label is for, as it stands.
    public var item: ProductReturn
    /// The label stock.
    public var size: Size

    /// A label for `item` on `size` stock.
    public init(_ item: ProductReturn, size: Size = .inches4x6) {
        self.item = item
        self.size = size
    }

    /// Where the unit goes, in words for the person carrying it, and whether it must be kept apart (drawn in red).
    public var destination: (text: String, detail: String?, alarm: Bool) {
        let recall = item.recallCampaign.map { "recall \($0)" }
        switch item.disposition {
        case .restock: return ("RESTOCK SHELF", nil, false)
        case .repackage: return ("REPACKAGE, THEN SHELF", nil, false)
        case .repair: return ("REPAIR", item.repair.map { "repairer \($0.vendor)" }, false)
        case .returnToVendor:
            let rma = item.vendorShipment.map { "RMA \($0.rma)" + ($0.carrier.map { " via \($0)" } ?? "") }
            return ("RETURN TO VENDOR", rma ?? "RMA not yet issued", false)
        case .recycle: return ("RECYCLER", nil, false)
        case .dispose: return ("DISPOSAL", nil, false)
        case .quarantine: return ("QUARANTINE CAGE", recall ?? "keep apart until released", true)
        case .undecided:
            return item.recallCampaign == nil
                ? ("AWAITING DISPOSITION", nil, false) : ("QUARANTINE CAGE", recall, true)
        }
    }

    /// The label as an SVG document.
    ///
    /// - Throws: ``Code128/Unencodable`` if the id is not printable ASCII (a return id always is).
    public func svg() throws -> String {
        let (width, height, widthText, heightText) = size.box
        let margin = 18.0
        var body: [String] = []
        func text(
            _ value: String,
            x: Double,
            y: Double,
            size: Double,
            weight: String = "normal",
            fill: String = "#000",
            anchor: String = "start"
        )
            -> String
        {
            """
            <text x="\(number(x))" y="\(number(y))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" \
            font-size="\(number(size))" font-weight="\(weight)" fill="\(fill)" text-anchor="\(anchor)">\
            \(escaped(value))</text>
            """
        }
        let shortID = String(item.id.rawValue.prefix(13))
        body.append(text(item.storeID.rawValue.uppercased(), x: margin, y: 38, size: 26, weight: "bold"))
        body.append(text("RETURN \(shortID)", x: width - margin, y: 38, size: 20, weight: "bold", anchor: "end"))

        // The barcode: a quiet zone of ten modules each side, bars at least 1/96 in wide.
        let modules = try Code128.modules(item.id.rawValue)
        let module = max(1, ((width - 2 * margin) / Double(modules.count + 20) * 100).rounded(.down) / 100)
        let barTop = 52.0
        let barHeight = 86.0
        var x = margin + 10 * module
        var bars = ""
        var index = 0
        while index < modules.count {
            var run = 1
            while index + run < modules.count, modules[index + run] == modules[index] { run += 1 }
            if modules[index] {
                bars +=
                    "M\(number(x)) \(number(barTop))h\(number(Double(run) * module))v\(number(barHeight))"
                    + "h-\(number(Double(run) * module))z"
            }
            x += Double(run) * module
            index += run
        }
        body.append(
            "<rect x=\"0\" y=\"\(number(barTop - 4))\" width=\"\(number(width))\" height=\"\(number(barHeight + 8))\" fill=\"#fff\"/>"
        )
        body.append("<path d=\"\(bars)\" fill=\"#000\"/>")
        body.append(text(item.id.rawValue, x: margin + 10 * module, y: barTop + barHeight + 16, size: 12))

        let product =
            "GTIN \(item.gtin.digits)" + (item.serial.map { "  serial \($0.rawValue)" } ?? "")
            + (item.lot.map { "  lot \($0.rawValue)" } ?? "") + "  qty \(item.quantity)"
        body.append(text(product, x: margin, y: 180, size: 15))
        body.append(
            text(
                "reason \(item.reason.rawValue)   condition \(item.condition.rawValue)   disposition "
                    + item.disposition.rawValue,
                x: margin,
                y: 202,
                size: 13
            )
        )
        let (where_, detail, alarm) = destination
        let boxTop = 218.0
        let boxHeight = height - boxTop - margin
        let ink = alarm ? "#c00000" : "#000"
        body.append(
            "<rect x=\"\(number(margin))\" y=\"\(number(boxTop))\" width=\"\(number(width - 2 * margin))\" "
                + "height=\"\(number(boxHeight))\" fill=\"\(alarm ? "#c00000" : "#fff")\" stroke=\"\(ink)\" "
                + "stroke-width=\"4\"/>"
        )
        let textInk = alarm ? "#fff" : "#000"
        body.append(text(where_, x: margin + 14, y: boxTop + 52, size: 38, weight: "bold", fill: textInk))
        if let detail {
            // Free text (a repairer's name, a carrier) is cut to what fits the box at this size.
            let fitting = detail.count > 44 ? String(detail.prefix(43)) + "…" : detail
            body.append(text(fitting, x: margin + 14, y: boxTop + 90, size: 20, fill: textInk))
        }
        if item.status == .voided {
            body.append(
                text(
                    "VOIDED — DO NOT ROUTE",
                    x: margin + 14,
                    y: boxTop + boxHeight - 14,
                    size: 18,
                    weight: "bold",
                    fill: textInk
                )
            )
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(widthText)" height="\(heightText)" \
            viewBox="0 0 \(number(width)) \(number(height))">
            <title>Return \(escaped(item.id.rawValue))</title>
            <rect width="100%" height="100%" fill="#fff"/>
            \(body.joined(separator: "\n"))
            </svg>

            """
    }

    /// A length with at most two decimals, as SVG reads it.
    private func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    /// Text safe inside an SVG element or attribute.
    private func escaped(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default:
                // Control characters are not allowed in XML 1.0 at all.
                if character.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\t" }) { result.append(character) }
            }
        }
        return result
    }
}
