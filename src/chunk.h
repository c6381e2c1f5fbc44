/* chunk: one 2 MiB chunk's pages.
 *
 * A chunk descriptor (in meta) holds two things:
 *  - the page table that free() and realloc() read without a lock for
 *    pointers the caller owns (page_word, page_slab, run);
 *  - the state of every page: used (in a slab or page run), dirty (free and
 *    still resident: reusing it costs no fault, keeping it costs RSS) or
 *    clean (free and given back: it reads as zero, or, after MADV_FREE,
 *    as zero or its old bytes). Guard pages come with the hardened mode.
 *    Apart from the state, each free page is known zero or not: fresh and
 *    MADV_DONTNEED pages are, dirty and MADV_FREE pages are not, so calloc
 *    writes only what may hold old bytes.
 * The page bookkeeping is owned by the arena that owns the chunk and is
 * written under its lock; this layer takes no lock and decides nothing about
 * when pages go back (that is purge.c), it only records what happened.
 * Runs of free pages are found lowest address first (or, on request, the
 * lowest one that starts at a dirty page), so live data packs into the low
 * pages and whole chunks empty out. */
#ifndef HS_CHUNK_H
#define HS_CHUNK_H

#include <stdbool.h>
#include <stdint.h>
#include "chunkmap.h"
#include "compiler.h"
#include "sizeclass.h"
#include "slab.h"

/* For a page run starting at page i, its state byte and page count, so
 * realloc of a run reads them beside its page word. Stale (state SLOT_FREE)
 * where no run starts. */
struct chunk_run {
  uint8_t state;  /* the run's slot state; its slab's state pointer points here */
  uint8_t pad;    /* SLOT_NONE: the run's tail-index state (see slab.h) */
  uint16_t pages; /* == the run's slab->pages */
};

#define CHUNK_WORDS (HS_CHUNK_PAGES / 64)

struct chunk {
  /* The lock-free page table (see chunk_state_lookup). Written under the
   * owning arena's lock before a page is handed out. */
  struct arena *arena; /* owner while the chunk is in an arena, else NULL */
  uint64_t page_word[HS_CHUNK_PAGES];
  struct slab *page_slab[HS_CHUNK_PAGES];
  struct chunk_run run[HS_CHUNK_PAGES];
  /* Page states, owned by the arena lock. A used page has neither bit. */
  uintptr_t base;                  /* immutable: the chunk's address */
  uint64_t free_bits[CHUNK_WORDS];  /* 1 = free (dirty or clean) */
  uint64_t dirty_bits[CHUNK_WORDS]; /* 1 = free and resident; within free_bits */
  uint64_t unzeroed_bits[CHUNK_WORDS]; /* 1 = free and maybe not zero; within free_bits */
  uint16_t nfree, ndirty;
  uint16_t longest;                /* longest run of free pages */
  uint8_t hugepage;                /* huge pages asked for (MADV_HUGEPAGE) */
  /* Owned by arena.c, under its lock: huge-page policy, the run index and
   * the decay queue. */
  uint8_t hugepage_split;          /* huge pages asked for, then broken by a
                                    * partial purge: MADV_NOHUGEPAGE (so that
                                    * khugepaged does not fill the purged pages
                                    * back in) until the chunk is full again */
  uint8_t bucket;
  uint8_t short_waited;            /* a decay pass left its short dirty runs once */
  uint64_t dirty_since_ms;         /* when ndirty last rose from 0 */
  struct chunk *prev, *next;       /* the arena's bucket for `longest`, address order */
  struct chunk *dirty_prev, *dirty_next; /* the arena's chunks with dirty pages, oldest first */
};

/* ---- the lock-free page table -------------------------------------------- */

/* The slab owning address p given its chunk-map entry e, or NULL (not ours,
 * a free page, or a huge block). */
HS_INLINE struct slab *chunk_slab_of_entry(uintptr_t e, const void *p) {
  if (unlikely(e == 0 || (e & CHUNKMAP_HUGE))) return NULL;
  const struct chunk *c = (const struct chunk *)e;
  return c->page_slab[((uintptr_t)p >> HS_PAGE_SHIFT) & (HS_CHUNK_PAGES - 1)];
}

HS_INLINE struct slab *chunk_slab_of(const void *p) { return chunk_slab_of_entry(chunkmap_get(p), p); }

/* The page word (struct chunk.page_word) for a page of slab s, or for a free
 * page when s is NULL. Bits 0..47: the address of s's state bytes (meta
 * lives in the 47-bit user address space); bits 48..56: s's first page in the
 * chunk; bits 57..63: s's class. A free page gets class SIZECLASS_LARGE,
 * first page 0 and slab_no_state, one SLOT_NONE byte, so a lookup through it
 * fails the LIVE check without a branch of its own. */
#define CHUNK_WORD_STATE_BITS 48
#define CHUNK_WORD_CLASS_SHIFT 57

HS_INLINE uint64_t chunk_page_word(const struct slab *s) {
  if (!s) return (uint64_t)(uintptr_t)&slab_no_state | (uint64_t)SIZECLASS_LARGE << CHUNK_WORD_CLASS_SHIFT;
  return (uint64_t)(uintptr_t)s->state | (uint64_t)s->first_page << CHUNK_WORD_STATE_BITS |
         (uint64_t)s->cls << CHUNK_WORD_CLASS_SHIFT;
}

/* The fast paths' lookup of p in chunk c, from p's page word and the class
 * table only. True if p is the start of a slot or of the slab's unused tail
 * (whose state byte is SLOT_NONE); then *state is that slot's state byte and
 * *cls the class. A page run (class SIZECLASS_LARGE, whose table entry has
 * size and magic 0) matches only at its first byte, a free page only at its
 * chunk's first byte (state slab_no_state). The caller must check *state is
 * SLOT_LIVE before trusting the slot. */
HS_INLINE bool chunk_state_lookup(const struct chunk *c, const void *p, unsigned *cls, uint8_t **state) {
  uint64_t w = c->page_word[((uintptr_t)p >> HS_PAGE_SHIFT) & (HS_CHUNK_PAGES - 1)];
  const struct sizeclass_info *ci = &sizeclass_table[w >> CHUNK_WORD_CLASS_SHIFT];
  uintptr_t first = (uintptr_t)(w >> CHUNK_WORD_STATE_BITS) & (HS_CHUNK_PAGES - 1);
  uintptr_t off = ((uintptr_t)p & (HS_CHUNK - 1)) - (first << HS_PAGE_SHIFT);
  uint32_t idx = (uint32_t)((off * ci->magic) >> 32);
  *cls = (unsigned)(w >> CHUNK_WORD_CLASS_SHIFT);
  *state = (uint8_t *)(uintptr_t)(w & (((uint64_t)1 << CHUNK_WORD_STATE_BITS) - 1)) + idx;
  return (uintptr_t)idx * ci->size == off;
}

/* Point pages [first, first+count) at slab s (NULL: no owner). For a page
 * run, also set its run record's page count. */
void chunk_map_pages(struct chunk *c, unsigned first, unsigned count, struct slab *s);

/* The state byte a page run starting at `first` uses (its run record). */
HS_INLINE uint8_t *chunk_run_state(struct chunk *c, unsigned first) { return &c->run[first].state; }

/* ---- page states (the owning arena's lock held) ------------------------- */

/* Set up a chunk at `base` with every page free and clean (fresh or
 * purged), known zero unless `unzeroed` (purged with MADV_FREE). */
void chunk_init(struct chunk *c, uintptr_t base, bool unzeroed);

/* The lowest run of `count` free pages starting at a multiple of
 * `align_pages`, or -1. */
int chunk_find_run(const struct chunk *c, unsigned count, unsigned align_pages);

/* The lowest run of `count` free pages starting at a multiple of
 * `align_pages` at or after a dirty page, or -1: a run that reuses resident
 * pages (no fault now, and fewer dirty pages left to purge later). */
int chunk_find_dirty_run(const struct chunk *c, unsigned count, unsigned align_pages);

/* Mark free pages [first, first+count) used. Returns how many of them were
 * dirty; *zero says whether all of them are known to read as zero. */
unsigned chunk_take(struct chunk *c, unsigned first, unsigned count, bool *zero);

enum chunk_give_as {
  CHUNK_DIRTY,       /* still resident, old bytes */
  CHUNK_CLEAN_ZERO,  /* given back with MADV_DONTNEED: reads as zero */
  CHUNK_CLEAN_LAZY,  /* given back with MADV_FREE: zero or old bytes */
};

/* Mark used pages [first, first+count) free, in the state given. */
void chunk_give(struct chunk *c, unsigned first, unsigned count, enum chunk_give_as as);

/* The first free run at or after *from that holds dirty pages: true and
 * [*first, *first+*count), *dirty of its pages dirty (the others clean:
 * purging the whole run is one call either way), with *from moved past it;
 * false when there is none. */
bool chunk_next_dirty(const struct chunk *c, unsigned *from, unsigned *first, unsigned *count, unsigned *dirty);

HS_INLINE bool chunk_is_empty(const struct chunk *c) { return c->nfree == HS_CHUNK_PAGES; }

/* Whether any free page may hold old bytes (dirty or purged with MADV_FREE). */
HS_INLINE bool chunk_any_unzeroed(const struct chunk *c) {
  uint64_t any = 0;
  for (unsigned w = 0; w < CHUNK_WORDS; w++) any |= c->unzeroed_bits[w];
  return any != 0;
}

#endif
