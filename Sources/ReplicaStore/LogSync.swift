import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's group commits that are committed and not yet synced (``ReplicaStore/commitGroup(_:syncingLater:)``),
/// and what the change feed may therefore hand out.
///
/// A group committed without its own sync is visible to readers at once, before the sync that makes it durable: a
/// kiosk pulling it then, and a power cut losing it, would leave the kiosk's cursor past change numbers the server
/// hands out again after the cut — to other changes, which that kiosk would never pull. So the feed stops short of
/// the first change of the oldest group not yet synced (``feedBound``) until that group is synced.
///
/// Each group says so before it writes anything (``begin(firstChange:)``, on the writer, inside its transaction) and
/// once its transaction has ended (``end(_:)``). A sync covers the groups that had ended when it started
/// (``endedThrough``), in order: a group still open then wrote after the sync began and waits for the next one.
final class UnsyncedCommits: Sendable {
    struct Group {
        var number: Int
        var firstChange: Int64
        var ended = false
    }

    struct State {
        /// The groups begun and not yet synced, oldest first.
        var groups: [Group] = []
        var begun = 0
    }

    let state = Mutex(State())

    /// Notes a group about to commit whose first change-log entry will be `firstChange`; returns its number.
    func begin(firstChange: Int64) -> Int {
        state.withLock { state in
            state.begun += 1
            state.groups.append(Group(number: state.begun, firstChange: firstChange))
            return state.begun
        }
    }

    /// Notes that group `number`'s transaction has ended, committed or not.
    func end(_ number: Int) {
        state.withLock { state in
            if let index = state.groups.firstIndex(where: { $0.number == number }) { state.groups[index].ended = true }
        }
    }

    /// The newest group that has ended with every group before it: what a sync starting now covers; `nil` for none.
    var endedThrough: Int? {
        state.withLock { state in state.groups.prefix(while: \.ended).last?.number }
    }

    /// Notes that the groups up to `number` (``endedThrough`` before the sync) are durable.
    func synced(through number: Int) {
        state.withLock { state in state.groups.removeAll { $0.number <= number } }
    }

    /// The first change the feed must not hand out yet (that of the oldest group not synced); `nil` when every
    /// committed change is durable.
    var feedBound: Int64? {
        state.withLock { state in state.groups.first?.firstChange }
    }
}

/// The write-ahead log's file, opened by the store itself to sync it after commits made without a sync
/// (`synchronous = NORMAL`): `fdatasync` of the log makes every frame written to it durable, whichever connection
/// wrote them — what `synchronous = FULL` does in the commit, done after it on another thread.
///
/// The log is opened at the first sync (it exists: a commit wrote to it) and kept open; SQLite never deletes it
/// while the store's connections are open (only the last connection's close does), and truncating it after a
/// checkpoint keeps the same file.
final class WriteAheadLogFile: Sendable {
    let path: String
    private let descriptor = Mutex<Int32>(-1)

    init(databasePath: String) {
        path = databasePath + "-wal"
    }

    deinit {
        descriptor.withLock { if $0 >= 0 { _ = close($0) } }
    }

    /// Makes everything written to the log so far durable.
    ///
    /// - Throws: ``ReplicaStoreError`` naming the log and the system's error when it cannot be opened or synced.
    func sync() throws {
        try descriptor.withLock { descriptor in
            if descriptor < 0 {
                let opened = open(path, O_RDONLY | O_CLOEXEC)
                guard opened >= 0 else { throw failure("could not be opened to sync it", errno) }
                // The log's name in its directory must survive a power cut too: SQLite syncs the directory when it
                // creates the log only in modes that sync commits, which these are not.
                let parent = (path as NSString).deletingLastPathComponent
                let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_CLOEXEC)
                if directory >= 0 {
                    defer { _ = close(directory) }
                    guard fsync(directory) == 0 else {
                        let error = errno
                        _ = close(opened)
                        throw failure("could not be synced in its directory", error)
                    }
                }
                descriptor = opened
            }
            #if os(Linux)
            let result = fdatasync(descriptor)
            #else
            let result = fsync(descriptor)
            #endif
            guard result == 0 else { throw failure("could not be synced", errno) }
        }
    }

    private func failure(_ what: String, _ error: Int32) -> ReplicaStoreError {
        let reason = String(cString: strerror(error))
        return ReplicaStoreError(
            code: .storage,
            message: "write-ahead log \(path) \(what) (\(reason)); what was committed since its last sync is not "
                + "acknowledged"
        )
    }
}
