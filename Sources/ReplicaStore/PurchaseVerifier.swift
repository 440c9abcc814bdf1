import Foundation
import GRDB
import ReturnsModel
import ReturnsSync
import SyncEngine

/// What verification needs to know about a return, read from the `returns` projection (or a capture) rather
/// than from its record, so re-verifying a pushed batch decodes no record that does not change.
///
/// A class, and immutable: re-verification holds each return's facts in several groups and lists at once, and a
/// struct of a dozen strings and arrays was copied — a dozen retains and releases — every time (about a twentieth of
/// the server's writer in a fleet; issue 18). A changed verification makes new facts (``verified(_:exceptions:)``).
public final class ReturnFacts: Sendable, Hashable {
    /// The return's id.
    public let id: String
    /// The store that took the return back.
    public let storeID: StoreID
    /// The purchase it names.
    public let orderID: OrderID
    /// The product.
    public let gtin: GTIN
    /// The unit's serial, when the product has one.
    public let serial: ItemCode?
    /// Units returned.
    public let quantity: Int
    /// When it was captured, in milliseconds since the Unix epoch: the order in which returns are verified.
    public let createdAt: Int64
    /// Whether the customer showed a receipt.
    public let receipt: Bool
    /// Whether a recall certainly covers the unit (customer limits do not count such returns).
    public let isCertainRecall: Bool
    /// Whether the return was voided (no later return counts it).
    public let isVoided: Bool
    /// The purchase verification it holds.
    public let verification: PurchaseVerification?
    /// The exceptions it holds.
    public let exceptions: [ReturnException]
    /// The customer reference as stored (given or hashed): the customer checks compare it, nothing reads it.
    public let customerRef: String?

    init(
        id: String,
        storeID: StoreID,
        orderID: OrderID,
        gtin: GTIN,
        serial: ItemCode?,
        quantity: Int,
        createdAt: Int64,
        receipt: Bool,
        isCertainRecall: Bool,
        isVoided: Bool,
        verification: PurchaseVerification?,
        exceptions: [ReturnException],
        customerRef: String?
    ) {
        self.id = id
        self.storeID = storeID
        self.orderID = orderID
        self.gtin = gtin
        self.serial = serial
        self.quantity = quantity
        self.createdAt = createdAt
        self.receipt = receipt
        self.isCertainRecall = isCertainRecall
        self.isVoided = isVoided
        self.verification = verification
        self.exceptions = exceptions
        self.customerRef = customerRef
    }

    /// The same facts with another unit and customer (tests).
    func with(serial: ItemCode?, customerRef: String?) -> ReturnFacts {
        replacing(serial: serial, customerRef: customerRef, verification: verification, exceptions: exceptions)
    }

    /// The same facts once verified again: `verification`, and `exceptions` in order.
    public func verified(_ verification: PurchaseVerification?, exceptions: [ReturnException]) -> ReturnFacts {
        replacing(serial: serial, customerRef: customerRef, verification: verification, exceptions: exceptions.sorted())
    }

    private func replacing(
        serial: ItemCode?,
        customerRef: String?,
        verification: PurchaseVerification?,
        exceptions: [ReturnException]
    ) -> ReturnFacts {
        ReturnFacts(
            id: id,
            storeID: storeID,
            orderID: orderID,
            gtin: gtin,
            serial: serial,
            quantity: quantity,
            createdAt: createdAt,
            receipt: receipt,
            isCertainRecall: isCertainRecall,
            isVoided: isVoided,
            verification: verification,
            exceptions: exceptions,
            customerRef: customerRef
        )
    }

    public static func == (lhs: ReturnFacts, rhs: ReturnFacts) -> Bool {
        lhs === rhs
            || (lhs.id == rhs.id && lhs.storeID == rhs.storeID && lhs.orderID == rhs.orderID && lhs.gtin == rhs.gtin
                && lhs.serial == rhs.serial && lhs.quantity == rhs.quantity && lhs.createdAt == rhs.createdAt
                && lhs.receipt == rhs.receipt && lhs.isCertainRecall == rhs.isCertainRecall
                && lhs.isVoided == rhs.isVoided && lhs.verification == rhs.verification
                && lhs.exceptions == rhs.exceptions && lhs.customerRef == rhs.customerRef)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(storeID)
        hasher.combine(orderID)
        hasher.combine(gtin)
        hasher.combine(serial)
        hasher.combine(quantity)
        hasher.combine(createdAt)
        hasher.combine(receipt)
        hasher.combine(isCertainRecall)
        hasher.combine(isVoided)
        hasher.combine(verification)
        hasher.combine(exceptions)
        hasher.combine(customerRef)
    }

    /// The facts of a return.
    public init(_ item: ProductReturn) {
        id = item.id.rawValue
        storeID = item.storeID
        orderID = item.orderID
        gtin = item.gtin
        serial = item.serial
        quantity = item.quantity
        createdAt = item.createdAt.millisecondsSince1970
        receipt = item.receipt
        isCertainRecall = item.recallMatch == .certain
        isVoided = item.status == .voided
        verification = item.verification
        exceptions = item.exceptions
        customerRef = item.customerRef?.rawValue
    }

    /// The facts of a row of the `returns` projection, as a report statement read it (any backend).
    public init(_ row: ReportRow) throws {
        id = row.text("id") ?? ""
        storeID = try StoreID(row.text("store_id") ?? "")
        orderID = try OrderID(row.text("order_id") ?? "")
        gtin = try GTIN(row.text("gtin") ?? "")
        serial = try row.text("serial").map { try ItemCode($0, kind: "serial") }
        quantity = Int(row.count("quantity"))
        createdAt = row.count("created_at")
        receipt = row.count("receipt") != 0
        isCertainRecall = row.text("recall_match") == RecallCampaign.Match.certain.rawValue
        isVoided = row.text("status") == ReturnStatus.voided.rawValue
        verification = try row.text("verification").map(PurchaseVerification.parse)
        exceptions = try (row.text("exceptions") ?? "").split(separator: ",").map {
            try ReturnException.parse(String($0))
        }
        customerRef = row.text("customer_ref")
    }

    /// The `returns` columns ``init(row:)`` reads, in its order.
    public static let columns =
        "id, store_id, order_id, gtin, serial, quantity, created_at, receipt, recall_match, status, verification, exceptions, "
        + "customer_ref"

    /// Reads a row of ``columns``, by position: name lookups cost more than the rest of verification.
    init(row: Row) throws {
        id = row[0]
        storeID = try StoreID(row[1])
        orderID = try OrderID(row[2])
        gtin = try GTIN(row[3])
        serial = try (row[4] as String?).map { try ItemCode($0, kind: "serial") }
        quantity = row[5]
        createdAt = row[6]
        receipt = row[7]
        isCertainRecall = (row[8] as String?) == RecallCampaign.Match.certain.rawValue
        isVoided = (row[9] as String) == ReturnStatus.voided.rawValue
        verification = try (row[10] as String?).map(PurchaseVerification.parse)
        exceptions = try (row[11] as String).split(separator: ",").map { try ReturnException.parse(String($0)) }
        customerRef = row[12]
    }
}

/// HQ's verification of returns over facts read beforehand — the returns sharing their purchases, the order lines,
/// the policies — for storage that reads first and decides after (PostgreSQL). It gives what the SQLite store's
/// ``WriteContext`` verification gives over the same data: a parity test holds them to it.
public struct PurchaseReverification: Sendable {
    /// Every return of the purchases concerned, as stored; updated as returns are verified again.
    public private(set) var returns: [String: ReturnFacts]
    public let lines: [OrderID: [OrderLine]]
    public let policies: [ReturnPolicy]
    /// The stores' time zones: a return window ends with a local day.
    public let timeZones: StoreTimeZones
    /// Whether HQ holds any order line: before the first import HQ cannot decide more than the kiosk did.
    public let hasOrders: Bool

    /// The ids of the returns of each purchase (order and GTIN), and of each serialised unit (GTIN and serial).
    private let byPurchase: [Pair: [String]]
    private let bySerial: [Pair: [String]]
    /// The ids of each customer's returns.
    private let byCustomer: [String: [String]]

    public init(
        returns: [ReturnFacts],
        lines: [OrderLine],
        policies: [ReturnPolicy],
        timeZones: StoreTimeZones = StoreTimeZones(),
        hasOrders: Bool
    ) {
        self.timeZones = timeZones
        // Plain loops filling the groups with ids: grouping the facts first (and mapping the groups to ids) copied
        // every return's facts twice over, a quarter of re-verification's time on the server's writer (issue 18).
        var unique: [String: ReturnFacts] = [:]
        unique.reserveCapacity(returns.count)
        for facts in returns { unique[facts.id] = facts }
        var byPurchase: [Pair: [String]] = [:]
        var bySerial: [Pair: [String]] = [:]
        var byCustomer: [String: [String]] = [:]
        byPurchase.reserveCapacity(unique.count)
        for facts in unique.values {
            byPurchase[Self.purchase(facts), default: []].append(facts.id)
            if facts.serial != nil { bySerial[Self.unit(facts), default: []].append(facts.id) }
            if let reference = facts.customerRef { byCustomer[reference, default: []].append(facts.id) }
        }
        self.returns = unique
        self.lines = Dictionary(grouping: lines, by: \.orderID)
        self.policies = policies
        self.hasOrders = hasOrders
        self.byPurchase = byPurchase
        self.bySerial = bySerial
        self.byCustomer = byCustomer
    }

    /// Whether `affected` — what the searches found for `seeds` — is the seeds themselves, the same objects (no
    /// other row was read), and no two of them share an id, a purchase, a unit or (with `byCustomer`) a customer: no
    /// return's verification depends on another's, and ``reverifyEachAlone(_:)`` decides them without the groups
    /// ``reverify(_:)`` builds. That is nearly every push of new returns, on the server's one writer (issue 18:
    /// re-verification was a sixth of that writer in a fleet, its decisions about half of it, much of them hashing
    /// ids and counting references while building those groups).
    public static func isolated(_ affected: [ReturnFacts], seeds: [ReturnFacts], byCustomer: Bool) -> Bool {
        guard affected.count == seeds.count else { return false }
        // The searches read nothing and gave the seeds back in their order (nearly every push): the same objects,
        // without hashing any (a seed given twice shares its id with itself, which the loop below refuses).
        if !zip(affected, seeds).allSatisfy({ $0 === $1 }) {
            let seedObjects = Set(seeds.lazy.map(ObjectIdentifier.init))
            guard seedObjects.count == seeds.count, Set(affected.lazy.map(ObjectIdentifier.init)) == seedObjects else {
                return false
            }
        }
        // Two seeds of one id (a push naming a return twice) are one return to `reverify`: not isolated.
        var ids = Set<String>()
        var purchases = Set<Pair>()
        var units = Set<Pair>()
        var customers = Set<String>()
        ids.reserveCapacity(seeds.count)
        purchases.reserveCapacity(seeds.count)
        units.reserveCapacity(seeds.count)
        for facts in seeds {
            guard ids.insert(facts.id).inserted, purchases.insert(purchase(facts)).inserted else { return false }
            if facts.serial != nil, !units.insert(unit(facts)).inserted { return false }
            if byCustomer, let reference = facts.customerRef, !customers.insert(reference).inserted { return false }
        }
        return true
    }

    /// What ``reverify(_:)`` decides for `isolated` returns (``isolated(_:seeds:byCustomer:)`` holds for them), each
    /// verified on its own — none is earlier than another of its purchase, unit or customer — in the same order:
    /// those whose verification or exceptions change, oldest first.
    public func reverifyEachAlone(
        _ isolated: [ReturnFacts]
    ) -> [(facts: ReturnFacts, verification: PurchaseVerification?, exceptions: [ReturnException])] {
        var changed: [(facts: ReturnFacts, verification: PurchaseVerification?, exceptions: [ReturnException])] = []
        for facts in isolated {
            let (verification, exceptions) = verify(facts, alone: true)
            guard verification != facts.verification || exceptions != facts.exceptions else { continue }
            changed.append((facts, verification, exceptions))
        }
        return changed.sorted { ($0.facts.createdAt, $0.facts.id) < ($1.facts.createdAt, $1.facts.id) }
    }

    /// Of `affected` — the returns sharing a purchase, a unit or (with `byCustomer`) a customer with `seeds` — those
    /// with a purchase, unit or customer of their own that no seed has: the returns sharing those must be read too
    /// before deciding (usually none are).
    public static func unread(_ affected: [ReturnFacts], seeds: [ReturnFacts], byCustomer: Bool) -> [ReturnFacts] {
        // A seed shares everything with itself: when the searches found the seeds alone (a push of new returns that
        // share nothing, nearly every push), no set of keys need be built.
        if affected.count == seeds.count {
            var seedsByID: [String: ReturnFacts] = [:]
            seedsByID.reserveCapacity(seeds.count)
            for seed in seeds { seedsByID[seed.id] = seed }
            if affected.allSatisfy({ seedsByID[$0.id] == $0 }) { return [] }
        }
        let purchases = Set(seeds.map(Self.purchase))
        let units = Set(seeds.filter { $0.serial != nil }.map(Self.unit))
        let customers = Set(seeds.compactMap(\.customerRef))
        return affected.filter { facts in
            !purchases.contains(Self.purchase(facts))
                || (facts.serial != nil && !units.contains(Self.unit(facts)))
                || (byCustomer && facts.customerRef.map { !customers.contains($0) } ?? false)
        }
    }

    /// Two strings as one key: no array or joined string allocated per return, as keys of both kinds were (a
    /// push's re-verification builds and looks up several per return on the server's writer thread; issue 18).
    struct Pair: Hashable {
        let first: String
        let second: String
    }

    private static func purchase(_ facts: ReturnFacts) -> Pair {
        Pair(first: facts.orderID.rawValue, second: facts.gtin.digits)
    }
    private static func unit(_ facts: ReturnFacts) -> Pair {
        Pair(first: facts.gtin.digits, second: facts.serial?.rawValue ?? "")
    }

    /// Verifies `ids` again, oldest first (an earlier return's result never depends on a later one's), and returns
    /// those whose verification or exceptions change, with the new ones.
    public mutating func reverify(
        _ ids: some Sequence<String>
    ) -> [(facts: ReturnFacts, verification: PurchaseVerification?, exceptions: [ReturnException])] {
        let ordered = Set(ids).compactMap { returns[$0] }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        var changed: [(ReturnFacts, PurchaseVerification?, [ReturnException])] = []
        for stale in ordered {
            let facts = returns[stale.id] ?? stale
            let (verification, exceptions) = verify(facts)
            guard verification != facts.verification || exceptions != facts.exceptions else { continue }
            changed.append((facts, verification, exceptions))
            returns[facts.id] = facts.verified(verification, exceptions: exceptions)
        }
        return changed
    }

    /// One return's verification and exceptions, as ``WriteContext``'s `verify` decides them at HQ; `alone`: no
    /// other return shares its purchase, unit or customer, and the groups are not looked in.
    func verify(_ facts: ReturnFacts, alone: Bool = false) -> (PurchaseVerification?, [ReturnException]) {
        let policy = policies.governing(facts.gtin, at: facts.storeID)
        func earlier(_ other: ReturnFacts) -> Bool {
            !other.isVoided && (other.createdAt, other.id) < (facts.createdAt, facts.id)
        }
        let verification: PurchaseVerification?
        if !hasOrders {
            verification = facts.verification
        } else {
            let returnedBefore =
                alone
                ? 0
                : (byPurchase[Self.purchase(facts)] ?? []).compactMap { returns[$0] }.filter {
                    earlier($0) && $0.verification != .notFound
                }.map(\.quantity).reduce(0, +)
            verification = PurchaseCheck.verify(
                gtin: facts.gtin,
                serial: facts.serial,
                quantity: facts.quantity,
                returnedAt: Date(millisecondsSince1970: facts.createdAt),
                lines: lines[facts.orderID],
                unitsReturnedBefore: returnedBefore,
                windowDays: policy.windowDays,
                orderIsAuthoritative: true,
                timeZone: timeZones[facts.storeID]
            )
        }
        let duplicateSerial =
            !alone && facts.serial != nil
            && (bySerial[Self.unit(facts)] ?? []).contains { returns[$0].map(earlier) ?? false }
        var customer: CustomerActivity?
        if let reference = facts.customerRef, policy.limitsCustomers {
            var activity = CustomerActivity()
            for other in (alone ? [] : byCustomer[reference] ?? []).compactMap({ returns[$0] })
            where earlier(other) && !other.isCertainRecall {
                if let limit = policy.receiptlessLimit, !other.receipt,
                    other.createdAt > limit.periodStart(endingAt: facts.createdAt)
                {
                    activity.receiptlessReturns += 1
                }
                if let threshold = policy.customerVelocity,
                    other.createdAt > threshold.periodStart(endingAt: facts.createdAt)
                {
                    activity.units += other.quantity
                }
            }
            customer = activity
        }
        let exceptions = PurchaseCheck.exceptions(
            verification: verification ?? .unverified,
            receipt: facts.receipt,
            policy: policy,
            isRecall: facts.isCertainRecall,
            duplicateSerial: duplicateSerial,
            quantity: facts.quantity,
            customer: customer
        )
        return (verification, exceptions)
    }
}

extension WriteContext {
    /// The return policies this replica knows, read once per transaction.
    mutating func returnPolicies() throws -> [ReturnPolicy] {
        if let cachedPolicies { return cachedPolicies }
        let policies = try ReplicaStore.returnPolicies(db)
        cachedPolicies = policies
        return policies
    }

    /// The stores' time zones this replica knows, read once per transaction.
    mutating func storeTimeZones() throws -> StoreTimeZones {
        if let cachedTimeZones { return cachedTimeZones }
        let zones = try ReplicaStore.storeTimeZones(db)
        cachedTimeZones = zones
        return zones
    }

    /// The lines of an order this replica knows; `nil` when it knows none.
    func orderLines(_ orderID: OrderID) throws -> [OrderLine]? {
        let rows = try Row.fetchAll(
            try db.cachedStatement(sql: "SELECT * FROM orders WHERE order_id = ?"),
            arguments: [orderID.rawValue]
        )
        guard !rows.isEmpty else { return nil }
        return try rows.map(ReplicaStore.orderLine(from:))
    }

    /// Verifies a return against the orders and policies this replica holds, and lists its exceptions.
    ///
    /// Earlier returns are those captured before it (by creation time, then id) and not voided: they used up the
    /// order's quantity (unless they were not on the order at all) and saw a serial first. At HQ, an order it does not hold does not exist (once any order
    /// was imported); at a kiosk it may just be newer than the last sync, or sold at another store.
    mutating func verify(_ facts: ReturnFacts) throws -> (PurchaseVerification?, [ReturnException]) {
        try writeHeldProjections()  // it reads the projection
        let isServer = store.identity.role == .server
        let verification: PurchaseVerification?
        let policy = try returnPolicies().governing(facts.gtin, at: facts.storeID)
        if isServer, try !hasOrders() {
            // Before the first order import HQ cannot decide more than the kiosk did (nothing, for a return from a
            // kiosk that predates verification).
            verification = facts.verification
        } else {
            let returnedBefore =
                try Int.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT coalesce(sum(quantity), 0) FROM returns
                            WHERE order_id = ? AND gtin = ? AND status != 'voided'
                              AND coalesce(verification, '') != 'not-found' AND (created_at, id) < (?, ?)
                            """
                    ),
                    arguments: [facts.orderID.rawValue, facts.gtin.digits, facts.createdAt, facts.id]
                ) ?? 0
            verification = PurchaseCheck.verify(
                gtin: facts.gtin,
                serial: facts.serial,
                quantity: facts.quantity,
                returnedAt: Date(millisecondsSince1970: facts.createdAt),
                lines: try orderLines(facts.orderID),
                unitsReturnedBefore: returnedBefore,
                windowDays: policy.windowDays,
                orderIsAuthoritative: isServer,
                timeZone: try storeTimeZones()[facts.storeID]
            )
        }
        var duplicateSerial = false
        if let serial = facts.serial {
            duplicateSerial =
                try Bool.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT EXISTS (SELECT 1 FROM returns
                                           WHERE gtin = ? AND serial = ? AND status != 'voided'
                                             AND (created_at, id) < (?, ?))
                            """
                    ),
                    arguments: [facts.gtin.digits, serial.rawValue, facts.createdAt, facts.id]
                ) ?? false
        }
        var customer: CustomerActivity?
        if let reference = facts.customerRef, policy.limitsCustomers {
            // What this replica knows of the customer: a kiosk its store's returns, HQ every store's.
            let receiptlessSince = policy.receiptlessLimit?.periodStart(endingAt: facts.createdAt) ?? .max
            let unitsSince = policy.customerVelocity?.periodStart(endingAt: facts.createdAt) ?? .max
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT coalesce(sum(CASE WHEN receipt = 0 AND created_at > ? THEN 1 ELSE 0 END), 0),
                               coalesce(sum(CASE WHEN created_at > ? THEN quantity ELSE 0 END), 0)
                        FROM returns
                        WHERE customer_ref = ? AND status != 'voided' AND coalesce(recall_match, '') != 'certain'
                          AND created_at > ? AND (created_at, id) < (?, ?)
                        """
                ),
                arguments: [
                    receiptlessSince, unitsSince, reference, min(receiptlessSince, unitsSince), facts.createdAt,
                    facts.id,
                ]
            )
            customer = CustomerActivity(receiptlessReturns: row?[0] ?? 0, units: row?[1] ?? 0)
        }
        let exceptions = PurchaseCheck.exceptions(
            verification: verification ?? .unverified,
            receipt: facts.receipt,
            policy: policy,
            isRecall: facts.isCertainRecall,
            duplicateSerial: duplicateSerial,
            quantity: facts.quantity,
            customer: customer
        )
        return (verification, exceptions)
    }

    /// Whether this replica holds any order line, read once per transaction.
    mutating func hasOrders() throws -> Bool {
        if let cachedHasOrders { return cachedHasOrders }
        let found = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM orders)") ?? false
        cachedHasOrders = found
        return found
    }

    /// The facts of the returns whose verification may depend on `items`: those of the same order and GTIN, those
    /// of the same GTIN and serial, at any store, and — with `byCustomer` — those of the same customer.
    ///
    /// `storedRows`, when given, holds for each of `items` (by position) the row number of its projection row when
    /// it is known to be exactly what the projection holds (a return this transaction has just stored as pushed),
    /// and 0 otherwise; each id is given a row at most once. Those returns are among the result without being read
    /// back, and their own rows are skipped by the searches by row number — which the index entry holds, where
    /// comparing the id read the table row too (the projection's indexes hold row numbers since schema v25): a
    /// second search per return and search, half of each search's time (BENCHMARKS.md, issue 18). A push of new
    /// returns that share nothing reads no row at all, and its result is those returns in their order.
    func factsSharingPurchase(
        with items: [ReturnFacts],
        byCustomer: Bool,
        storedRows: [Int64] = []
    ) throws -> [ReturnFacts] {
        precondition(storedRows.isEmpty || storedRows.count == items.count, "a row number for each return, or none")
        try writeHeldProjections()  // it reads the projection
        func skipped(_ index: Int) -> Int64 { storedRows.isEmpty ? 0 : storedRows[index] }
        // Debug builds (every test) check each row number against the row it names: a return given another's row
        // would be decided over its pushed values rather than what is stored, which few verdicts would show.
        assert(
            items.indices.allSatisfy { index in
                skipped(index) == 0
                    || (try? String.fetchOne(
                        db,
                        sql: "SELECT id FROM returns WHERE rowid = ?",
                        arguments: [skipped(index)]
                    ))
                        == items[index].id
            },
            "a row number given for a return names another row"
        )
        var found: [ReturnFacts] = []
        found.reserveCapacity(items.count)
        for index in items.indices where skipped(index) != 0 { found.append(items[index]) }
        // The ids found, made at the first row a search reads: a push of new returns that share nothing reads none,
        // and hashes no id (issue 18, thirty-eighth part).
        var ids: Set<String>?
        // A push's returns at once, a few hundred triples a query (each an index search, as the plans show), instead
        // of two queries a return. The third of each triple is the row number of the return itself when its row
        // need not be read (0 otherwise: SQLite numbers rows from 1, and the projection never sets one).
        func find(_ triples: [(String, String, Int64)], joining search: SharedPurchaseSearch) throws {
            guard !triples.isEmpty else { return }
            // The keys through `returnsync_rows(?)`, up to 512 to a statement: one statement for any count, each key
            // a row the join reads from memory. A `VALUES` list of bound triples, padded to a power of two (a push of
            // 100 searched for 128), took the server's writer 3–4 % more in a fleet (BENCHMARKS.md, issue 18).
            let keys = triples.map { first, second, skipped in
                WriteContext.NewRecords.Projection(row: skipped, values: [.text(first), .text(second)])
            }
            let statement = try db.cachedStatement(sql: search.sql)
            for start in stride(from: 0, to: keys.count, by: 512) {
                let binding = RawInsert(binding: statement, in: db)
                try ProjectionRows(keys[start..<min(start + 512, keys.count)], width: 2).withRows { rows in
                    try binding.bound(rows) {
                        let rows = try Row.fetchCursor(statement)
                        while let row = try rows.next() {
                            if ids == nil { ids = Set(found.lazy.map(\.id)) }
                            if ids?.insert(row[0] as String).inserted == true {
                                found.append(try ReturnFacts(row: row))
                            }
                        }
                    }
                }
            }
        }
        try find(
            items.indices.map { (items[$0].orderID.rawValue, items[$0].gtin.digits, skipped($0)) },
            joining: .orderLine
        )
        try find(
            items.indices.compactMap { index in
                items[index].serial.map { (items[index].gtin.digits, $0.rawValue, skipped(index)) }
            },
            joining: .unit
        )
        if byCustomer {
            try find(Set(items.compactMap(\.customerRef)).map { ($0, "", 0) }, joining: .customer)
        }
        return found
    }

    /// HQ's re-verification of the returns sharing a purchase with `seeds` (``factsSharingPurchase(with:byCustomer:)``,
    /// the seeds among them): each checked again with everything HQ holds and, where the verification or the
    /// exceptions changed, recorded as an edit of this replica, which syncs back to the return's store. Returns
    /// that show the same result are left untouched, so re-verifying is idempotent.
    ///
    /// Everything it reads is read first, in a few queries for the whole set — the returns, the other returns of
    /// their purchases, units and customers, their order lines — and the decisions are taken over those facts
    /// (``PurchaseReverification``, as on PostgreSQL), instead of three queries a return: a push of new returns
    /// pays a query per few hundred returns.
    ///
    /// - Returns: how many returns changed.
    @discardableResult
    mutating func reverifySharingPurchase(with seeds: [ReturnFacts], storedRows: [Int64] = []) throws -> Int {
        guard !seeds.isEmpty else { return 0 }
        let policies = try returnPolicies()
        let byCustomer = policies.contains(where: \.limitsCustomers)
        let affected = try factsSharingPurchase(with: seeds, byCustomer: byCustomer, storedRows: storedRows)
        guard !affected.isEmpty else { return 0 }
        let isolated = PurchaseReverification.isolated(affected, seeds: seeds, byCustomer: byCustomer)
        // Everything their verification reads: the other returns of their purchases, units and customers (those not
        // read with them already: usually none), and their orders once HQ holds any.
        let unread = isolated ? [] : PurchaseReverification.unread(affected, seeds: seeds, byCustomer: byCustomer)
        let related = unread.isEmpty ? [] : try factsSharingPurchase(with: unread, byCustomer: byCustomer)
        let hasOrders = try hasOrders()
        var lines: [OrderLine] = []
        if hasOrders {
            let orderIDs = Array(Set(affected.map(\.orderID.rawValue)))
            for start in stride(from: 0, to: orderIDs.count, by: 500) {
                let chunk = orderIDs[start..<min(start + 500, orderIDs.count)]
                lines += try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM orders WHERE order_id IN (\(chunk.map { _ in "?" }.joined(separator: ",")))",
                    arguments: StatementArguments(Array(chunk))
                ).map(ReplicaStore.orderLine(from:))
            }
        }
        var verification = PurchaseReverification(
            returns: isolated ? [] : related + affected,
            lines: lines,
            policies: policies,
            timeZones: try storeTimeZones(),
            hasOrders: hasOrders
        )
        let changed = isolated ? verification.reverifyEachAlone(affected) : verification.reverify(affected.map(\.id))
        for change in changed {
            try recordVerification(of: change.facts.id, change.verification, exceptions: change.exceptions)
        }
        return changed.count
    }

    /// Records HQ's verification of a return as an edit of this replica (`verify` in its history).
    private mutating func recordVerification(
        of id: String,
        _ verification: PurchaseVerification?,
        exceptions: [ReturnException]
    ) throws {
        guard var record = try load(entityType: ReturnEntity.entityType, id: id) else { return }
        let before = record
        var item = try ProductReturn(record: record)
        let stamp = try stamp()
        guard
            let update = try item.recordVerification(
                verification,
                exceptions: exceptions,
                at: ReturnEntity.date(of: stamp)
            )
        else { return }
        try record.apply(ReturnEntity.edit(for: update), by: replicaID, stamp: stamp)
        try save(
            record,
            origin: .local,
            operation: "verify",
            item: ProductReturn(record: record),
            replacing: .version(before)
        )
    }

    /// HQ's re-verification of `ids` (an orders import's returns), one return at a time through ``verify(_:)``:
    /// each checked again with everything this replica holds and, where the verification or the exceptions
    /// changed, recorded as an edit of this replica, which syncs back to the return's store. Returns that show the
    /// same result are left untouched, so re-verifying is idempotent.
    ///
    /// - Returns: how many returns changed.
    @discardableResult
    mutating func reverify(_ ids: some Sequence<String>) throws -> Int {
        try writeHeldProjections()  // it reads the projection
        let statement = try db.cachedStatement(sql: "SELECT \(ReturnFacts.columns) FROM returns WHERE id = ?")
        var all: [ReturnFacts] = []
        for id in ids {
            if let row = try Row.fetchOne(statement, arguments: [id]) { all.append(try ReturnFacts(row: row)) }
        }
        // Oldest first, so an earlier return's result never depends on a later one's.
        all.sort { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        var changed = 0
        for facts in all {
            let (verification, exceptions) = try verify(facts)
            guard verification != facts.verification || exceptions != facts.exceptions else { continue }
            try recordVerification(of: facts.id, verification, exceptions: exceptions)
            changed += 1
        }
        return changed
    }
}

extension ReplicaStore {
    static func orderLine(from row: Row) throws -> OrderLine {
        try OrderLine(
            orderID: OrderID(row["order_id"]),
            storeID: StoreID(row["store_id"]),
            line: row["line"],
            gtin: GTIN(row["gtin"]),
            serial: (row["serial"] as String?).map { try ItemCode($0, kind: "serial") },
            quantity: row["quantity"],
            unitPriceCents: row["unit_price_cents"],
            soldAt: Date(millisecondsSince1970: row["sold_at"]),
            currency: (row["currency"] as String?).map(Currency.init)
        )
    }
}

/// The searches of ``WriteContext/factsSharingPurchase(with:byCustomer:storedRows:)``: returns of the same order line,
/// of the same unit, of the same customer, for the keys bound to `returnsync_rows(?)`.
enum SharedPurchaseSearch: Sendable {
    case orderLine, unit, customer

    /// The search for the keys bound to `returnsync_rows(?)`, each a row of `c0` (the row number to skip, 0 for
    /// none), `c1` and `c2`; the keys are read first (`CROSS JOIN`), each one searching the projection's index.
    /// Built once (three searches a push, on the writer).
    var sql: String {
        switch self {
        case .orderLine: Self.orderLineSQL
        case .unit: Self.unitSQL
        case .customer: Self.customerSQL
        }
    }

    private static let orderLineSQL = SharedPurchaseSearch.orderLine.text
    private static let unitSQL = SharedPurchaseSearch.unit.text
    private static let customerSQL = SharedPurchaseSearch.customer.text

    private var text: String {
        """
        SELECT \(ReturnFacts.columns) FROM returnsync_rows(?) AS wanted CROSS JOIN returns r
        ON \(condition) AND r.rowid <> wanted.c0
        """
    }

    private var condition: String {
        switch self {
        case .orderLine: "r.order_id = wanted.c1 AND r.gtin = wanted.c2"
        case .unit: "r.gtin = wanted.c1 AND r.serial = wanted.c2"
        case .customer: "r.customer_ref = wanted.c1"
        }
    }
}
