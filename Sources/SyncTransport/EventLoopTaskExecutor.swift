import NIOCore

/// A task executor (SE-0417) that runs its jobs on one event loop.
///
/// A kiosk's conversation runs as a task whose executor preference is its channel's loop: each frame the loop reads
/// resumes the task on the same thread, and each message the task writes goes to the socket at once
/// (`NIOAsyncChannelOutboundWriter` writes directly when called on its loop). On Swift's global executor the same
/// message costs two thread wake-ups more — loop to pool and back — and an idle sync is little else.
///
/// A job holds up the loop's I/O while it runs, as a channel handler's work does. Child tasks inherit the preference;
/// unstructured ones (`Task {}`) do not, so a pulled page's decoding and the merges, started that way, run beside
/// the loop; storage calls run on their own threads and come back to the loop.
///
/// The server does not use it: there, a thousand kiosks' sessions share two loops, and the fleet measured slower
/// with its sessions on them (BENCHMARKS.md, issue 18, thirty-ninth part).
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    /// An executor running its jobs on `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // `self` is captured, not its unowned reference made here: the executor lives until its last job has run.
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
