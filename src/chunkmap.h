/* chunkmap: address -> descriptor for every 2 MiB region we own.
 *
 * A flat array indexed by addr >> 21, reserved once with MAP_NORESERVE and
 * committed by the kernel as entries are first written. An entry is 0 (not
 * ours), a `struct chunk *` (a chunk carved into slabs and page runs), or a
 * huge-mapping descriptor pointer with bit 0 set (CHUNKMAP_HUGE).
 * Entries are written by arena.c (chunks) and huge.c (huge mappings) before
 * any address in the region is handed out, and cleared after the last block
 * in it is gone; readers (free, realloc) need no lock. */
#ifndef HS_CHUNKMAP_H
#define HS_CHUNKMAP_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

struct slab;
struct arena;

/* A 2 MiB chunk's page table. Written by the arena owning the chunk under its
 * lock; read lock-free by free() and realloc() for pointers the caller owns.
 *  - page_slab[i]: the slab (or page run) that owns page i, NULL if free;
 *  - page_word[i]: that slab's class, first page and state-byte array packed
 *    in one word (encoding in slab.h), so the free fast path finds a slot's
 *    state byte from the chunk alone, without waiting on the slab
 *    descriptor's cache line;
 *  - run[i]: for a page run starting at page i, its state byte and page
 *    count, so realloc of a run reads them beside its page word rather than
 *    after it. Stale (state SLOT_FREE) where no run starts. */
struct chunk_run {
  uint8_t state;  /* the run's slot state; its state pointer points here */
  uint8_t pad;    /* SLOT_NONE: the run's tail-index state (see slab.h) */
  uint16_t pages; /* == the run's slab->pages */
};

struct chunk {
  struct arena *arena; /* owner while the chunk holds any slab; see arena.c */
  uint64_t page_word[HS_CHUNK_PAGES];
  struct slab *page_slab[HS_CHUNK_PAGES];
  struct chunk_run run[HS_CHUNK_PAGES];
};

#define CHUNKMAP_HUGE ((uintptr_t)1)

/* Entries covering the 47-bit user address space. 0 before chunkmap_init(),
 * so every lookup then answers "not ours". */
extern uintptr_t chunkmap_entries HS_HIDDEN;
extern uintptr_t *chunkmap_table HS_HIDDEN;

/* Reserve the table. Called once from the global init. */
void chunkmap_init(void);

HS_INLINE uintptr_t chunkmap_get(const void *p) {
  uintptr_t i = (uintptr_t)p >> HS_CHUNK_SHIFT;
  if (unlikely(i >= chunkmap_entries)) return 0;
  return __atomic_load_n(&chunkmap_table[i], __ATOMIC_RELAXED);
}

/* Point every 2 MiB region overlapping [addr, addr+size) at `entry`. */
void chunkmap_set(const void *addr, size_t size, uintptr_t entry);

#endif
