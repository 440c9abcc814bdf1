import Foundation
import Logging
import PostgresNIO
import ReplicaStore
import ReturnSyncJSON
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine

extension PostgresServerStorage: ReturnAdministration {
    /// An HQ edit: under the server's id, stamped by HQ's clock (kept in the database), stored with its projection
    /// and a place in the store's feed (taken under the feed head's lock, as a push's), announced to every process.
    public func editReturn(
        _ id: ReturnID,
        operation: String,
        _ body: @escaping @Sendable (inout ProductReturn, _ author: String, _ date: Date) throws -> ReturnUpdate
    ) async throws -> ProductReturn {
        let logger = self.logger
        let serverID = serverReplicaID
        return try await transaction { connection in
            var store: String?
            for try await (value) in try await connection.query(
                "SELECT store_id FROM records WHERE entity_type = 'return' AND id = \(id.rawValue)",
                logger: logger
            ).decode(String.self) { store = value }
            guard let store else { throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)") }
            let head = try await Self.lockFeedHead(of: store, on: connection, logger: logger)
            var record: VersionedRecord?
            for try await (json) in try await connection.query(
                """
                SELECT record FROM records WHERE store_id = \(store) AND entity_type = 'return' AND id = \(id.rawValue)
                FOR UPDATE
                """,
                logger: logger
            ).decode(String.self) { record = try VersionedRecord(jsonValue: JSONValue.parse(json)) }
            guard var record else { throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)") }
            let stamp = try await Self.hqStamp(after: record, on: connection, logger: logger)
            _ = try record.updateReturn(by: serverID, stamp: stamp, body)
            let item = try ProductReturn(record: record)
            try await connection.query(
                """
                UPDATE records SET record = \(record.jsonString)
                WHERE store_id = \(store) AND entity_type = 'return' AND id = \(id.rawValue)
                """,
                logger: logger
            )
            try await Self.project([(item, record)], on: connection, logger: logger)
            try await connection.query(
                """
                INSERT INTO feed (store_id, seq, entity_type, record_store, id, source)
                VALUES (\(store), \(head + 1), 'return', \(store), \(id.rawValue), NULL)
                ON CONFLICT (store_id, entity_type, record_store, id) DO UPDATE SET seq = excluded.seq, source = NULL
                """,
                logger: logger
            )
            try await connection.query(
                "UPDATE feed_heads SET last_seq = \(head + 1) WHERE store_id = \(store)",
                logger: logger
            )
            try await connection.query("SELECT pg_notify(\(Self.changesChannel), \(store))", logger: logger)
            return item
        }
    }

    /// The store's feed head, locked until the transaction ends: its next position is the head plus one.
    static func lockFeedHead(of store: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64
    {
        try await connection.query(
            "INSERT INTO feed_heads (store_id, last_seq) VALUES (\(store), 0) ON CONFLICT DO NOTHING",
            logger: logger
        )
        var head: Int64 = 0
        for try await (seq) in try await connection.query(
            "SELECT last_seq FROM feed_heads WHERE store_id = \(store) FOR UPDATE",
            logger: logger
        ).decode(Int64.self) { head = seq }
        return head
    }

    /// A stamp for an HQ edit of `record`: after every stamp HQ gave before and every stamp the record holds, so the
    /// edit wins over what it saw (the clock's row stays locked until the transaction ends).
    static func hqStamp(
        after record: VersionedRecord,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> HLCTimestamp {
        var clock = HybridLogicalClock()
        for try await (physical, logical) in try await connection.query(
            "SELECT hlc_physical, hlc_logical FROM server_identity FOR UPDATE",
            logger: logger
        ).decode((Int64, Int64).self) {
            clock = HybridLogicalClock(
                latest: try HLCTimestamp(physical: UInt64(max(0, physical)), logical: UInt32(clamping: logical))
            )
        }
        if let newest = record.latestStamp { clock.witness(newest) }
        let stamp = try clock.tick(wallClock: UInt64(max(0, Date().millisecondsSince1970)))
        try await connection.query(
            """
            UPDATE server_identity SET hlc_physical = \(Int64(stamp.physical)), hlc_logical = \(Int64(stamp.logical))
            """,
            logger: logger
        )
        return stamp
    }

    public func returnRows(store: StoreID?) async throws -> [ReturnRow] {
        let filter = store.map { "WHERE store_id = '\(Self.literal($0.rawValue))'" } ?? ""
        let rows = try await readReport(["rows": "SELECT * FROM returns \(filter) ORDER BY created_at, id"])
        return (rows["rows"] ?? []).map(ReturnRow.init)
    }

    public func returnRecords(store: StoreID?) async throws -> [VersionedRecord] {
        let filter = store.map { "WHERE r.store_id = '\(Self.literal($0.rawValue))'" } ?? ""
        let rows = try await readReport([
            "records": """
            SELECT rec.record FROM returns r
            JOIN records rec ON rec.store_id = r.store_id AND rec.entity_type = 'return' AND rec.id = r.id
            \(filter) ORDER BY r.created_at, r.id
            """
        ])
        return try (rows["records"] ?? []).map {
            try VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? ""))
        }
    }

    public func returnRecord(_ id: ReturnID) async throws -> VersionedRecord {
        let logger = self.logger
        return try await bounded { connection in
            for try await (json) in try await connection.query(
                "SELECT record FROM records WHERE entity_type = 'return' AND id = \(id.rawValue)",
                logger: logger
            ).decode(String.self) { return try VersionedRecord(jsonValue: JSONValue.parse(json)) }
            throw ReplicaStoreError(code: .notFound, message: "no return with id \(id)")
        }
    }

    /// Recall campaigns are not stored on PostgreSQL yet: none, until they are.
    public func recallCampaigns() async throws -> [RecallCampaign] {
        let rows = try await readReport(["campaigns": "SELECT record FROM records WHERE entity_type = 'recall'"])
        return try (rows["campaigns"] ?? []).map {
            try RecallCampaign(record: VersionedRecord(jsonValue: JSONValue.parse($0.text("record") ?? "")))
        }
    }

    /// `text` inside a SQL string literal. Store ids are checked (lower-case letters, digits, `-`, `_`, `.`) before
    /// they get here; doubling quotes keeps any other text a literal too.
    private static func literal(_ text: String) -> String {
        text.replacingOccurrences(of: "'", with: "''")
    }
}
