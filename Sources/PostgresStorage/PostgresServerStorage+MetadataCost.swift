import PostgresNIO
import ReplicaStore

extension PostgresServerStorage {
    /// Measures ``SyncMetadataCost`` on PostgreSQL by reading every record (a benchmark's and an operator's question,
    /// not the sync path's), as ``ReplicaStore/syncMetadataCost()`` does on SQLite.
    ///
    /// The records' clocks, dots and settled conflicts are counted from their stored text, the same on both
    /// backends. The history is what PostgreSQL keeps in place of SQLite's change log: a store's record's place in
    /// its feed, on the record's row (its two columns, alignment included, and their index); the feed rows of the
    /// records every store receives; the stores' feed heads; and the conflict audit, each table with its indexes.
    /// The database is every table of the schema with its indexes and TOAST (`pg_total_relation_size`), which
    /// includes the room updated rows left for PostgreSQL to reuse: there is no portable way to leave it out
    /// (SQLite's measure leaves out its free pages).
    public func syncMetadataCost() async throws -> SyncMetadataCost {
        try await bounded { [logger] connection in
            var cost = SyncMetadataCost()
            for try await (text) in try await connection.query("SELECT record FROM records", logger: logger)
                .decode(String.self)
            {
                try cost.count(record: text)
            }
            for try await (total, history) in try await connection.query(
                """
                SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,
                    (coalesce(sum(pg_total_relation_size(c.oid))
                        FILTER (WHERE c.relname IN ('global_feed', 'feed_heads', 'conflicts')), 0)
                     + pg_relation_size('records_by_store_feed')
                     + (SELECT coalesce(sum(pg_column_size(ROW(store_id, entity_type, id, record, seq, source))
                            - pg_column_size(ROW(store_id, entity_type, id, record))), 0)
                        FROM records))::bigint
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND n.nspname = current_schema()
                """,
                logger: logger
            ).decode((Int64, Int64).self) {
                cost.databaseBytes = total
                cost.historyBytes = history + cost.settledHistoryBytes
            }
            return cost
        }
    }
}
