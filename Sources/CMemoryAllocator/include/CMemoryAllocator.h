#ifndef RETURNSYNC_CMEMORYALLOCATOR_H
#define RETURNSYNC_CMEMORYALLOCATOR_H

/// jemalloc's version (`5.3.0-0-g…`) when jemalloc is linked into this executable and its `malloc` is the one the
/// process's calls resolve to; `NULL` otherwise (an executable without it, or one that does not export its `malloc`
/// to the libraries it loads). An empty string when jemalloc is in use but did not say its version.
///
/// jemalloc is linked in statically (`libjemalloc_pic.a`): its `mallctl` is not among the executable's dynamic
/// symbols, so `dlsym` cannot find it, and a strong reference would make every binary linking this target link
/// jemalloc. This file refers to it weakly, which resolves only where jemalloc is linked.
const char *returnsync_jemalloc_version(void);

#endif
