import ArgumentParser
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsSync

/// The return edits both command lines offer (a kiosk's staff and HQ alike, on SQLite or PostgreSQL), each one
/// local edit of the store, returning the line to print.
public enum ReturnEdits {
    /// Routes a return.
    public static func disposition(
        _ store: any ReturnEditing,
        id: String,
        to text: String,
        note: String?
    ) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let disposition = try Disposition.parseRoutable(text)
        let item = try await store.editReturn(id, operation: "disposition") { item, author, date in
            try item.assignDisposition(disposition, note: note, by: author, at: date)
        }
        return "\(item.id) dispositioned: \(item.disposition.rawValue)"
    }

    /// Adds a note.
    public static func note(_ store: any ReturnEditing, id: String, text: String) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let item = try await store.editReturn(id, operation: "note") { item, author, date in
            try item.addNote(text, by: author, at: date)
        }
        return "\(item.id) note added (\(item.notes.count) in all)"
    }

    /// Closes a dispositioned return: the item was handled.
    public static func close(_ store: any ReturnEditing, id: String, note: String?) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let item = try await store.editReturn(id, operation: "close") { item, author, date in
            try item.close(note: note, by: author, at: date)
        }
        return "\(item.id) closed"
    }

    /// Voids a return; the note says why.
    public static func void(_ store: any ReturnEditing, id: String, note: String) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let item = try await store.editReturn(id, operation: "void") { item, author, date in
            try item.void(note: note, by: author, at: date)
        }
        return "\(item.id) voided"
    }

    /// Records where a repair stands; `sentOn` defaults to today (UTC).
    public static func repair(
        _ store: any ReturnEditing,
        id: String,
        vendor: String,
        status: String,
        sentOn: String?,
        backOn: String?,
        note: String? = nil
    ) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let record = try RepairRecord(
            vendor: vendor,
            status: RepairRecord.Status.parse(status),
            sentOn: sentOn ?? today(),
            backOn: backOn
        )
        let item = try await store.editReturn(id, operation: "repair") { item, author, date in
            try item.recordRepair(record, note: note, by: author, at: date)
        }
        let turnaround = item.repair?.turnaroundDays.map { ", turnaround \($0) days" } ?? ""
        return "\(item.id) repair: \(record.status.rawValue) at \(record.vendor)\(turnaround)"
    }

    /// Records who took an item to recycle or dispose of; the date defaults to today (UTC).
    public static func handoff(
        _ store: any ReturnEditing,
        id: String,
        party: String,
        document: String,
        weightGrams: Int?,
        count: Int?,
        on day: String?,
        note: String? = nil
    ) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let record = try CustodyHandoff(
            party: party,
            document: document,
            weightGrams: weightGrams,
            count: count,
            handedOverOn: day ?? today()
        )
        let item = try await store.editReturn(id, operation: "handoff") { item, author, date in
            try item.recordHandoff(record, note: note, by: author, at: date)
        }
        return "\(item.id) handed over to \(record.party) (\(record.document))"
    }

    /// Today in UTC, `YYYY-MM-DD`.
    static func today() -> String {
        ISO8601Milliseconds.day(of: Date())
    }
}

/// The options of a repair update, shared with `returns-server returns repair`.
public struct RepairOptions: ParsableArguments {
    @Option(help: "The repairer.") public var vendor: String
    @Option(help: "sent, in-repair, repaired or beyond-repair.") public var status: String
    @Option(help: "The day it was sent, YYYY-MM-DD (default: today).") public var sent: String?
    @Option(help: "The day it came back, YYYY-MM-DD (needed once repaired or beyond repair).") public var back: String?
    @Option(help: "A note, added with the update.") public var note: String?

    public init() {}

    /// Records this repair update on return `id`; returns the line to print.
    public func perform(on store: any ReturnEditing, id: String) async throws -> String {
        try await ReturnEdits.repair(
            store,
            id: id,
            vendor: vendor,
            status: status,
            sentOn: sent,
            backOn: back,
            note: note
        )
    }
}

/// The options of a custody hand-off, shared with `returns-server returns handoff`.
public struct HandoffOptions: ParsableArguments {
    @Option(name: .customLong("to"), help: "The recycler or disposer that took the item.") public var party: String
    @Option(help: "The manifest or certificate id.") public var document: String
    @Option(help: "The weight handed over, in grams.") public var weightGrams: Int?
    @Option(help: "The number of units handed over.") public var count: Int?
    @Option(help: "The day of the hand-off, YYYY-MM-DD (default: today).") public var date: String?
    @Option(help: "A note, added with the hand-off.") public var note: String?

    public init() {}

    /// Records this hand-off on return `id`; returns the line to print.
    public func perform(on store: any ReturnEditing, id: String) async throws -> String {
        try await ReturnEdits.handoff(
            store,
            id: id,
            party: party,
            document: document,
            weightGrams: weightGrams,
            count: count,
            on: date,
            note: note
        )
    }
}
