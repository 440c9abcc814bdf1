#define _GNU_SOURCE
#include "CMemoryAllocator.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// Weak: `NULL` in a binary that does not link jemalloc. Where it does, `malloc` comes from the same object file of the
// archive (jemalloc.pic.o), which the executable's own calls to `malloc` (SwiftNIO's buffers, for one) pull in.
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

const char *returnsync_jemalloc_version(void) {
    if (mallctl == NULL) return NULL;
    // Linked in is not enough: the process's libraries (Swift's runtime, SQLite) call the `malloc` the dynamic linker
    // finds first, which is the executable's own only if the executable exports it. Linked into the executable but not
    // exported, jemalloc would allocate the executable's memory and the C library everyone else's.
    if (dlsym(RTLD_DEFAULT, "malloc") != (void *)&malloc) return NULL;
    const char *version = NULL;
    size_t size = sizeof(version);
    if (mallctl("version", (void *)&version, &size, NULL, 0) != 0 || version == NULL) return "";
    return version;
}
