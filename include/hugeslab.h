/* hugeslab public extension API.
 *
 * The standard C, POSIX and glibc allocation functions (malloc, free, ...)
 * keep their usual declarations in <stdlib.h> and <malloc.h>; this header adds
 * what those headers may lack and the hs_ extensions. */
#ifndef HUGESLAB_H
#define HUGESLAB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUGESLAB_VERSION "0.1.0"

/* The library's version string, e.g. "0.1.0". */
const char *hs_version(void);

/* C23 sized deallocation (glibc 2.41+ declares them; older glibc does not).
 * `size` must be the size passed to the allocation; a size the block cannot
 * have is reported and the process aborts. NULL is accepted. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Return this thread's cached free blocks to their arenas now (they are
 * returned anyway at thread exit). */
void hs_thread_flush(void);

/* After fork(), parent and child put their new small blocks in fresh slabs
 * rather than in the holes of slabs they share, so neither copies a page
 * the other still reads (HUGESLAB_CONF=fork_fresh:false turns this off).
 * The child keeps to that for its lifetime; the parent for fork_settle_ms
 * (30 s by default; -1 = until this call). A program that knows no child
 * shares its heap any more (it reaped the snapshot child, say) calls this
 * to fill those holes again at once. */
void hs_fork_settle(void);

/* How much of this process's heap (small blocks, page runs, huge blocks) is
 * resident, and how much of that is shared with another process: in a
 * forked child, what it inherited and neither side has written since; in a
 * parent, what its children still share. From /proc/self/pagemap. */
struct hs_fork_stats {
  size_t heap_resident; /* bytes */
  size_t heap_shared;   /* of those, mapped by another process too */
  size_t heap_private;  /* heap_resident - heap_shared */
  unsigned forks;       /* forks this heap went through, as parent or child */
  int retired;          /* 1 while pre-fork slabs are kept off (fork_fresh) */
};

/* Fill *out; 0, or -1 + errno (EINVAL for NULL, or pagemap's error). */
int hs_fork_stats(struct hs_fork_stats *out);

/* ---- Statistics -------------------------------------------------------------
 *
 * One report, from one walk over every counter: totals (allocated, active,
 * in thread caches, mapped, resident, dirty, returned, on huge pages, guard
 * pages, metadata), the fork figures, the options in force, every size
 * class, every arena. malloc_stats(), malloc_info() and mallinfo2() give the
 * same numbers; HUGESLAB_CONF=stats_print:true (or :json) prints the report
 * on stderr at exit. */

/* Write the report in `format`, "text" (NULL too) or "json" (its "schema"
 * field is bumped when a figure is renamed or removed), or with "options"
 * the table of HUGESLAB_CONF options, one line each: name, default, value
 * in force, meaning, separated by tabs (what `hugeslab conf` prints), through
 * write(opaque, s, n) in pieces. Nothing is allocated and no allocator lock
 * is held while write runs: it may call malloc, stdio and the like.
 * 0, or -1 + errno (EINVAL: unknown format or write NULL). */
int hs_stats_print(void (*write)(void *opaque, const char *s, size_t n), void *opaque, const char *format);

/* One figure of the report by its dotted name, as the JSON report nests it:
 * "stats.resident", "fork.shared", "opt.decay_ms", "class.3.allocated"
 * (summed over the arenas), "arena.0.class.3.active". Figures are uint64_t;
 * numeric options int64_t, on/off options bool, the others (and "version")
 * const char * to a static string. *len must be that size; with out NULL,
 * *len receives it. 0, or -1 + errno: ENOENT for an unknown name, EINVAL
 * for a size that does not match (*len then holds the right one). */
int hs_ctl_get(const char *name, void *out, size_t *len);

/* ---- Sealed read-only pools ------------------------------------------------
 *
 * A pool is memory apart from the heap that a program fills, seals and then
 * only reads: a prefork server builds its dataset in a pool before it forks,
 * and every worker shares every page of it for as long as it lives, since
 * nothing (not the allocator either) writes a sealed pool again. Blocks are
 * not freed one by one: the pool goes away whole with hs_pool_destroy.
 * Every call is thread-safe. */
typedef struct hs_pool hs_pool_t;

/* A new empty pool with room for about size_hint bytes before it maps more
 * (0 is fine); pools of 2 MiB and more sit on huge pages. NULL + ENOMEM. */
hs_pool_t *hs_pool_create(size_t size_hint);

/* n bytes (16-byte aligned; n = 0 gives a unique pointer) from the pool.
 * NULL + ENOMEM when out of memory, EPERM when the pool is sealed, EINVAL
 * when pool is NULL or not a pool. Passing a pool block to free() or
 * realloc() is reported ("hugeslab: free(): pointer into a pool 0x...") and
 * aborts. */
void *hs_pool_malloc(hs_pool_t *pool, size_t n);

/* count * n zeroed bytes; NULL + ENOMEM also when count * n overflows. */
void *hs_pool_calloc(hs_pool_t *pool, size_t count, size_t n);

/* A copy of s in the pool; NULL + EINVAL when s is NULL (else as hs_pool_malloc). */
char *hs_pool_strdup(hs_pool_t *pool, const char *s);

/* Make the whole pool read-only, its descriptors included: from now on a
 * write into it faults (SIGSEGV) and hs_pool_malloc fails with EPERM.
 * Sealing a sealed pool does nothing. 0, or -1 + errno (EINVAL: not a pool;
 * ENOMEM: the kernel could not change the protection, and the pool stays
 * writable). */
int hs_pool_seal(hs_pool_t *pool);

/* Unmap the pool, sealed or not; every pointer into it becomes invalid.
 * NULL does nothing; a pointer that is not a pool is reported and aborts. */
void hs_pool_destroy(hs_pool_t *pool);

/* Bytes handed out (used, in 16-byte steps), mapped for the pool, and of
 * those resident in this process: shared with another process (a parent or
 * child after fork, or merged by KSM) or private_ to this one (read from
 * /proc/self/pagemap). */
struct hs_pool_stats {
  size_t used, mapped, resident, shared, private_;
};

/* Fill *out; 0, or -1 + errno (EINVAL: a NULL or bad argument; or the error
 * reading /proc/self/pagemap). */
int hs_pool_stats(const hs_pool_t *pool, struct hs_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif
