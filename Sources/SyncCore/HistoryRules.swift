import WireProtocol

/// When a kiosk may let go of a record's settled-conflict history (Protocol/SPEC.md §6, *Compacting history*), in
/// one place; storage runs it.
///
/// The history is an audit of conflicts already settled: no visible value, open conflict or merge result depends
/// on it. HQ keeps all of it — its audit and EPCIS export declare the values a settlement replaced — and a merge
/// takes the union, so a kiosk need not carry it once HQ holds it. A kiosk drops the history of a record whose
/// latest change HQ holds (at or before the push checkpoint) and is ``graceDays`` old, and only after its server
/// said it takes such versions: a server before 0.6.0 refuses a version lacking entries it holds as a conflicting
/// write.
public enum HistoryRules {
    /// Days after a record's last change at the kiosk before its history goes, once HQ holds that change: an HQ
    /// restored from a backup a little older than its acknowledgement gets the entries back from no one.
    public static let graceDays = 30

    /// Whether a kiosk whose server granted `capabilities` at the last `welcome` may compact history.
    public static func mayCompact(serverCapabilities capabilities: Set<String>) -> Bool {
        capabilities.contains(SyncCapability.historyCompaction)
    }
}
