import ReturnsModel
import SyncEngine

/// Who may write what in a return: the rules a server applies to every return a kiosk pushes, before merging it.
///
/// They are a function of the pushed version, the stored one and who pushed, with no storage or sockets in them,
/// so every server backend applies the same rules (Protocol/SPEC.md §5.1):
/// - a kiosk writes its own store's returns only, and `storeId`, `kioskId` and `createdAt` are fixed when a return
///   is created — a new return's `kioskId` names the kiosk whose write created it;
/// - only HQ writes its review (`reviewOutcome`, `reviewNote`, `reviewExceptions`);
/// - fields that belong together (the repair, the hand-off, the review, the recall flag) are written together;
/// - a record stays within ``maximumFields`` fields and ``maximumRecordBytes`` bytes.
///
/// Which replicas a pushed clock may claim writes of, and whether two versions agree on their common writes, are
/// checked elsewhere (the server's storage and ``VersionedRecord/checkConsistency(with:)``).
public enum ReturnWriteRules {
    /// The most fields (registers and sets) a pushed record may hold; a return uses about 35.
    public static let maximumFields = 64
    /// The most bytes a pushed record's JSON form may take: room for hundreds of notes, not for a flood.
    public static let maximumRecordBytes = 256 * 1024

    /// Fields fixed when a return is created.
    public static let fixedFields = [
        ReturnEntity.Field.storeID, ReturnEntity.Field.kioskID, ReturnEntity.Field.createdAt,
    ]

    /// Fields only the server (HQ) writes.
    public static let serverOnlyFields: Set<String> = [
        ReturnEntity.Field.reviewOutcome, ReturnEntity.Field.reviewNote, ReturnEntity.Field.reviewExceptions,
    ]

    /// What the rules need to know of a record's field names, found with one look-up a name
    /// (``FieldNames/init(_:)``).
    private struct FieldRole {
        var register = false
        var set = false
        var serverOnly = false
        /// The field's position in ``fieldGroups``, if it is in one.
        var group: Int?
    }

    /// Every field name the rules know, with what they know of it.
    private static let roles: [String: FieldRole] = {
        var roles: [String: FieldRole] = [:]
        for field in ReturnEntity.registerFields { roles[field, default: FieldRole()].register = true }
        for field in ReturnEntity.setFields { roles[field, default: FieldRole()].set = true }
        for field in serverOnlyFields { roles[field, default: FieldRole()].serverOnly = true }
        for (index, group) in fieldGroups.enumerated() {
            for field in group { roles[field, default: FieldRole()].group = index }
        }
        return roles
    }()

    /// The roles of a return's registers, by ``ReturnRegister/rawValue``: a pushed register's name is found without
    /// hashing it (``ReturnRegister/named(_:)``), and only a name that is no register's is looked up in ``roles``.
    private static let registerRoles: [FieldRole] = ReturnRegister.allCases.map { roles[$0.name]! }

    /// A record's field names as the rules see them, worked out in one pass: the value rules, the server-only rule
    /// and the group rule each looked every name up again (issue 18: hashing field names was a quarter of
    /// preparing a push).
    private struct FieldNames {
        /// Register names that are not a return's registers, and set names that are not its sets.
        var unknownRegisters: [String] = []
        var unknownSets: [String] = []
        /// Whether a register or a set bears the name of a field only HQ writes.
        var serverOnly = false
        /// A bit for each group of ``fieldGroups`` the record holds a register of.
        var heldGroups: UInt = 0

        init(_ record: VersionedRecord) {
            for field in record.registers.keys {
                let role = ReturnRegister.named(field).map { registerRoles[$0.rawValue] } ?? roles[field]
                if !(role?.register ?? false) { unknownRegisters.append(field) }
                if role?.serverOnly ?? false { serverOnly = true }
                if let group = role?.group { heldGroups |= 1 << group }
            }
            for field in record.sets.keys {
                let role = roles[field]
                if !(role?.set ?? false) { unknownSets.append(field) }
                if role?.serverOnly ?? false { serverOnly = true }
            }
        }
    }

    /// Fields every write of one of them writes all of.
    public static let fieldGroups: [[String]] = [
        [
            ReturnEntity.Field.repairVendor, ReturnEntity.Field.repairStatus, ReturnEntity.Field.repairSentOn,
            ReturnEntity.Field.repairBackOn,
        ],
        [
            ReturnEntity.Field.handoffParty, ReturnEntity.Field.handoffDocument,
            ReturnEntity.Field.handoffWeightGrams, ReturnEntity.Field.handoffCount, ReturnEntity.Field.handoffOn,
        ],
        [ReturnEntity.Field.reviewOutcome, ReturnEntity.Field.reviewNote, ReturnEntity.Field.reviewExceptions],
        [ReturnEntity.Field.recallCampaign, ReturnEntity.Field.recallMatch],
        [
            ReturnEntity.Field.refundAmount, ReturnEntity.Field.refundFee, ReturnEntity.Field.refundCurrency,
            ReturnEntity.Field.refundMethod, ReturnEntity.Field.refundExchangeGTIN, ReturnEntity.Field.refundReason,
            ReturnEntity.Field.refundBy,
        ],
        [
            ReturnEntity.Field.rmaNumber, ReturnEntity.Field.rmaCarrier, ReturnEntity.Field.rmaTracking,
            ReturnEntity.Field.rmaShippedOn,
        ],
        [
            ReturnEntity.Field.vendorCreditAmount, ReturnEntity.Field.vendorCreditCurrency,
            ReturnEntity.Field.vendorCreditOn,
        ],
    ]

    /// A rule a pushed return breaks.
    public struct Violation: Error, Hashable, Sendable, CustomStringConvertible {
        /// Which rule, as a protocol error code names it.
        public enum Reason: Hashable, Sendable {
            case invalidRecord, forbiddenStore, forbiddenField, limitExceeded
        }

        public var reason: Reason
        /// What is wrong; it names the pushed record and field, and nothing about other stores.
        public var message: String

        public var description: String { message }
    }

    /// Checks the size of a pushed record, before anything else is done with it.
    public static func checkLimits(_ record: VersionedRecord) throws {
        let fields = record.registers.count + record.sets.count
        guard fields <= maximumFields else {
            throw Violation(
                reason: .limitExceeded,
                message: "record \(record.id) holds \(fields) fields: at most \(maximumFields) are accepted"
            )
        }
        // Serialising every pushed record to measure it cost a tenth of push throughput; a bound computed from the
        // parts is enough for every ordinary record, and only a record near the limit is measured exactly. A record
        // read from its frame knows its size already: the bound was 6 % of preparing a push (issue 18).
        let bytes: Int
        if let known = record.knownJSONByteCount {
            bytes = known
        } else {
            guard jsonSizeBound(record) > maximumRecordBytes else { return }
            bytes = record.jsonString.utf8.count
        }
        guard bytes <= maximumRecordBytes else {
            throw Violation(
                reason: .limitExceeded,
                message: "record \(record.id) takes \(bytes) bytes: at most \(maximumRecordBytes) are accepted"
            )
        }
    }

    /// At least the size of `record`'s JSON form (Protocol/SPEC.md §6), without writing it: every character
    /// counted as the longest escape it could need, every number as 20 digits, every value with its own entry in
    /// `writes`.
    static func jsonSizeBound(_ record: VersionedRecord) -> Int {
        func text(_ string: String) -> Int { 6 * string.utf8.count + 2 }
        func value(_ dotted: DottedValue) -> Int {
            let body: Int
            if case .string(let string) = dotted.value { body = text(string) } else { body = 20 }
            // `[value,index]`, and `[replica,counter,physical,logical]` in `writes`.
            return body + 24 + text(dotted.dot.replica.rawValue) + 66
        }
        var total = 128 + text(record.id) + text(record.entityType)
        for (field, values) in record.registers { total += text(field) + 4 + values.reduce(0) { $0 + value($1) } }
        for (field, values) in record.sets { total += text(field) + 4 + values.reduce(0) { $0 + value($1) } }
        for (replica, _) in record.clock.counters { total += text(replica.rawValue) + 22 }
        for entry in record.conflictHistory {
            total += 48 + text(entry.field) + value(entry.resolution) + entry.replaced.reduce(0) { $0 + value($1) }
        }
        return total
    }

    /// What ``check(_:item:stored:pusher:store:isServer:precheck:)`` finds in a pushed return without the stored
    /// version, worked out once from the pushed version alone — by a server on another thread than its one writer
    /// (issue 18: the write rules were a sixth of the writer's time in a large push).
    public struct Precheck: Sendable {
        /// The first rule about the values themselves the return breaks (these come first in `check`'s order).
        let values: Violation?
        /// Why the return could not be new: its creating write is not one write of the kiosk it names.
        let asNew: Violation?
        /// Whether some write sets a field only HQ writes.
        let writesServerOnlyFields: Bool
        /// Whether every write that sets a field of a group sets the whole group. Then so does every subset of the
        /// writes — the ones the stored version lacks among them — and the group rule holds whatever is stored.
        let groupsHold: Bool
    }

    /// Works out what ``check(_:item:stored:pusher:store:isServer:precheck:)`` needs nothing stored for.
    public static func precheck(_ pushed: VersionedRecord, item: ProductReturn) -> Precheck {
        // Every write of the record is one the server lacks when nothing is stored. Found by the few fields they
        // are about, not by listing every write: this runs for each pushed return, and most hold none of them.
        let names = FieldNames(pushed)
        return Precheck(
            values: firstViolation(in: pushed) { try checkValues(pushed, item: item, names: names) },
            asNew: firstViolation(in: pushed) { try checkCreation(pushed, item: item) },
            writesServerOnlyFields: names.serverOnly,
            groupsHold: firstViolation(in: pushed) {
                try checkGroups(
                    pushed,
                    held: names.heldGroups,
                    dots: Set(pushed.writes(notCoveredBy: VectorClock()).map(\.value.dot))
                )
            } == nil
        )
    }

    /// The rule `check` finds broken in `pushed`, or `nil`. The rules throw nothing but violations; anything else
    /// is one too (`invalid-record`), the same with a precheck or without.
    private static func firstViolation(in pushed: VersionedRecord, _ check: () throws -> Void) -> Violation? {
        do {
            try check()
            return nil
        } catch let violation as Violation {
            return violation
        } catch {
            return Violation(reason: .invalidRecord, message: "return \(pushed.id): \(error)")
        }
    }

    /// Checks a return pushed by kiosk `pusher` of store `store` against the version stored on the server.
    ///
    /// - Parameters:
    ///   - pushed: the pushed version, already decoded as `item`.
    ///   - stored: the stored version, or `nil` for a return new to the server.
    ///   - isServer: whether a replica id is the server's, current or former.
    ///   - precheck: what ``precheck(_:item:)`` found in `pushed`, when it was worked out before; the rules it
    ///     settles are then not checked again, and the outcome is the same.
    /// - Throws: ``Violation`` for the first rule broken.
    public static func check(
        _ pushed: VersionedRecord,
        item: ProductReturn,
        stored: VersionedRecord?,
        pusher: ReplicaID,
        store: StoreID,
        isServer: (ReplicaID) -> Bool,
        precheck: Precheck? = nil
    ) throws {
        let id = pushed.id
        // Worked out only when a rule below needs them: a precheck settled those rules already.
        var knownNames: FieldNames?
        func names() -> FieldNames {
            if let knownNames { return knownNames }
            let names = FieldNames(pushed)
            knownNames = names
            return names
        }
        if let violation = precheck.map(\.values)
            ?? firstViolation(in: pushed, { try checkValues(pushed, item: item, names: names()) })
        {
            throw violation
        }
        // The stored store decides, not the pushed one: a version claiming the caller's store must not move
        // another store's return. The message is the same either way and names no other store.
        // Read from the register, not a decoded return: a stored version that no longer decodes (one stored
        // before values were range-checked) still has a store.
        var storedStore: FieldValue?
        if let stored {
            storedStore =
                stored.visibleValue(of: ReturnEntity.Field.storeID, policy: ReturnEntity.policy)?.value ?? .null
        }
        guard item.storeID == store, storedStore == nil || storedStore == .string(store.rawValue) else {
            throw Violation(
                reason: .forbiddenStore,
                message: "return \(id) may not be written by kiosk \(pusher): a kiosk writes its own store's returns"
            )
        }
        // The writes the stored version lacks, worked out only when a rule below needs them: a new return that the
        // precheck cleared (nearly all of a large push) needs none.
        var freshWrites: [(field: String, value: DottedValue)]?
        func fresh() -> [(field: String, value: DottedValue)] {
            if let freshWrites { return freshWrites }
            let writes = pushed.writes(notCoveredBy: stored?.clock ?? VectorClock())
            freshWrites = writes
            return writes
        }
        if stored != nil {
            if let write = fresh().first(where: { fixedFields.contains($0.field) }) {
                throw Violation(
                    reason: .forbiddenStore,
                    message: "return \(id): '\(write.field)' is fixed when a return is created; write "
                        + "\(write.value.dot) may not change it"
                )
            }
        } else if let violation = precheck.map(\.asNew)
            ?? firstViolation(in: pushed, { try checkCreation(pushed, item: item) })
        {
            throw violation
        }
        if precheck?.writesServerOnlyFields ?? true,
            let write = fresh().first(where: { serverOnlyFields.contains($0.field) && !isServer($0.value.dot.replica) })
        {
            throw Violation(
                reason: .forbiddenField,
                message: "return \(id): '\(write.field)' is written by HQ only, not by \(write.value.dot.replica)"
            )
        }
        if !(precheck?.groupsHold ?? false) {
            try checkGroups(pushed, held: names().heldGroups, dots: Set(fresh().map(\.value.dot)))
        }
    }

    /// The rules about the values of a return, which need nothing stored: fields of the right kind, and every value
    /// valid — the concurrent ones, the exceptions, the editors and the attachments, which decoding `item` does not
    /// check.
    private static func checkValues(_ pushed: VersionedRecord, item: ProductReturn, names: FieldNames) throws {
        let id = pushed.id
        guard item.id.rawValue == id else {
            throw Violation(
                reason: .invalidRecord,
                message: "return id '\(id)' is not canonical: ids are lower-case UUIDs ('\(item.id.rawValue)')"
            )
        }
        // A known field of the wrong kind is refused. A field this version does not know — a newer kiosk's — is kept
        // and forwarded untouched (issue 22: a fleet upgrades in waves, and no value may be lost meanwhile), within
        // what can be checked without knowing it (``ReturnEntity/validateUnknown(_:of:asSet:)``); the record's
        // limits (fields, bytes) bound how much of it there can be.
        // Filtered before sorted: nearly every push knows all its fields, and this runs for each pushed return.
        for field in names.unknownRegisters.sorted() {
            guard !ReturnEntity.setFields.contains(field) else {
                throw Violation(
                    reason: .invalidRecord,
                    message: "return \(id): '\(field)' is a set of a return, not a register"
                )
            }
            for value in pushed.values(of: field) { try validatedUnknown(value.value, of: field, asSet: false, in: id) }
        }
        for field in names.unknownSets.sorted() {
            guard !ReturnEntity.registerFields.contains(field) else {
                throw Violation(
                    reason: .invalidRecord,
                    message: "return \(id): '\(field)' is a register of a return, not a set"
                )
            }
            for element in pushed.elements(of: field) {
                try validatedUnknown(element.value, of: field, asSet: true, in: id)
            }
        }
        // Every value, not only the ones shown: a value that loses a conflict is stored and forwarded all the same.
        // Decoding `item` checked the shown ones (and every note) already; checking them again cost a tenth of
        // push throughput, so only the concurrent values are checked here.
        // Found before sorted (the order names the first at fault): nearly every register holds one value, and a
        // plain loop names none, where a lazy filter feeding `sorted` copied every register out to test it (~4 % of
        // preparing a push, issue 18).
        var concurrent: [String] = []
        for (field, values) in pushed.registers where values.count > 1 { concurrent.append(field) }
        for field in concurrent.sorted() where ReturnEntity.registerFields.contains(field) {
            for value in pushed.values(of: field) { try validated(value.value, of: field, in: id) }
        }
        // Decoding skips exception spellings it does not know (a newer HQ's); a push must name known ones only.
        for field in [ReturnEntity.Field.exceptions, ReturnEntity.Field.reviewExceptions] {
            if let value = pushed.visibleValue(of: field, policy: ReturnEntity.policy)?.value, value != .null {
                try validated(value, of: field, in: id)
            }
        }
        // Decoding does not read who made the edits, and skips attachments it cannot read: every element is
        // checked here.
        for field in [ReturnEntity.Field.editors, ReturnEntity.Field.attachments] {
            for element in pushed.elements(of: field) { try validated(element.value, of: field, in: id) }
        }
    }

    /// A new return: one creating write sets the fixed fields, and its kiosk is the one `kioskId` names.
    private static func checkCreation(_ pushed: VersionedRecord, item: ProductReturn) throws {
        let id = pushed.id
        // Each fixed field holds one value, all of one write: looked up once each, with no set of dots and no
        // arrays built (this runs for every pushed return; issue 18).
        var creator: Dot?
        for field in fixedFields {
            let values = pushed.values(of: field)
            guard values.count == 1, creator.map({ $0 == values[0].dot }) ?? true else {
                creator = nil
                break
            }
            creator = values[0].dot
        }
        guard let creator else {
            throw Violation(
                reason: .forbiddenField,
                message: "return \(id): a new return's \(fixedFields.joined(separator: ", ")) are written "
                    + "once, by the write that creates it"
            )
        }
        guard Self.names(creator.replica, store: item.storeID, kiosk: item.kioskID) else {
            throw Violation(
                reason: .forbiddenField,
                message: "return \(id): kioskId '\(item.kioskID)' must name the kiosk that created it, "
                    + "not \(creator.replica)"
            )
        }
    }

    /// Whether `replica` is kiosk `kiosk` of store `store` (`STORE/KIOSK`), compared in place rather than by
    /// writing that name out for every pushed return. Byte for byte: all three are ASCII, where that is what
    /// `String`'s equality compares too.
    static func names(_ replica: ReplicaID, store: StoreID, kiosk: KioskID) -> Bool {
        let name = replica.rawValue.utf8
        let (storeName, kioskName) = (store.rawValue.utf8, kiosk.rawValue.utf8)
        guard name.count == storeName.count + 1 + kioskName.count, name.starts(with: storeName) else { return false }
        let rest = name.dropFirst(storeName.count)
        return rest.first == UInt8(ascii: "/") && rest.dropFirst().elementsEqual(kioskName)
    }

    /// Fields that belong together are written together by each of `dots`.
    ///
    /// The violation named is the first group's in ``fieldGroups`` order, and in it the first write in dot order: the
    /// same message however the writes were collected (a set's order differs from one set to another).
    ///
    /// - Parameter held: a bit for each group the record holds a value of (``FieldNames/heldGroups``), found from
    ///   its own registers rather than by looking up every field of every group: most returns hold none of them,
    ///   and then no write is listed.
    private static func checkGroups(_ pushed: VersionedRecord, held: UInt, dots: @autoclosure () -> Set<Dot>) throws {
        guard held != 0 else { return }
        var ordered: [Dot]?
        for (index, group) in fieldGroups.enumerated() where held & (1 << index) != 0 {
            // Each field's values looked up once a group.
            let values = group.map { pushed.values(of: $0) }
            if ordered == nil { ordered = dots().sorted() }
            for dot in ordered ?? [] {
                let written = zip(group, values).filter { $0.1.contains { $0.dot == dot } }.map(\.0)
                guard written.isEmpty || written.count == group.count else {
                    throw Violation(
                        reason: .forbiddenField,
                        message: "return \(pushed.id): write \(dot) sets \(written.joined(separator: ", ")) without "
                            + group.filter { !written.contains($0) }.joined(separator: ", ")
                            + "; they are written together"
                    )
                }
            }
        }
    }

    private static func validatedUnknown(_ value: FieldValue, of field: String, asSet: Bool, in id: String) throws {
        try invalidRecord(id) { try ReturnEntity.validateUnknown(value, of: field, asSet: asSet) }
    }

    private static func validated(_ value: FieldValue, of field: String, in id: String) throws {
        // A newer release's value of a known vocabulary is kept and forwarded, like a newer release's field.
        guard !ReturnEntity.isNewerValue(value, of: field) else { return }
        try invalidRecord(id) { try ReturnEntity.validate(value, of: field) }
    }

    /// Runs a check of return `id`'s values; what it finds wrong is the push's `invalid-record`.
    private static func invalidRecord(_ id: String, _ check: () throws -> Void) throws {
        do {
            try check()
        } catch let error as ReturnsModelError {
            throw Violation(reason: .invalidRecord, message: "return \(id): \(error.message)")
        }
    }
}
