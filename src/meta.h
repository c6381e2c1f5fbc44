/* meta: the metadata heap.
 *
 * Descriptors of chunks, slabs, thread caches and huge mappings live here,
 * in regions mapped apart from user data with a guard page at each end, so
 * no allocator metadata ever shares a page with user data and a forked
 * child that only reads its heap keeps sharing it. Works before anything
 * else is initialised: it needs only os. Pages whose blocks are all freed
 * go back to the kernel when the purge layer asks (meta_purge). */
#ifndef HS_META_H
#define HS_META_H

#include <stdbool.h>
#include <stddef.h>

/* A zeroed block of `size` bytes (at most META_MAX), 64-byte aligned, or NULL
 * with errno = ENOMEM. Thread-safe. */
void *meta_alloc(size_t size);

/* Like meta_alloc, but a recycled block is not zeroed (a fresh one is):
 * for descriptors whose large tails are written before they are read. */
void *meta_alloc_uninit(size_t size);

/* Give back a block from meta_alloc of the same `size`. */
void meta_free(void *p, size_t size);

/* Give back the pages of metadata that no live block touches any more
 * (MADV_DONTNEED), if at least `min_pending` pages were freed since the
 * last purge. Returns bytes given back; cheap when fewer were. */
size_t meta_purge(size_t min_pending);

/* Bytes of metadata mapped (for stats). */
size_t meta_mapped_bytes(void);

/* Resident bytes of the metadata heap (pagemap) and its guard pages. */
void meta_usage(size_t *resident, size_t *guard);

/* fork.c: lock order position and child reset. With try_only, false (and
 * nothing held) when the lock is busy. */
bool meta_prefork(bool try_only);
void meta_postfork_parent(void);
void meta_postfork_child(void);

#define META_MAX ((size_t)128 << 10)

#endif
