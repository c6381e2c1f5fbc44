/* arena: chunks, slab lists per class, page runs; the arena lock.
 *
 * An arena owns the chunks it carved and every slab in them. Threads are
 * bound to an arena by tcache.c, but any thread may return a slot to any
 * arena (arena_flush_batch locks the owner). Chunks come from one global
 * source (reservations growing to 1 GiB, committed 2 MiB at a time) shared
 * by all arenas. Freed pages stay dirty in their chunk, and a chunk with
 * nothing left in it stays in its arena, until the purge layer asks for them
 * back (arena_purge): the arena provides the mechanism and records when
 * pages went dirty; purge.c decides when. Lock order: arenas by index, then
 * the chunk source, then meta. */
#ifndef HS_ARENA_H
#define HS_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "chunk.h"
#include "chunkmap.h"
#include "lock.h"
#include "sizeclass.h"
#include "slab.h"

#define ARENA_MAX 256

/* Per-class slabs, protected by the arena lock. `partial` is the root of a
 * heap by address (slab_heap_*): refill takes from the lowest slab with free
 * slots. `empty` (a circular list) keeps fully free slabs for reuse.
 * `retired` (a heap too) holds the slabs with free slots that were made
 * before the last fork while the arena has not settled: their pages may be
 * shared with another process, and filling their holes would copy them. */
struct arena_class {
  struct slab *partial;
  struct slab *empty;
  struct slab *retired;
  unsigned nempty;
  /* Counters, protected by the arena lock like the lists (stats.c reads
   * them under it): slabs of this class (the kept empty ones included), and
   * slots ever handed out of and put back into slabs (their difference: the
   * slots outside, live or in a thread cache). */
  size_t slabs;
  uint64_t nmalloc, nfree;
};

struct arena_stats {
  size_t large_bytes;      /* bytes of live page runs */
  size_t large_count;
  size_t chunk_bytes;      /* bytes of chunks owned */
  size_t slabs;            /* live slab descriptors */
  size_t guard_pages;      /* hardened mode: PROT_NONE pages after slabs and runs */
  /* Added to with relaxed atomics where the madvise runs (with or without
   * the lock): calls that gave pages back, and their bytes. */
  uint64_t returned_calls, returned_bytes;
};

/* One arena's figures, copied under its lock (arena_snapshot). */
struct arena_snapshot {
  struct arena_stats stats;
  size_t chunk_pages, free_pages, dirty_pages;
  unsigned threads;
  struct {
    size_t slabs, empty_slabs, out;
    uint64_t nmalloc, nfree;
  } cls[SIZECLASS_SMALL];
};

/* The run index: bucket 0 holds chunks with no free page, bucket k (1..10)
 * those whose longest free run is in [2^(k-1), 2^k) pages; each bucket is in
 * address order, so the lowest chunk that can hold a run is found by looking
 * at the few buckets that can, not at every chunk. */
#define ARENA_BUCKETS 11

struct arena {
  hs_lock lock;
  unsigned index;            /* immutable */
  unsigned threads;          /* live thread caches bound here; tcache.c's list lock */
  /* Protected by lock. */
  uint32_t generation;       /* bumped at every fork, in parent and child */
  uint32_t fresh_from;       /* slabs of a generation below this are retired
                                (0: none, the arena has settled) */
  uint64_t settle_ms;        /* when the parent settles by itself (0: never) */
  uint32_t purge_epoch;      /* bumped by every arena_purge that gave pages back;
                                read racily by the thread caches bound here,
                                which then hand their slots back (tcache.h) */
  struct chunk *bucket[ARENA_BUCKETS];
  struct chunk *dirty_head, *dirty_tail; /* chunks with dirty pages, by dirty_since_ms */
  size_t chunk_pages;        /* pages of the chunks owned */
  size_t free_pages;         /* of those, pages free (dirty or clean) */
  size_t dirty_pages;        /* of those, pages dirty; also read racily by purge.c */
  size_t used_peak_pages;    /* the most pages in use lately: raised here, lowered
                                by purge.c's passes (racy by design) */
  /* Owned by purge.c, read and written outside the lock (racy by design,
   * except `busy`): its pass schedule and excess policy for this arena. */
  struct {
    int busy;                /* a pass is running: one at a time per arena (the
                                others would only wait on its lock) */
    uint64_t next_ms;        /* when the next timed (decay) pass is due */
    size_t left_pages;       /* dirty pages the last pass left: an excess counts
                                only what came on top of them */
    uint64_t retry_ms;       /* ... or, from then on, all of them again */
    size_t excess_min_pages; /* the least excess worth a pass (0: the default);
                                doubled when the arena grows back right after
                                one, halved when none came for a while */
    size_t regrow_pages;     /* in use above this after an excess pass: it grew
                                back (0: not watching) */
    uint64_t excess_ms;      /* when the last excess pass ran */
    unsigned refills;        /* refills seen by the refill hook (it checks at
                                one in PURGE_REFILL_EVERY) */
  } purge;
  struct arena_class cls[SIZECLASS_SMALL];
  struct arena_stats stats;
  /* Each arena starts a cache line of its own: its last counters do not
   * share a line with the next arena's lock, which other threads write. */
} __attribute__((aligned(64)));

extern struct arena hs_arenas[ARENA_MAX];
extern unsigned hs_arena_count;

/* Set up `count` arenas (global init, before any thread allocates). */
void arena_init_all(unsigned count);

/* Move up to `want` free slots of class `cls` into out[]; 0 only when out of
 * memory (errno = ENOMEM). */
unsigned arena_refill(struct arena *a, unsigned cls, struct slot_ref *out, unsigned want);

/* Return cached free slots to their slabs, locking each owning arena once per
 * run of same-arena slots. Writes only descriptors. */
void arena_flush_batch(const struct slot_ref *refs, unsigned n);

/* A page run of at least `size` bytes aligned to `align` (a power of two,
 * at most HS_CHUNK); NULL + ENOMEM when out of memory. The slot is LIVE.
 * *zeroed: whether every page of it is known to read as zero. */
void *arena_alloc_large(struct arena *a, size_t size, size_t align, bool *zeroed);

/* Resize a live page run in place to `size` bytes (> SIZECLASS_SMALL_MAX):
 * shrinking gives the tail pages back to the chunk, growing takes the pages
 * right after it if they are free. False when it cannot grow in place. */
bool arena_resize_large(struct slab *s, size_t size);

/* Free a live page run (its slab descriptor). */
void arena_free_large(struct slab *s);

/* What arena_purge gives back (purge.c fills it in). */
struct arena_purge_request {
  uint64_t dirty_before_ms;  /* chunks dirty since before this time */
  size_t keep_dirty_pages;   /* and, oldest first, until at most this many stay dirty */
  bool split_hugepages;      /* free pages of a partly used chunk that asked for
                                huge pages too (a partial madvise breaks the huge page) */
  bool empty_slabs;          /* release the slabs each class keeps empty first */
  bool inside_slabs;         /* also the pages of partly used slabs that hold no
                                slot in use (malloc_trim: down to the floor) */
  bool lazy;                 /* MADV_FREE instead of MADV_DONTNEED */
  unsigned min_run_pages;    /* in partly used chunks, shorter dirty runs stay
                                (each is one madvise call); 0 or 1: all */
  bool short_runs_later;     /* ... except in a chunk whose short runs have
                                already waited one pass */
};

/* Give dirty memory back to the kernel as the request says: a chunk with
 * nothing in use is purged whole and goes back to the chunk source; free
 * pages of others are purged in runs. The madvise calls run with the arena
 * lock dropped (the pages are marked used meanwhile, so no one can be handed
 * them), except for pages inside slabs. Returns bytes given back. */
size_t arena_purge(struct arena *a, const struct arena_purge_request *req);

/* Called (if set) after an arena entry point that freed memory returned, with
 * no lock held: purge.c's trigger for decay. Set once at start-up. */
extern void (*arena_release_hook)(struct arena *a) HS_HIDDEN;

/* Called (if set) after every refill, with no lock held: the same trigger
 * (purge.c runs it at one refill in PURGE_REFILL_EVERY), for a
 * program that churns a few blocks through its thread cache, frees nothing
 * to the arena for seconds, yet refills now and then (its dirty pages and
 * cached huge blocks still decay on time). It starts no background thread:
 * a forked child gets one when it frees. Set once at start-up. */
extern void (*arena_refill_hook)(struct arena *a) HS_HIDDEN;

/* Called (if set) when an arena cannot get memory, with no lock held: gives
 * back what is cached (purge.c's purge_for_memory) and returns the bytes;
 * arena_refill and arena_alloc_large retry once when it gave any. Set once
 * at start-up. */
extern size_t (*arena_memory_hook)(void) HS_HIDDEN;

/* Copy arena a's counters (under its lock). */
void arena_snapshot(struct arena *a, struct arena_snapshot *out);

/* Bytes of chunks reserved by the chunk source but not owned by an arena. */
size_t arena_source_cached_bytes(void);

/* Bytes of dirty pages in every arena (a racy sum, for stats and tests). */
size_t arena_dirty_bytes(void);

/* fork.c: take every arena lock and the chunk source's, in lock order
 * (try_only: see meta_prefork). */
bool arena_prefork(bool try_only);
/* Parent: drop the locks; unless fork_fresh is off, retire every slab with
 * free holes until fork_settle_ms has passed or hs_fork_settle() is called,
 * so the parent's new blocks, like the child's, leave shared pages alone. */
void arena_postfork_parent(void);
/* Child: reset locks and retire every slab with free holes (unless
 * fork_fresh is off), so the child's allocations go to fresh slabs and leave
 * the parent's pages shared; a child settles only with hs_fork_settle(). */
void arena_postfork_child(void);

/* Forks the heap went through; *retired: whether an arena still keeps its
 * pre-fork slabs off (racy reads, for stats). */
unsigned arena_fork_generation(int *retired);

/* Every arena fills the holes of its retired slabs again (hs_fork_settle). */
void arena_settle_all(void);

#endif
