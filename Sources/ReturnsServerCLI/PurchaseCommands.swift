import ArgumentParser
import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

struct OrdersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders",
        abstract: "Sales orders: imported at HQ, sent to each store's kiosks for offline purchase verification.",
        subcommands: [Import.self, List.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract:
                "Import order lines from CSV (header: \(OrderCSV.columns.joined(separator: ","))); all or nothing. A "
                + "sold_at that is a bare day is that day's start in the store's time zone."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The currency (ISO 4217) of lines whose row names none (an optional 'currency' column).")
        var currency: String?

        func run() async throws {
            let defaultCurrency = try currency.map(Currency.init)
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw CLIError(message: "cannot read orders file \(file): \(error.localizedDescription)")
            }
            // A bad file is named before any database is opened (or created).
            do {
                _ = try OrderCSV.parse(text, defaultCurrency: defaultCurrency)
            } catch let error as OrderCSV.ParseError {
                throw CLIError(message: "\(file): \(error)")
            }
            let (count, outcome) = try await database.withStorage(create: true) { [defaultCurrency] storage in
                do {
                    return try await storage.importOrders(csv: text, defaultCurrency: defaultCurrency)
                } catch let error as OrderCSV.ParseError {
                    throw CLIError(message: "\(file): \(error)")
                }
            }
            Console.current.print(
                "imported \(count) order lines from \(file): \(outcome.created) new, \(outcome.updated) updated, "
                    + "\(outcome.unchanged) unchanged; \(outcome.reverified) returns re-verified"
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List imported order lines.")

        @OptionGroup var database: ServerDatabaseOptions
        @Option(help: "Only this store's orders.") var store: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let storeID = try store.map(StoreID.init)
            let lines = try await database.withStorage { try await $0.orderLines(store: storeID) }
            if json {
                try Console.current.printJSON(lines.map(OrderLineDocument.init))
            } else {
                Console.current.print(
                    Format.table(
                        ["ORDER", "LINE", "STORE", "GTIN", "SERIAL", "QTY", "UNIT PRICE", "SOLD AT"],
                        lines.map {
                            [
                                $0.orderID.rawValue, String($0.line), $0.storeID.rawValue, $0.gtin.digits,
                                $0.serial?.rawValue ?? "", String($0.quantity),
                                OrderLineDocument.price($0.unitPriceCents, $0.currency)
                                    + ($0.currency.map { " \($0)" } ?? ""), Format.time($0.soldAt),
                            ]
                        }
                    )
                )
            }
        }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract:
            "Return policies per store and GTIN prefix: window and receipt rule, applied offline by every kiosk.",
        subcommands: [SetPolicy.self, List.self, Remove.self]
    )

    struct Scope: ParsableArguments {
        @Option(help: "The store it applies to (default: every store).") var store: String?
        @Option(help: "The GTIN-14 prefix it applies to (default: every product).") var gtinPrefix = ""
    }

    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set (or replace) the policy for a store and GTIN prefix."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @OptionGroup var scope: Scope
        @Option(help: "Days after the sale a return is accepted.") var windowDays: Int
        @Flag(inversion: .prefixedNo, help: "Whether a receipt is required.") var receiptRequired = false
        @Option(
            help: ArgumentHelp(
                "The restocking fee a refund keeps: a percentage of the value (15%) or a fixed amount (4.50); waived "
                    + "for defective, recalled and wrong items.",
                valueName: "fee"
            )
        )
        var restockingFee: String?
        @Option(
            help: ArgumentHelp(
                "At most COUNT receipt-less returns per customer within DAYS days (3/30); more go to review. "
                    + "Counts returns that name a customer (--customer at the kiosk).",
                valueName: "count/days"
            )
        )
        var receiptlessLimit: String?
        @Option(
            help: ArgumentHelp(
                "A customer returning more than UNITS units within DAYS days (5/7) goes to review.",
                valueName: "units/days"
            )
        )
        var customerVelocity: String?

        func run() async throws {
            let policy = try ReturnPolicy.validated(
                store: scope.store.map(StoreID.init),
                gtinPrefix: scope.gtinPrefix,
                windowDays: windowDays,
                receiptRequired: receiptRequired,
                restockingFee: restockingFee.map(RestockingFee.parse),
                receiptlessLimit: receiptlessLimit.map(CustomerLimit.parse),
                customerVelocity: customerVelocity.map(CustomerLimit.parse)
            )
            _ = try await database.withStorage(create: true) { try await $0.write(.setPolicy(policy)) }
            Console.current.print("policy \(policy.recordID) set: \(PolicyDocument.describe(policy))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The policies in force.")

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let policies = try await database.withStorage { try await $0.returnPolicies() }
            if json {
                try Console.current.printJSON(policies.map(PolicyDocument.init))
            } else {
                Console.current.print(
                    Format.table(
                        ["STORE", "GTIN PREFIX", "WINDOW", "RECEIPT", "RESTOCKING FEE", "RECEIPT-LESS", "VELOCITY"],
                        policies.map {
                            [
                                $0.store?.rawValue ?? "*", $0.gtinPrefix.isEmpty ? "*" : $0.gtinPrefix,
                                "\($0.windowDays) days", $0.receiptRequired ? "required" : "not required",
                                $0.restockingFee.map(String.init(describing:)) ?? "none",
                                $0.receiptlessLimit.map { "\($0.count) in \($0.days) days" } ?? "no limit",
                                $0.customerVelocity.map { "> \($0.count) units in \($0.days) days" } ?? "none",
                            ]
                        }
                    )
                        + "\nwithout a matching policy: \(PolicyDocument.describe(.default))"
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove a policy: the next more general one applies again."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @OptionGroup var scope: Scope

        func run() async throws {
            let edit = try GlobalEdit.removePolicy(store: scope.store.map(StoreID.init), gtinPrefix: scope.gtinPrefix)
            _ = try await database.withStorage { try await $0.write(edit) }
            Console.current.print(
                "policy \(scope.store ?? "*")/\(scope.gtinPrefix.isEmpty ? "*" : scope.gtinPrefix) removed"
            )
        }
    }
}

struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "The review queue: returns with policy or verification exceptions, approved or rejected by HQ.",
        subcommands: [List.self, Approve.self, Reject.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Returns waiting for a decision, oldest first (the default)."
        )

        @OptionGroup var database: ServerDatabaseOptions
        @Flag(help: "Print one JSON array of returns, in the kiosk's shape.") var json = false

        func run() async throws {
            let queue = try await database.withStorage {
                try await $0.findReturns(ReturnSearch(awaitingReview: true), records: true)
            }
            let documents = try queue.returns.compactMap { found in
                try found.record.map { (found.shortID, try ReturnDocument(record: $0)) }
            }
            if json {
                try Console.current.printJSON(documents.map(\.1))
            } else {
                Console.current.print(
                    Format.table(
                        ["ID", "STORE", "ORDER", "GTIN", "QTY", "VERIFICATION", "EXCEPTIONS", "CREATED"],
                        documents.map { short, document in
                            [
                                short, document.storeId ?? "", document.orderId ?? "", document.gtin ?? "",
                                String(document.quantity ?? 0), document.verification ?? "-",
                                (document.exceptions ?? []).joined(separator: ","),
                                document.createdAt.map(Format.time) ?? "",
                            ]
                        }
                    )
                )
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "approve",
            abstract: "Approve returns' exceptions: the returns stand.",
            discussion: ReviewCommand.bulkDiscussion
        )

        @OptionGroup var database: ServerDatabaseOptions
        @OptionGroup var selection: ReviewSelection
        @Flag(help: "Also every return in the queue whose purchase HQ has verified (verification 'verified').")
        var allVerified = false
        @Option(help: "Why (optional); the same note for every return decided.") var note: String?

        func run() async throws {
            let (selection, allVerified, note) = (self.selection, self.allVerified, self.note)
            let operatorID = try database.operatorID
            let decided = try await database.withStorage { storage in
                try await storage.decideReviews(
                    try await selection.selected(allVerified: allVerified, in: storage),
                    outcome: .approved,
                    note: note,
                    operatorID: operatorID
                )
            }
            Console.current.print(ReviewCommand.summary(decided, outcome: .approved))
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Reject returns' exceptions: they should not have been taken back.",
            discussion: ReviewCommand.bulkDiscussion
        )

        @OptionGroup var database: ServerDatabaseOptions
        @OptionGroup var selection: ReviewSelection
        @Option(help: "Why (required); the same note for every return decided.") var note: String

        func run() async throws {
            let (selection, note) = (self.selection, self.note)
            let operatorID = try database.operatorID
            let decided = try await database.withStorage { storage in
                try await storage.decideReviews(
                    try await selection.selected(allVerified: false, in: storage),
                    outcome: .rejected,
                    note: note,
                    operatorID: operatorID
                )
            }
            Console.current.print(ReviewCommand.summary(decided, outcome: .rejected))
        }
    }
}

/// Which returns a review decision covers: ids (short ones too) as arguments, from a file, or from standard input.
struct ReviewSelection: ParsableArguments {
    @Argument(help: "Return ids, or prefixes of them no other return shares.") var ids: [String] = []
    @Option(
        help: ArgumentHelp(
            "Also the ids in this file ('-': standard input), separated by spaces or lines; '#' starts a comment.",
            valueName: "file"
        )
    )
    var idsFrom: String?

    /// The returns selected, in the order given, each once: every text resolved first, so one bad id refuses them
    /// all before anything is decided.
    func selected(allVerified: Bool, in storage: any ReturnAdministration) async throws -> [ReturnID] {
        var texts = ids
        if let idsFrom { texts += try Self.read(idsFrom) }
        var selected: [ReturnID] = []
        for text in texts {
            let id = try await storage.resolveReturnID(text)
            if !selected.contains(id) { selected.append(id) }
        }
        if allVerified {
            let queue = try await storage.findReturns(ReturnSearch(awaitingReview: true), records: false)
            for found in queue.returns where found.row.verification == PurchaseVerification.verified.rawValue {
                let id = try ReturnID(found.row.id)
                if !selected.contains(id) { selected.append(id) }
            }
        }
        guard !selected.isEmpty else {
            if allVerified || idsFrom != nil { throw CLIError(message: "no returns to decide: none selected") }
            throw CLIError(message: "give return ids, --ids-from FILE (or -) or, to approve, --all-verified")
        }
        return selected
    }

    /// The ids in a file or on standard input.
    static func read(_ path: String) throws -> [String] {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CLIError(message: "cannot read --ids-from '\(path)': no such readable file")
            }
            data = contents
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").flatMap { line in
            line.prefix { $0 != "#" }.split(whereSeparator: \.isWhitespace).map(String.init)
        }
    }
}

extension ReviewCommand {
    static let bulkDiscussion = """
        Decides one return or many: ids as arguments, --ids-from FILE (or - for standard input) and, for approve, \
        --all-verified. Every id is checked before anything is decided — an unknown or ambiguous id, or a return \
        not waiting for a review, refuses the whole command and decides nothing. Each decision is then its own HQ \
        edit, synced to the return's kiosks.
        """

    /// A line per return decided, then how many.
    static func summary(_ decided: [ProductReturn], outcome: ReviewDecision.Outcome) -> String {
        let lines = decided.map {
            "\($0.id) \(outcome.rawValue) (\($0.exceptions.map(\.rawValue).joined(separator: ",")))"
        }
        return (lines + (decided.count > 1 ? ["\(decided.count) returns \(outcome.rawValue)"] : []))
            .joined(separator: "\n")
    }
}

/// A return policy in `policy list --json`.
struct PolicyDocument: Encodable {
    var storeId: String?
    var gtinPrefix: String
    var windowDays: Int
    var receiptRequired: Bool
    /// `15%` or a fixed amount such as `4.50`; `nil`: none.
    var restockingFee: String?
    /// `COUNT/DAYS`; `nil`: none.
    var receiptlessLimit: String?
    var customerVelocity: String?

    init(_ policy: ReturnPolicy) {
        storeId = policy.store?.rawValue
        gtinPrefix = policy.gtinPrefix
        windowDays = policy.windowDays
        receiptRequired = policy.receiptRequired
        restockingFee = policy.restockingFee.map(String.init(describing:))
        receiptlessLimit = policy.receiptlessLimit?.description
        customerVelocity = policy.customerVelocity?.description
    }

    static func describe(_ policy: ReturnPolicy) -> String {
        "\(policy.windowDays)-day window, receipt \(policy.receiptRequired ? "required" : "not required")"
            + (policy.restockingFee.map { ", restocking fee \($0)" } ?? "")
            + (policy.receiptlessLimit.map {
                ", at most \($0.count) receipt-less returns per customer in \($0.days) days"
            }
                ?? "")
            + (policy.customerVelocity.map { ", review over \($0.count) units per customer in \($0.days) days" } ?? "")
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(storeId, forKey: .storeId)
        try container.encode(gtinPrefix, forKey: .gtinPrefix)
        try container.encode(windowDays, forKey: .windowDays)
        try container.encode(receiptRequired, forKey: .receiptRequired)
        try container.encode(restockingFee, forKey: .restockingFee)
        try container.encode(receiptlessLimit, forKey: .receiptlessLimit)
        try container.encode(customerVelocity, forKey: .customerVelocity)
    }

    enum CodingKeys: String, CodingKey {
        case storeId, gtinPrefix, windowDays, receiptRequired, restockingFee, receiptlessLimit, customerVelocity
    }
}
