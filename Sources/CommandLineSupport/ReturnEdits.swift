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

    /// Decides a return's refund: by default its value (order line price × quantity) less the policy's restocking
    /// fee, in the order line's currency; `amount` (with `reason`) replaces the amount, `currency` is needed when
    /// the order line states none.
    public static func refund(
        _ store: any ReturnEditing,
        id: String,
        method text: String,
        amount: String?,
        currency code: String?,
        reason: String?,
        exchange: String?,
        note: String?
    ) async throws -> String {
        let method = try RefundMethod.parse(text)
        let exchangeGTIN = try exchange.map(GTIN.init)
        if amount != nil, reason == nil {
            throw CLIError(message: "--amount needs --reason: say why the refund differs from the order line's price")
        }
        let id = try await store.resolveReturnID(id)
        let terms = try await store.refundTerms(of: id)
        let currency = try amountCurrency(
            typed: code,
            terms: terms,
            missing: terms.unitPriceMinor == nil
                ? "return \(id) has no order line with its product: give --amount, --reason and --currency"
                : "the order line states no currency: give --currency (such as EUR)"
        )
        let override = try amount.map { (amountMinor: try currency.minorUnits(of: $0), reason: reason ?? "") }
        let item = try await store.editReturn(id, operation: "refund") { item, author, date in
            let refund = try Refund.decide(
                for: item,
                unitPriceMinor: terms.unitPriceMinor,
                currency: currency,
                fee: terms.restockingFee,
                method: method,
                exchangeGTIN: exchangeGTIN,
                override: override
            )
            return try item.decideRefund(refund, note: note, by: author, at: date)
        }
        return "\(item.id) refund: " + (item.refund?.summary ?? "decided")
    }

    /// Records a return's vendor RMA and shipment.
    public static func vendorShipment(
        _ store: any ReturnEditing,
        id: String,
        shipment: VendorShipment,
        note: String?
    ) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let item = try await store.editReturn(id, operation: "rma") { item, author, date in
            try item.recordVendorShipment(shipment, note: note, by: author, at: date)
        }
        return "\(item.id) vendor RMA \(shipment.rma)"
            + (shipment.shippedOn.map { ", shipped \($0)" } ?? ", not shipped yet")
    }

    /// Records the credit a vendor gave for a return, in the order line's currency unless it states none.
    public static func vendorCredit(
        _ store: any ReturnEditing,
        id: String,
        amount: String,
        currency code: String?,
        on day: String?,
        note: String?
    ) async throws -> String {
        let id = try await store.resolveReturnID(id)
        let currency = try amountCurrency(
            typed: code,
            terms: try await store.refundTerms(of: id),
            missing: "the return's order line states no currency: give --currency (such as EUR)"
        )
        let credit = try VendorCredit(
            amountMinor: currency.minorUnits(of: amount),
            currency: currency,
            receivedOn: day ?? today()
        )
        let item = try await store.editReturn(id, operation: "vendor-credit") { item, author, date in
            try item.recordVendorCredit(credit, note: note, by: author, at: date)
        }
        return "\(item.id) vendor credit \(currency.format(credit.amountMinor)) \(currency) on \(credit.receivedOn)"
    }

    /// The currency of an amount typed for a return: `typed`, which must agree with the order line's when it states
    /// one, else the order line's; `missing` says what to give when neither does.
    static func amountCurrency(typed code: String?, terms: RefundTerms, missing: String) throws -> Currency {
        let typed = try code.map(Currency.init)
        if let typed, let stated = terms.currency, typed != stated {
            throw CLIError(message: "--currency \(typed) differs from the order line's \(stated)")
        }
        guard let currency = typed ?? terms.currency else { throw CLIError(message: missing) }
        return currency
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

/// The options of a refund, shared with `returns-server returns refund`.
public struct RefundOptions: ParsableArguments {
    @Option(help: "How it is paid back: \(RefundMethod.allowedSpellings).") public var method = "original-payment"
    @Option(help: "The amount paid back instead of the order line's value less the fee, in the currency's decimals.")
    public var amount: String?
    @Option(help: "Why the amount differs (required with --amount).") public var reason: String?
    @Option(help: "The currency (ISO 4217), when the order line states none; else it must agree with it.")
    public var currency: String?
    @Option(help: "The replacement's GTIN, for an exchange.") public var exchange: String?
    @Option(help: "A note, added with the refund.") public var note: String?

    public init() {}

    /// Decides the refund of return `id`; returns the line to print.
    public func perform(on store: any ReturnEditing, id: String) async throws -> String {
        try await ReturnEdits.refund(
            store,
            id: id,
            method: method,
            amount: amount,
            currency: currency,
            reason: reason,
            exchange: exchange,
            note: note
        )
    }
}

/// The options of a vendor RMA update, shared with `returns-server returns rma`.
public struct VendorShipmentOptions: ParsableArguments {
    @Option(name: .customLong("number"), help: "The vendor's RMA number.") public var rma: String
    @Option(help: "The carrier.") public var carrier: String?
    @Option(help: "The carrier's tracking id.") public var tracking: String?
    @Option(help: "The day it was shipped, YYYY-MM-DD (none: not shipped yet).") public var shipped: String?
    @Option(help: "A note, added with the update.") public var note: String?

    public init() {}

    /// Records this RMA on return `id`; returns the line to print.
    public func perform(on store: any ReturnEditing, id: String) async throws -> String {
        let shipment = try VendorShipment(rma: rma, carrier: carrier, tracking: tracking, shippedOn: shipped)
        return try await ReturnEdits.vendorShipment(store, id: id, shipment: shipment, note: note)
    }
}

/// The options of a vendor credit, shared with `returns-server returns credit`.
public struct VendorCreditOptions: ParsableArguments {
    @Option(help: "The amount credited, in the currency's decimals.") public var amount: String
    @Option(help: "The currency (ISO 4217), when the order line states none; else it must agree with it.")
    public var currency: String?
    @Option(name: .customLong("on"), help: "The day it was received, YYYY-MM-DD (default: today).") public var day:
        String?
    @Option(help: "A note, added with the credit.") public var note: String?

    public init() {}

    /// Records this credit on return `id`; returns the line to print.
    public func perform(on store: any ReturnEditing, id: String) async throws -> String {
        try await ReturnEdits.vendorCredit(store, id: id, amount: amount, currency: currency, on: day, note: note)
    }
}
