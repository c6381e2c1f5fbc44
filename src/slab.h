/* slab: one run of pages of one size class inside a chunk.
 *
 * The descriptor lives in meta, never in the slab's pages. It holds:
 *  - the free bitmap (1 = slot free *in the slab*), owned by the arena lock;
 *  - one state byte per slot, SLOT_LIVE while the user holds the block and
 *    SLOT_FREE otherwise (in the slab or in some thread's cache). The byte is
 *    written only by whoever owns the slot at that moment (the allocating
 *    thread on pop, the freeing thread on push), so it needs no atomics; it
 *    is what catches a double free while the block sits in a thread cache.
 * A page run (sizes above the small classes) is a slab of one slot with
 * cls == SIZECLASS_LARGE and magic == 0.
 * This layer takes no locks: callers hold the owning arena's lock for the
 * bitmap and list fields. */
#ifndef HS_SLAB_H
#define HS_SLAB_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"
#include "sizeclass.h"

#define SLOT_FREE 0
#define SLOT_LIVE 1
/* Live, handed out by a checking mode (checked.h): no fast path takes it. */
#define SLOT_CHECKED 2
/* The padding byte after the last slot's state: an offset in a slab's unused
 * tail maps to index `slots`, reads this, and fails the LIVE check. */
#define SLOT_NONE 0xff

enum slab_list { SLAB_LIST_NONE, SLAB_LIST_PARTIAL, SLAB_LIST_EMPTY };

struct arena;
struct chunk;

/* A free slot handed between slab, arena and thread cache: its address and
 * its state byte, so popping it needs no descriptor lookup. */
struct slot_ref {
  void *ptr;
  uint8_t *state;
};

struct slab {
  /* Immutable from slab_init until the slab is released. */
  uintptr_t base;       /* address of slot 0 (the first page) */
  uint32_t size;        /* slot size */
  uint32_t magic;       /* reciprocal for slot index; 0 for a page run */
  uint16_t slots;       /* slots in the slab */
  uint16_t pages;       /* pages in the slab */
  uint16_t first_page;  /* index of the first page in its chunk */
  uint8_t cls;          /* size class, SIZECLASS_LARGE for a page run */
  uint8_t aligned_run;  /* page run placed for an alignment > 1 page */
  uint8_t guard;        /* hardened mode: the page after `pages` is the slab's
                           too, a guard (PROT_NONE when `guarded`) */
  uint8_t guarded;
  struct arena *arena;  /* owner */
  struct chunk *chunk;  /* the chunk holding the pages */
  uint8_t *state;       /* slots state bytes: after the bitmap, or for a
                           page run chunk->run[first_page].state */
  /* Protected by arena->lock. */
  uint8_t list;         /* enum slab_list: which arena list holds it */
  uint8_t trimmed;      /* its pages without a slot in use were purged, and no
                           slot has come or gone since */
  uint16_t nfree;       /* slots free in the bitmap */
  uint32_t generation;  /* arena fork generation it was made in; older = retired */
  /* On the arena's empty list: prev/next of a circular list. In its partial
   * heap (slab_heap_*): next = right sibling, prev = left sibling or, for a
   * first child, the parent (NULL at the root), child = first child. */
  struct slab *prev, *next, *child;
  uint64_t bitmap[];
};

/* Descriptor bytes for a slab of `slots` slots. */
HS_INLINE size_t slab_desc_size(unsigned slots) {
  return sizeof(struct slab) + ((slots + 63) / 64) * sizeof(uint64_t) + slots + 1;
}

/* Set up a descriptor (zeroed by meta) for a fresh slab: all slots free in
 * the slab, all state bytes SLOT_FREE. `size` and `magic` come from the
 * class table, or are (run bytes, 0) for a page run, whose state byte is
 * `run_state` (its chunk's run record; NULL for a slab of small slots). */
void slab_init(struct slab *s, struct chunk *c, uintptr_t base, unsigned first_page, unsigned pages,
               unsigned cls, uint32_t size, uint32_t magic, unsigned slots, uint8_t *run_state);

/* The one SLOT_NONE byte a free page's word points at (see chunk.h). */
extern const uint8_t slab_no_state HS_HIDDEN;

/* Move up to `max` free slots out of the bitmap, lowest address first, into
 * out[]. Returns how many. Caller holds the arena lock. */
unsigned slab_take(struct slab *s, struct slot_ref *out, unsigned max);

/* Mark slot idx free in the bitmap. Caller holds the arena lock and has
 * checked the slot was not already free there. */
HS_INLINE void slab_put(struct slab *s, uint32_t idx) {
  s->bitmap[idx >> 6] |= (uint64_t)1 << (idx & 63);
  s->nfree++;
}

HS_INLINE bool slab_bit_free(const struct slab *s, uint32_t idx) {
  return (s->bitmap[idx >> 6] >> (idx & 63)) & 1;
}

/* ---- the partial-slab heap -------------------------------------------------
 * A pairing heap of slabs ordered by address: its root is the lowest slab,
 * which refills take from, so live data packs into the fewest pages and
 * chunks. Insert O(1), removal O(log n) amortized. Caller holds the arena
 * lock; *root is NULL for an empty heap. */
void slab_heap_insert(struct slab **root, struct slab *s);
void slab_heap_remove(struct slab **root, struct slab *s);
/* Move every slab of heap *from into heap *into, in O(1) (two descriptors
 * written, whatever the heaps hold); *from becomes empty. */
void slab_heap_merge(struct slab **into, struct slab **from);
/* Every slab of a heap once, root first (the heap must not change meanwhile):
 * for (s = root; s; s = slab_heap_next(s)). */
struct slab *slab_heap_next(struct slab *s);

#endif
