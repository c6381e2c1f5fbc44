/* arena: chunks, slab lists per class, page runs; the arena lock.
 *
 * An arena owns the chunks it carved and every slab in them. Threads are
 * bound to an arena by tcache.c, but any thread may return a slot to any
 * arena (arena_flush_batch locks the owner). Chunks come from one global
 * source (reservations of 1 GiB, committed 2 MiB at a time) shared by all
 * arenas; a chunk with nothing left in it goes back there, purged, except one
 * per arena kept warm. Lock order: arenas by index, then the chunk source,
 * then meta. */
#ifndef HS_ARENA_H
#define HS_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "chunkmap.h"
#include "lock.h"
#include "sizeclass.h"
#include "slab.h"

#define ARENA_MAX 256

/* A chunk's descriptor. `map` must stay first: the chunk map points at it. */
struct arena_chunk {
  struct chunk map;          /* page -> slab; written under the arena lock */
  uintptr_t base;            /* immutable: the chunk's 2 MiB-aligned address */
  /* map.arena: owner, NULL while in the chunk source. */
  /* Protected by arena->lock. */
  uint64_t free_pages[HS_CHUNK_PAGES / 64]; /* 1 = page not in any slab or run */
  uint16_t nfree_pages;
  uint8_t kept_empty;        /* fully free and counted in arena->empty_chunks */
  struct arena_chunk *prev, *next; /* arena's chunks, in address order */
};

/* Per-class slab lists, protected by the arena lock. `partial` is circular
 * (head->prev is the tail): refill takes from the head, a slab that regains
 * free slots joins at the tail. `empty` keeps fully free slabs for reuse. */
struct arena_class {
  struct slab *partial;
  struct slab *empty;
  unsigned nempty;
};

struct arena_stats {
  size_t small_out_bytes;  /* bytes of small slots outside slabs (live or cached) */
  size_t large_bytes;      /* bytes of live page runs */
  size_t large_count;
  size_t chunk_bytes;      /* bytes of chunks owned */
  size_t slabs;            /* live slab descriptors */
};

struct arena {
  hs_lock lock;
  unsigned index;            /* immutable */
  unsigned threads;          /* live thread caches bound here; tcache.c's list lock */
  /* Protected by lock. */
  uint32_t generation;       /* bumped in a forked child; older slabs are retired */
  unsigned empty_chunks;
  struct arena_chunk *chunks;
  struct arena_class cls[SIZECLASS_SMALL];
  struct arena_stats stats;
};

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
 * at most HS_CHUNK); NULL + ENOMEM when out of memory. The slot is LIVE. */
void *arena_alloc_large(struct arena *a, size_t size, size_t align);

/* Resize a live page run in place to `size` bytes (> SIZECLASS_SMALL_MAX):
 * shrinking gives the tail pages back to the chunk, growing takes the pages
 * right after it if they are free. False when it cannot grow in place. */
bool arena_resize_large(struct slab *s, size_t size);

/* Free a live page run (its slab descriptor). */
void arena_free_large(struct slab *s);

/* Give back empty slabs, warm empty chunks and free pages inside chunks.
 * Returns bytes given back to the kernel. */
size_t arena_trim(struct arena *a);

/* Sum of every arena's counters (each read under its lock). */
void arena_stats_sum(struct arena_stats *out);

/* Bytes of chunks reserved by the chunk source but not owned by an arena. */
size_t arena_source_cached_bytes(void);

/* fork.c: take every arena lock and the chunk source's, in lock order
 * (try_only: see meta_prefork). */
bool arena_prefork(bool try_only);
void arena_postfork_parent(void);
/* Child: reset locks and retire every slab with free holes, so the child's
 * allocations go to fresh slabs and leave the parent's pages shared. */
void arena_postfork_child(void);

#endif
