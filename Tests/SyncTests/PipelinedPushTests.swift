import Foundation
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

/// A connection's pushes sent before the earlier ones are answered (SPEC §3): the server prepares the next while the
/// last commits, and commits several together (issue 18), but merges and answers them in the order they were sent.
@Suite struct PipelinedPushTests {
    /// Push 1 (500 returns, slow to prepare) holds the first version of a return, push 2 (tiny) the next version of
    /// the same return. In order, both merge; had push 2 been merged first, push 1's version would be old news
    /// (`unchanged`), and the answers would say so.
    @Test func pipelinedPushesMergeAndAreAnsweredInTheOrderSent() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try await kiosk.sync()  // enrolled
        let wire = try HandBuiltKiosk(kiosk)
        var first: [String] = []
        for number in 1...499 {
            let item = try kiosk.record(order: "ORD-\(number)")
            first.append(try kiosk.store.returnRecord(item.id).jsonValue.serializedString)
        }
        let edited = try kiosk.record(order: "ORD-EDITED")
        first.append(try kiosk.store.returnRecord(edited.id).jsonValue.serializedString)
        try kiosk.store.updateReturn(edited.id, operation: "note") { item, author, date in
            try item.addNote("box crushed", by: author, at: date)
        }
        let second = try kiosk.store.returnRecord(edited.id).jsonValue.serializedString
        let third = try kiosk.store.returnRecord(kiosk.record(order: "ORD-LAST").id).jsonValue.serializedString

        let answers = try await RawClient.connect(to: server).converse { send, receive in
            #expect(try await wire.authenticate(send, receive)?["type"] == .string("welcome"))
            // All three before any answer, then a pull behind them: it must see every push merged.
            for (batch, records) in [(1, first), (2, [second]), (3, [third])] {
                try await send(
                    "{\"type\":\"push\",\"batch\":\(batch),\"records\":[\(records.joined(separator: ","))]}\n"
                )
            }
            try await send("{\"type\":\"pull\",\"cursor\":\"0\",\"limit\":500}\n")
            var answers: [JSONValue] = []
            for _ in 0..<4 { answers.append(try #require(try await receive())) }
            try await send("{\"type\":\"bye\"}\n")
            return answers
        }
        let acks = answers.prefix(3).map { ack in
            "\(ack["type"]?.stringValue ?? "?") \(ack["batch"]?.integerValue ?? 0): "
                + "merged \(ack["merged"]?.integerValue ?? -1), unchanged \(ack["unchanged"]?.integerValue ?? -1)"
        }
        #expect(
            acks == [
                "push-ack 1: merged 500, unchanged 0", "push-ack 2: merged 1, unchanged 0",
                "push-ack 3: merged 1, unchanged 0",
            ]
        )
        #expect(answers[3]["type"] == .string("pull-batch"))
        let stored = try server.store.returnRecord(edited.id)
        #expect(try ProductReturn(record: stored).notes.map(\.text) == ["box crushed"], "the later version won")
        #expect(try server.store.returnRecords().count == 501)
        try await server.stop()
    }
}
