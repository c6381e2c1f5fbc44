/* prefix: the names a build configured --with-symbol-prefix=P exports.
 *
 * Included first by api.c, and forced (-include) into the test programs of
 * such a build: each name of the API below becomes P##name in both, so
 * malloc is defined as, and called as, hs_test_malloc, while the process's
 * own malloc stays the sanitizer's (test/sanitize/run.sh). The system
 * headers, included after this one, declare the prefixed names with glibc's
 * prototypes. Without HS_SYMBOL_PREFIX this header defines nothing.
 * Invariant: the list names every symbol api.c exports (run.sh checks the
 * prefixed library's dynamic symbols against it). */
#ifndef HS_PREFIX_H
#define HS_PREFIX_H

#include "build-config.h"

#ifdef HS_SYMBOL_PREFIX
#define HS_PREFIX_PASTE_(prefix, name) prefix##name
#define HS_PREFIX_PASTE(prefix, name) HS_PREFIX_PASTE_(prefix, name)
#define HS_PREFIXED(name) HS_PREFIX_PASTE(HS_SYMBOL_PREFIX, name)

#define malloc HS_PREFIXED(malloc)
#define free HS_PREFIXED(free)
#define cfree HS_PREFIXED(cfree)
#define calloc HS_PREFIXED(calloc)
#define realloc HS_PREFIXED(realloc)
#define reallocarray HS_PREFIXED(reallocarray)
#define aligned_alloc HS_PREFIXED(aligned_alloc)
#define memalign HS_PREFIXED(memalign)
#define posix_memalign HS_PREFIXED(posix_memalign)
#define valloc HS_PREFIXED(valloc)
#define pvalloc HS_PREFIXED(pvalloc)
#define malloc_usable_size HS_PREFIXED(malloc_usable_size)
#define free_sized HS_PREFIXED(free_sized)
#define free_aligned_sized HS_PREFIXED(free_aligned_sized)
#define malloc_trim HS_PREFIXED(malloc_trim)
#define mallinfo HS_PREFIXED(mallinfo)
#define mallinfo2 HS_PREFIXED(mallinfo2)
#define mallopt HS_PREFIXED(mallopt)
#define malloc_stats HS_PREFIXED(malloc_stats)
#define malloc_info HS_PREFIXED(malloc_info)
#define hs_version HS_PREFIXED(hs_version)
#define hs_thread_flush HS_PREFIXED(hs_thread_flush)
#define hs_fork_stats HS_PREFIXED(hs_fork_stats)
#define hs_fork_settle HS_PREFIXED(hs_fork_settle)
#define hs_stats_print HS_PREFIXED(hs_stats_print)
#define hs_ctl_get HS_PREFIXED(hs_ctl_get)
#define hs_pool_create HS_PREFIXED(hs_pool_create)
#define hs_pool_malloc HS_PREFIXED(hs_pool_malloc)
#define hs_pool_calloc HS_PREFIXED(hs_pool_calloc)
#define hs_pool_strdup HS_PREFIXED(hs_pool_strdup)
#define hs_pool_seal HS_PREFIXED(hs_pool_seal)
#define hs_pool_destroy HS_PREFIXED(hs_pool_destroy)
#define hs_pool_stats HS_PREFIXED(hs_pool_stats)
#endif

#endif
