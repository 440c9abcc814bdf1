import Benchmark
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine
import WireProtocol

/// A return as a kiosk captures it, as a record.
private func sampleRecord(_ index: Int, replica: ReplicaID) -> VersionedRecord {
    let item = try! ProductReturn(
        id: ReturnID.make(milliseconds: 1_790_000_000_000 + UInt64(index), sequence: 0),
        storeID: StoreID("store-1"),
        kioskID: KioskID("k1"),
        orderID: OrderID("ORD-\(index)"),
        gtin: GTIN("4006381333931"),
        serial: ItemCode("SN-\(index)", kind: "serial"),
        reason: .defective,
        verification: .verified,
        createdAt: Date(millisecondsSince1970: 1_790_000_000_000)
    )
    return try! ReturnEntity.makeRecord(
        for: item,
        by: replica,
        stamp: HLCTimestamp(physical: 1_790_000_000_000 + UInt64(index))
    )
}

/// An empty server store in a directory of its own, which the caller removes.
private func freshServer(_ hq: ReplicaID) -> (ReplicaStore, URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("engine-bench-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let store = try! ReplicaStore.create(
        at: directory.appendingPathComponent("hq.sqlite").path,
        identity: .server(replicaID: hq)
    )
    return (store, directory)
}

/// A server store loaded once by a benchmark's `setup` and used by its samples (benchmarks run one at a time).
private final class LoadedServer: @unchecked Sendable {
    var store: ReplicaStore?
    var directory: URL?
    var offset = 0
}

let benchmarks: @Sendable () -> Void = {
    let kiosk = try! ReplicaID("store-1/k1")
    let hq = try! ReplicaID("hq")
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(2)
    )

    // Vector clocks: the comparison every merge starts with, and the join.
    var left = VectorClock()
    var right = VectorClock()
    for index in 0..<8 {
        let replica = try! ReplicaID("store-\(index)/k")
        for _ in 0...index { _ = left.increment(replica) }
        for _ in 0...(7 - index) { _ = right.increment(replica) }
    }
    Benchmark("VectorClock compare (8 replicas)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(left.compare(right)) }
    }
    Benchmark("VectorClock merge (8 replicas)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var merged = left
            merged.merge(right)
            blackHole(merged)
        }
    }

    // Records: a kiosk's capture, merged with HQ's concurrent edit of it.
    let base = sampleRecord(1, replica: kiosk)
    var atHQ = base
    try! atHQ.apply(
        RecordEdit(assignments: ["disposition": "repair"]),
        by: hq,
        stamp: .init(physical: 1_790_000_001_000)
    )
    var atKiosk = base
    try! atKiosk.apply(
        RecordEdit(assignments: ["disposition": "restock"]),
        by: kiosk,
        stamp: .init(physical: 1_790_000_002_000)
    )
    Benchmark("VersionedRecord merge (concurrent edits)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var merged = atKiosk
            blackHole(try! merged.merge(atHQ))
        }
    }
    Benchmark("ProductReturn from record (visible state)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! ProductReturn(record: atKiosk)) }
    }

    // A new return's id, as every capture and every line of an import makes one.
    Benchmark("ReturnID make (1,000 ids)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            for index in 0..<1_000 {
                blackHole(ReturnID.make(milliseconds: 1_790_000_000_000, sequence: UInt32(index)))
            }
        }
    }
    // The same ids with their random bits drawn 256 bytes at a time, as an import makes them.
    Benchmark("ReturnID make, random bits batched (1,000 ids)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            var random = BatchedSystemRandomNumberGenerator()
            for index in 0..<1_000 {
                blackHole(
                    ReturnID.make(milliseconds: 1_790_000_000_000, sequence: UInt32(index), using: &random)
                )
            }
        }
    }

    // A kiosk import's lines as a shop's system writes them, read into documents: from their bytes (the import's
    // path since issue 18's eighteenth part) and through the JSON tree (every line before, and any line not flat).
    let importLines = (0..<500).map { index in
        Array(
            (#"{"orderId":"ORD-\#(index)","gtin":"4006381333931","reason":"defective","quantity":1,"#
                + #""serial":"SN1-\#(index)"}"#).utf8
        )
    }
    Benchmark("import lines read (500 lines)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            for line in importLines { blackHole(ReturnDocument.scanned(line)!) }
        }
    }
    Benchmark("import lines read through the JSON tree (500 lines)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            for line in importLines { blackHole(try! ReturnDocument(jsonValue: JSONValue.parse(line))) }
        }
    }

    // The wire: a push frame of 500 returns, encoded and decoded.
    let records = (0..<500).map { sampleRecord($0, replica: kiosk) }
    let push = SyncMessage.push(batch: 1, records: records)
    let frame = push.encoded()
    Benchmark("push frame encode (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(push.encoded()) }
    }
    // What storing a record a replica made costs first: its compact JSON, written (every capture, edit and import).
    Benchmark("record JSON written (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            for record in records { blackHole(record.jsonString) }
        }
    }
    Benchmark("push frame decode (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! SyncMessage.decode(frame)) }
    }
    // A kiosk reads a pulled page's envelope on its connection's thread, and decodes the records on another
    // (issue 18, nineteenth part): what the connection's thread is left with, against the page's whole decoding.
    let page = SyncMessage.pullBatch(records: records, cursor: "500", more: true).encoded()
    Benchmark("pull-batch envelope read (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(PullBatchEnvelope.peek(page)) }
    }
    Benchmark("pull-batch frame decode (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! SyncMessage.decode(page)) }
    }
    // The lever of issue 18: the same frame through the JSON tree, as every frame was read before.
    Benchmark("push frame decode through the JSON tree (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! SyncMessage.decode(JSONValue.parse(frame))) }
    }
    // What the writer no longer does: the push rules' own checks and each new return's JSON and projection.
    Benchmark("push prepared off the writer (500 returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PreparedServerPush(records, from: kiosk, store: try! StoreID("store-1")))
        }
    }
    // "Bytes in, bytes stored": the same records as the server has them, read from the frame, each keeping the
    // bytes it came in as its JSON instead of having it written again (the records above were made in memory).
    guard case .push(_, let pushed) = try! SyncMessage.decode(frame) else { fatalError("not a push") }
    Benchmark("push prepared off the writer, records read from their frame (500 returns)", configuration: configuration)
    { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PreparedServerPush(pushed, from: kiosk, store: try! StoreID("store-1")))
        }
    }

    // The write rules as the server's writer runs them for 500 new returns (issue 18, eighth part): the whole check,
    // as it did, against what is left once the precheck was made while the push was prepared, off the writer.
    let items = records.map { try! ProductReturn(record: $0) }
    let prechecks = zip(records, items).map { ReturnWriteRules.precheck($0, item: $1) }
    let store = try! StoreID("store-1")
    for split in [false, true] {
        Benchmark(
            split
                ? "write rules on the writer after the precheck (500 new returns)"
                : "write rules on the writer, whole (500 new returns)",
            configuration: configuration
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                for index in records.indices {
                    try! ReturnWriteRules.check(
                        records[index],
                        item: items[index],
                        stored: nil,
                        pusher: kiosk,
                        store: store,
                        isServer: { $0 == hq },
                        precheck: split ? prechecks[index] : nil
                    )
                }
            }
        }
    }

    // HQ's re-verification of a push of 500 new returns that share nothing, without its searches: the facts made
    // from the returns, the check that nothing else need be read, and the decisions (issue 18: this part was about
    // a sixth of the server's writer in a fleet).
    Benchmark("re-verification decided (500 new returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            let facts = items.map(ReturnFacts.init)
            blackHole(PurchaseReverification.unread(facts, seeds: facts, byCustomer: false))
            var verification = PurchaseReverification(returns: facts, lines: [], policies: [], hasOrders: false)
            blackHole(verification.reverify(facts.map(\.id)))
        }
    }

    // The same push as the server's writer decides it since the twenty-eighth part: returns that share nothing with
    // each other or with what HQ holds (the searches found the seeds alone) are each decided alone, no groups built.
    Benchmark("re-verification decided, each alone (500 new returns)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            let facts = items.map(ReturnFacts.init)
            precondition(PurchaseReverification.isolated(facts, seeds: facts, byCustomer: false))
            let verification = PurchaseReverification(returns: [], lines: [], policies: [], hasOrders: false)
            blackHole(verification.reverifyEachAlone(facts))
        }
    }

    // Group commit: 20 pushes of 25 new returns, in one transaction against one each (each with its fsync).
    for grouped in [false, true] {
        Benchmark(
            grouped ? "server commits 20 pushes of 25 together" : "server commits 20 pushes of 25, one each",
            configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
        ) { benchmark in
            let (store, directory) = freshServer(hq)
            defer { try? FileManager.default.removeItem(at: directory) }
            var offset = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let writes = (0..<20).map { push in
                    GroupedWrite.push(
                        PreparedServerPush(
                            (0..<25).map { sampleRecord(offset + push * 25 + $0, replica: kiosk) },
                            from: kiosk,
                            store: try! StoreID("store-1")
                        )
                    )
                }
                offset += 500
                if grouped {
                    blackHole(store.commitGroup(writes))
                } else {
                    for write in writes { blackHole(store.commitGroup([write])) }
                }
            }
        }
    }

    // The group's fsync off the writer (issue 18, twenty-ninth part): 8 pushes of 500 new returns, each group synced
    // in its commit, against each committed without its sync while a thread of its own syncs the log behind it (as
    // GroupCommitQueue does): the writer's next group overlaps the sync of the last. Waits for the last sync.
    for syncedLater in [false, true] {
        Benchmark(
            syncedLater
                ? "server commits 8 pushes of 500, each synced on another thread"
                : "server commits 8 pushes of 500, each synced in its commit",
            configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
        ) { benchmark in
            let (store, directory) = freshServer(hq)
            defer { try? FileManager.default.removeItem(at: directory) }
            let syncer = DispatchQueue(label: "benchmark.sync")
            var offset = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                for push in 0..<8 {
                    let write = GroupedWrite.push(
                        PreparedServerPush(
                            (0..<500).map { sampleRecord(offset + push * 500 + $0, replica: kiosk) },
                            from: kiosk,
                            store: try! StoreID("store-1")
                        )
                    )
                    blackHole(store.commitGroup([write], syncingLater: syncedLater))
                    if syncedLater { syncer.async { try! store.syncLog() } }
                }
                offset += 4_000
                syncer.sync {}
            }
        }
    }

    // A kiosk's pull (issue 18, seventh part): four pulled pages of 500 new returns merged one transaction each, as
    // a kiosk did, against together in one (what it does with the pages that arrive while it merges).
    for grouped in [false, true] {
        Benchmark(
            grouped ? "kiosk merges 4 pulled pages of 500 together" : "kiosk merges 4 pulled pages of 500, one each",
            configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
        ) { benchmark in
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("engine-bench-\(UUID().uuidString)")
            try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try! ReplicaStore.create(
                at: directory.appendingPathComponent("kiosk.sqlite").path,
                identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("k2"))
            )
            // Prepared first, as the kiosk's reading task prepares them, off the writer: not what is compared.
            let batches = benchmark.scaledIterations.enumerated().map { iteration, _ in
                (0..<4).map { page in
                    PreparedPull((0..<500).map { sampleRecord((iteration * 4 + page) * 500 + $0, replica: kiosk) })
                }
            }
            var cursor = 0
            benchmark.startMeasurement()
            for pages in batches {
                if grouped {
                    cursor += 4
                    blackHole(try! store.mergePulled(pages: pages, cursor: "\(cursor)"))
                } else {
                    for page in pages {
                        cursor += 1
                        blackHole(try! store.mergePulled(page, cursor: "\(cursor)"))
                    }
                }
            }
        }
    }

    // The store: the server applying a pushed batch of 500 new returns (one transaction, re-verification included),
    // into an empty server and into one holding 100,000 returns: time and allocations per push should not grow
    // with what the server holds (issue 18: "keep allocations flat with N").
    for held in [0, 100_000] {
        // Loaded once before the samples (`setup`), so that each sample measures one push, not the loading.
        let server = LoadedServer()
        Benchmark(
            "server applies a push (500 new returns, \(held) held)",
            configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(5)),
            closure: { benchmark in
                guard let store = server.store else { return }
                for _ in benchmark.scaledIterations {
                    // New ids each round, so every round stores 500 new records.
                    let batch = (0..<500).map { sampleRecord(server.offset + $0, replica: kiosk) }
                    server.offset += 500
                    blackHole(try! store.acceptPush(batch, from: kiosk, store: StoreID("store-1")))
                }
            },
            setup: {
                let (store, directory) = freshServer(hq)
                while server.offset < held {
                    let batch = (0..<10_000).map { sampleRecord(server.offset + $0, replica: kiosk) }
                    _ = try store.acceptPush(batch, from: kiosk, store: StoreID("store-1"))
                    server.offset += 10_000
                }
                (server.store, server.directory) = (store, directory)
            },
            teardown: {
                server.store = nil
                if let directory = server.directory { try? FileManager.default.removeItem(at: directory) }
            }
        )
    }
}
