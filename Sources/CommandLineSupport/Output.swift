import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

extension Console {
    /// Writes `value` as pretty-printed JSON with sorted keys.
    public func printJSON(_ value: some Encodable) throws {
        var data = try ReturnDocument.makeEncoder(prettyPrinted: true).encode(value)
        data.append(UInt8(ascii: "\n"))
        writeOut(data)
    }
}

/// The JSON form of a conflict audit entry in `conflicts --json`.
public struct ConflictDocument: Encodable {
    var id: Int64
    var entityType: String
    var recordId: String
    var field: String
    var values: [DottedValue]
    var winner: DottedValue
    var detectedAt: Date
    var detectedBy: String
    var open: Bool
    /// Dot → the operator who made that write, where one was named.
    var operators: [String: String]

    public init(_ entry: ConflictAuditEntry) {
        id = entry.id
        entityType = entry.entityType
        recordId = entry.recordID
        field = entry.field
        values = entry.values
        winner = entry.winner
        detectedAt = entry.detectedAt
        detectedBy = entry.detectedBy
        open = entry.isOpen
        operators = entry.operators
    }
}

/// The JSON form of `kiosk status --json`.
public struct StatusDocument: Encodable {
    var replicaId: String
    var role: String
    var storeId: String?
    var kioskId: String?
    var returns: [String: Int]
    var totalReturns: Int
    var unsyncedChanges: Int
    var lastSyncAt: Date?
    var needsReview: Int
    var inConflict: Int
    var quarantined: Int
    var timeZone: String?
    var attachmentsUnsent: Int
    var attachmentBytesUnsent: Int64
    var storage: StorageDocument?

    /// `storage` in `kiosk status --json`: a kiosk's database and retention (`null` on a server).
    struct StorageDocument: Encodable {
        var databaseBytes: Int64
        var freeBytes: Int64
        var retentionDays: Int
        var retentionSetByHQ: Bool
        var prunableReturns: Int
        var prunableOrderLines: Int
    }

    public init(_ status: ReplicaStatus) {
        replicaId = status.identity.replicaID.rawValue
        role = status.identity.role.rawValue
        storeId = status.identity.storeID?.rawValue
        kioskId = status.identity.kioskID?.rawValue
        returns = Dictionary(uniqueKeysWithValues: status.returnsByStatus.map { ($0.key.rawValue, $0.value) })
            .merging(status.newerStatuses) { known, _ in known }
        totalReturns = status.totalReturns
        unsyncedChanges = status.unsyncedChanges
        lastSyncAt = status.lastSyncAt
        needsReview = status.needsReview
        inConflict = status.inConflict
        quarantined = status.quarantined
        timeZone = status.timeZone?.identifier
        attachmentsUnsent = status.attachmentsUnsent
        attachmentBytesUnsent = status.attachmentBytesUnsent
        storage = status.retention.map {
            StorageDocument(
                databaseBytes: $0.databaseBytes,
                freeBytes: $0.freeBytes,
                retentionDays: $0.retentionDays,
                retentionSetByHQ: $0.setByHQ,
                prunableReturns: $0.prunableReturns,
                prunableOrderLines: $0.prunableOrderLines
            )
        }
    }

    enum CodingKeys: String, CodingKey {
        case replicaId, role, storeId, kioskId, returns, totalReturns, unsyncedChanges, lastSyncAt, needsReview
        case inConflict, quarantined, timeZone, attachmentsUnsent, attachmentBytesUnsent, storage
    }

    // Optional keys are written as null rather than left out, so scripts can rely on every key being there.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replicaId, forKey: .replicaId)
        try container.encode(role, forKey: .role)
        try container.encode(storeId, forKey: .storeId)
        try container.encode(kioskId, forKey: .kioskId)
        try container.encode(returns, forKey: .returns)
        try container.encode(totalReturns, forKey: .totalReturns)
        try container.encode(unsyncedChanges, forKey: .unsyncedChanges)
        try container.encode(lastSyncAt, forKey: .lastSyncAt)
        try container.encode(needsReview, forKey: .needsReview)
        try container.encode(inConflict, forKey: .inConflict)
        try container.encode(quarantined, forKey: .quarantined)
        try container.encode(timeZone, forKey: .timeZone)
        try container.encode(attachmentsUnsent, forKey: .attachmentsUnsent)
        try container.encode(attachmentBytesUnsent, forKey: .attachmentBytesUnsent)
        try container.encode(storage, forKey: .storage)
    }
}

/// Human-readable output.
public enum Format {
    /// Left-aligned columns separated by two spaces, with a header row.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        // One line per row whatever a cell holds: line breaks and other controls in values are written visibly.
        let rows = rows.map { $0.map { $0.escapingControlCharacters() } }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
    ///
    /// - Parameter neutralisingFormulas: for a text cell: one starting with `=`, `+`, `-`, `@`, a tab or a carriage
    ///   return, which a spreadsheet would run as a formula, gets a leading `'` and quotes (OWASP's advice on CSV
    ///   injection). Numbers are never text cells, so they stay numbers.
    public static func csvField(_ text: String, neutralisingFormulas: Bool = false) -> String {
        var text = text
        var quoted = text.contains { $0 == "," || $0 == "\"" || $0.isNewline }
        if neutralisingFormulas, let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) {
            text = "'" + text
            quoted = true
        }
        return quoted ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    public static func time(_ millis: Int64) -> String {
        time(Date(millisecondsSince1970: millis))
    }

    public static func time(_ date: Date) -> String {
        // Minutes are enough in a table; JSON output carries milliseconds.
        String(ISO8601Milliseconds.format(date).prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    /// `review` (a merge broke a lifecycle rule), `conflict` (a field in conflict), `exception` (waiting for HQ's
    /// decision on a policy or verification exception).
    public static func flags(needsReview: Bool, inConflict: Bool, awaitsReview: Bool = false) -> String {
        [needsReview ? "review" : nil, inConflict ? "conflict" : nil, awaitsReview ? "exception" : nil]
            .compactMap { $0 }.joined(separator: ",")
    }

    /// A stored return in full, with the hazard and instructions of the recall campaign it matched.
    public static func returnDetails(_ record: VersionedRecord, in store: ReplicaStore) throws -> String {
        let campaign = try ProductReturn(record: record).recallCampaign
        return try returnDetails(
            record,
            recall: campaign.flatMap { id in try store.recalls().first { $0.id == id } }
        )
    }

    /// A return in full, for `show`: every section `--json` has, then its rule violations, open conflicts and notes.
    ///
    /// - Parameter recall: the campaign the return matched, when this replica knows it: its hazard and
    ///   instructions are what staff must act on.
    public static func returnDetails(_ record: VersionedRecord, recall: RecallCampaign? = nil) throws -> String {
        let item = try ProductReturn(record: record)
        // A newer release's value is shown as it is spelled, marked: this release reads it as the nearest it knows.
        func shown(_ field: String, _ known: String) -> String {
            item.newerValues[field].map { "\($0) (newer)" } ?? known
        }
        typealias Field = ReturnEntity.Field
        var lines = [
            "id           \(item.id)",
            "store        \(item.storeID)  kiosk \(item.kioskID)",
            "order        \(item.orderID)",
            "gtin         \(item.gtin)",
            "serial       \(item.serial?.rawValue ?? "-")  lot \(item.lot?.rawValue ?? "-")  expiry \(item.expiry ?? "-")",
            "quantity     \(item.quantity)",
            "reason       \(shown(Field.reason, item.reason.rawValue))",
            "status       \(shown(Field.status, item.status.rawValue))",
            "condition    \(shown(Field.condition, item.condition.rawValue))  test "
                + shown(Field.testResult, item.testResult.rawValue),
            "disposition  \(shown(Field.disposition, item.disposition.rawValue))",
            "recall       "
                + (item.recallCampaign.map {
                    "\($0) (\(shown(Field.recallMatch, item.recallMatch?.rawValue ?? "certain")) match)"
                } ?? "-"),
            "repair       "
                + (item.repair.map { repair in
                    "\(repair.vendor), \(shown(Field.repairStatus, repair.status.rawValue)), sent \(repair.sentOn)"
                        + (repair.backOn.map { ", back \($0)" } ?? "")
                        + (repair.turnaroundDays.map { " (\($0) day\($0 == 1 ? "" : "s"))" } ?? "")
                } ?? "-"),
            "hand-off     "
                + (item.handoff.map { handoff in
                    "\(handoff.party) on \(handoff.handedOverOn), document \(handoff.document)"
                        + (handoff.weightGrams.map { ", \($0) g" } ?? "")
                        + (handoff.count.map { ", \($0) units" } ?? "")
                } ?? "-"),
            "vendor RMA   "
                + (item.vendorShipment.map { shipment in
                    shipment.rma + (shipment.carrier.map { ", \($0)" } ?? "")
                        + (shipment.tracking.map { " \($0)" } ?? "")
                        + (shipment.shippedOn.map { ", shipped \($0)" } ?? ", not shipped yet")
                } ?? "-")
                + (item.vendorCredit.map {
                    ", credit \($0.currency.format($0.amountMinor)) \($0.currency) on \($0.receivedOn)"
                }
                    ?? ""),
            "purchase     \(item.verification.map { shown(Field.verification, $0.rawValue) } ?? "-")"
                + (item.receipt ? "" : ", no receipt")
                + (item.customerRef.map { ", customer \($0.rawValue)" } ?? ""),
            "exceptions   \(item.exceptions.isEmpty ? "-" : item.exceptions.map(\.rawValue).joined(separator: ", "))"
                + (item.awaitsReview ? " (awaiting HQ review)" : ""),
            "review       "
                + (item.review.map { "\($0.outcome.rawValue)\($0.note.map { ": \($0)" } ?? "")" }
                    ?? item.newerValues[Field.reviewOutcome].map { "\($0) (newer)" } ?? "-"),
            "refund       "
                + (item.refund.map { refund in
                    refund.summary.replacingOccurrences(
                        of: " by \(refund.method.rawValue)",
                        with: " by \(shown(Field.refundMethod, refund.method.rawValue))"
                    ) + (refund.reason.map { " (amount changed: \($0))" } ?? "")
                        + (refund.decidedBy.map { ", by \($0)" } ?? "")
                } ?? "-"),
            "created      \(ISO8601Milliseconds.format(item.createdAt))",
            "updated      \(ISO8601Milliseconds.format(item.updatedAt))",
            "clock        \(record.clock)",
        ]
        for attachment in item.attachments {
            lines.append(
                "attachment   \(attachment.digest.prefix(12)) \(attachment.mediaType.rawValue), \(attachment.size) bytes"
                    + (attachment.caption.map { ": \($0)" } ?? "")
            )
        }
        // Fields a newer version wrote: kept and forwarded untouched, shown for what they are.
        for (field, values) in ReturnEntity.unknownFields(of: record) {
            lines.append("unknown      \(field) = \(values.map(\.description).joined(separator: ", ")) (newer)")
        }
        if !item.newerValues.isEmpty {
            lines.append(
                "NEWER        values of a newer release, kept as they are: upgrade this replica to change this return"
            )
        }
        for violation in ReturnRules.violations(of: item) {
            lines.append("REVIEW       \(violation)")
        }
        let conflicts = record.openConflicts(policy: ReturnEntity.policy)
        // Two refunds always differ in who decided them: a conflict there is a second refund.
        if conflicts.contains(where: { $0.field == ReturnEntity.Field.refundBy }) {
            lines.append("ALERT        refunded twice: two places refunded this return concurrently (see CONFLICT)")
        }
        for conflict in conflicts {
            let values = conflict.values.map { "\($0.value) (\($0.dot))" }.joined(separator: ", ")
            lines.append("CONFLICT     \(conflict.field): \(values); showing \(conflict.winner.value)")
        }
        for edit in ReturnEdit.history(of: record) {
            lines.append("edited       \(time(edit.at))  \(edit.operatorID) at \(edit.replica) (write \(edit.counter))")
        }
        if item.notes.isEmpty {
            lines.append("notes        -")
        }
        for note in item.notes {
            lines.append("note         \(time(note.createdAt))  \(note.author): \(note.text)")
        }
        if let recall, let index = lines.firstIndex(where: { $0.hasPrefix("recall ") }) {
            lines.insert(
                contentsOf: ["  hazard     \(recall.hazard)", "  do         \(recall.instructions)"],
                at: index + 1
            )
        }
        // Each line one line, whatever a note or a value holds.
        return lines.map { $0.escapingControlCharacters() }.joined(separator: "\n")
    }

    public static func conflictsTable(_ entries: [ConflictAuditEntry]) -> String {
        let body = entries.map { entry in
            [
                entry.recordID, entry.field,
                entry.values.map { value in
                    "\(value.value)@\(value.dot)" + (entry.operators[value.dot.description].map { " by \($0)" } ?? "")
                }.joined(separator: " | "),
                entry.winner.value.description, time(entry.detectedAt), entry.detectedBy,
                entry.isOpen ? "open" : "resolved",
            ]
        }
        let header = ["RECORD", "FIELD", "VALUES", "SHOWN", "DETECTED", "BY", "STATE"]
        return table(header, body) + "\n\(entries.count) conflict\(entries.count == 1 ? "" : "s")"
    }

    /// What pruning let go, in a sentence: `pruned 42 returns and 1,200 order lines (...)`.
    public static func pruned(_ report: PruneReport) -> String {
        "pruned \(report.returns) return\(report.returns == 1 ? "" : "s") and \(report.orderLines) order "
            + "line\(report.orderLines == 1 ? "" : "s")"
            + (report.attachments > 0 ? ", with \(report.attachments) photo\(report.attachments == 1 ? "" : "s")" : "")
            + " (closed or voided over \(report.retentionDays) days ago, or past their return window; HQ keeps "
            + "them: kiosk fetch ID)"
            + (report.histories > 0
                ? "; dropped the settled-conflict history of \(report.histories) record"
                    + "\(report.histories == 1 ? "" : "s") (HQ keeps it)" : "")
    }

    /// `12.3 MB`: a size in megabytes (10^6 bytes), one decimal.
    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }

    public static func status(_ status: ReplicaStatus) -> String {
        let identity = status.identity
        var lines = ["replica      \(identity.replicaID) (\(identity.role.rawValue))"]
        if let store = identity.storeID, let kiosk = identity.kioskID {
            lines.append("store        \(store)  kiosk \(kiosk)  time zone \(status.timeZone ?? .utc)")
        }
        let counts =
            ReturnStatus.allCases.map { "\($0.rawValue) \(status.returnsByStatus[$0] ?? 0)" }
            + status.newerStatuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) (newer)" }
        lines.append("returns      \(status.totalReturns): " + counts.joined(separator: ", "))
        lines.append("review       \(status.needsReview) flagged, \(status.inConflict) in conflict")
        lines.append("unsynced     \(status.unsyncedChanges)")
        if status.attachmentsUnsent > 0 {
            lines.append(
                "attachments  \(status.attachmentsUnsent) (\(status.attachmentBytesUnsent) bytes) not yet sent; the next "
                    + "sync sends them after the records"
            )
        }
        if status.quarantined > 0 {
            lines.append(
                "quarantined  \(status.quarantined) refused by the server, not synced (kiosk quarantine list)"
            )
        }
        lines.append("last sync    \(status.lastSyncAt.map(ISO8601Milliseconds.format) ?? "never")")
        if let retention = status.retention {
            lines.append(
                "storage      \(megabytes(retention.databaseBytes)) in use, \(megabytes(retention.freeBytes)) free for "
                    + "reuse; closed and voided returns kept \(retention.retentionDays) days"
                    + (retention.setByHQ ? " (set by HQ)" : " (the default; HQ sets it per store)")
            )
            lines.append(
                "prunable     \(retention.prunableReturns) return\(retention.prunableReturns == 1 ? "" : "s") and "
                    + "\(retention.prunableOrderLines) order line\(retention.prunableOrderLines == 1 ? "" : "s") "
                    + "(HQ holds them; the next sync prunes them, or kiosk prune)"
            )
        }
        return lines.joined(separator: "\n")
    }
}
