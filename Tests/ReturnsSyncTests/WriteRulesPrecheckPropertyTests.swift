import Foundation
import PropertyBased
import ReturnsModel
import ReturnsSync
import SyncEngine
import Synchronization
import Testing

/// A server works out the write rules that need nothing stored before its writer runs (``ReturnWriteRules/precheck(_:item:)``);
/// the writer then checks only the rest. Whatever was pushed and whatever is stored, the outcome must be the one the
/// whole check gives: the same rule broken, with the same message, or none.
@Suite struct WriteRulesPrecheckPropertyTests {
    /// One edit: `replica` writes `value` into `field`. Kiosk A and HQ edit one branch, kiosk B and another store's
    /// kiosk the other (each replica on one branch only, so no write is made twice); the branches are merged into the
    /// pushed version, so registers can hold concurrent values.
    struct Step: Sendable {
        var replica: Int
        var branch: Int { replica % 2 }
        var field: Int
        var value: Int
    }

    /// A push: how its return was created, the edits, and which version the server holds.
    struct Case: Sendable {
        /// 0: by the kiosk `kioskId` names; 1: by another kiosk of the store.
        var creator: Int
        var steps: [Step]
        /// 0: nothing; 1: the created version; 2: branch 1 alone; 3: the version after the first half of branch 0.
        var stored: Int
    }

    static let replicas = try! ["store-12/kiosk-a", "store-12/kiosk-b", "hq", "store-9/kiosk-z"].map(ReplicaID.init)

    /// Known registers of every kind the rules treat apart — fixed, HQ-only, grouped, vocabularies checked only
    /// when concurrent — a set written as a register, and a field of a newer release.
    static let fields = [
        ReturnEntity.Field.status, ReturnEntity.Field.disposition, ReturnEntity.Field.reviewOutcome,
        ReturnEntity.Field.reviewNote, ReturnEntity.Field.reviewExceptions, ReturnEntity.Field.repairVendor,
        ReturnEntity.Field.repairStatus, ReturnEntity.Field.recallCampaign, ReturnEntity.Field.recallMatch,
        ReturnEntity.Field.storeID, ReturnEntity.Field.kioskID, ReturnEntity.Field.createdAt,
        ReturnEntity.Field.exceptions, ReturnEntity.Field.notes, "futureField", ReturnEntity.Field.condition,
    ]

    static let values: [FieldValue] = [
        .string("received"), .string("closed"), .string("quarantine"), .string("Shred"), .string("approved"),
        .string("store-9"), .string("kiosk-b"), .string("acme"), .string("sent"), .string(""), .integer(7),
        .integer(1_780_000_000_000), .null, .string("no-receipt"), .string("warp-drive"), .string("certain"),
    ]

    static let cases = Generator<Case, Shrink.None<Case>>(run: { rng in
        Case(
            creator: Int.random(in: 0..<4, using: &rng) == 0 ? 1 : 0,
            steps: (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                Step(
                    replica: Int.random(in: 0..<replicas.count, using: &rng),
                    field: Int.random(in: 0..<fields.count, using: &rng),
                    value: Int.random(in: 0..<values.count, using: &rng)
                )
            },
            stored: Int.random(in: 0..<4, using: &rng)
        )
    })

    /// The outcome of a check: the rule broken and its message, or `nil`.
    static func outcome(_ check: () throws -> Void) -> String? {
        do {
            try check()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theWriterAfterThePrecheckRefusesExactlyWhatTheWholeCheckRefuses() async throws {
        let tally = Mutex<(accepted: Int, refused: Int, skipped: Int)>((0, 0, 0))
        await propertyCheck(count: 400, input: Self.cases) { example in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let created = Date(millisecondsSince1970: 1_780_000_000_000)
                let item = try ProductReturn(
                    id: ReturnID.make(at: created),
                    storeID: StoreID("store-12"),
                    kioskID: KioskID("kiosk-a"),
                    orderID: OrderID("O-1"),
                    gtin: GTIN("96385074"),
                    reason: .defective,
                    createdAt: created
                )
                var clock = HybridLogicalClock()
                var wallClock: UInt64 = 1_780_000_000_000
                func stamp() throws -> HLCTimestamp {
                    wallClock += 1_000
                    return try clock.tick(wallClock: wallClock)
                }
                let base = try ReturnEntity.makeRecord(for: item, by: Self.replicas[example.creator], stamp: stamp())
                var branches = [base, base]
                var halfway = base
                let firstHalf = example.steps.filter { $0.branch == 0 }.count / 2
                var onBranchZero = 0
                for step in example.steps {
                    let field = Self.fields[step.field]
                    var edit = RecordEdit()
                    if field == ReturnEntity.Field.notes, step.value % 2 == 0 {
                        edit.add(Self.values[step.value], to: field)
                    } else {
                        edit.set(field, to: Self.values[step.value])
                    }
                    // An edit the record refuses (a set written as a register) is simply not made.
                    _ = try? branches[step.branch].apply(edit, by: Self.replicas[step.replica], stamp: stamp())
                    if step.branch == 0 {
                        onBranchZero += 1
                        if onBranchZero == firstHalf { halfway = branches[0] }
                    }
                }
                let pushed = try VersionedRecord.merge(branches[0], branches[1])
                let stored: VersionedRecord? = [nil, base, branches[1], halfway][example.stored]
                // A version that does not decode is refused before the write rules, with or without the precheck.
                guard let decoded = try? ProductReturn(record: pushed) else {
                    tally.withLock { $0.skipped += 1 }
                    return
                }
                func check(_ precheck: ReturnWriteRules.Precheck?) throws {
                    try ReturnWriteRules.check(
                        pushed,
                        item: decoded,
                        stored: stored,
                        pusher: Self.replicas[0],
                        store: StoreID("store-12"),
                        isServer: { $0 == Self.replicas[2] },
                        precheck: precheck
                    )
                }
                let whole = Self.outcome { try check(nil) }
                let split = Self.outcome { try check(ReturnWriteRules.precheck(pushed, item: decoded)) }
                #expect(split == whole, "pushed \(pushed), stored \(String(describing: stored))")
                tally.withLock { whole == nil ? ($0.accepted += 1) : ($0.refused += 1) }
            } catch {
                Issue.record(error)
            }
        }
        // The cases reach both outcomes: a generator that only made refused (or only accepted) pushes would
        // compare nothing of the other.
        let counts = tally.withLock { $0 }
        #expect(counts.accepted > 20)
        #expect(counts.refused > 20)
    }
}
