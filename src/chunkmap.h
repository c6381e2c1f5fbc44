/* chunkmap: address -> descriptor for every 2 MiB region we own.
 *
 * Two levels, so the table's address space grows with the heap: a static
 * root of CHUNKMAP_ROOT_ENTRIES leaf pointers, each leaf an array of
 * CHUNKMAP_LEAF_ENTRIES entries indexed by the next bits of addr >> 21,
 * covering CHUNKMAP_ADDRESS_BITS (48: x86-64's 47 and aarch64's 48). A root
 * slot holds its leaf's distance from one shared all-zero leaf, so a slot
 * with no leaf (0) reaches that leaf: a lookup is two loads, an add and no
 * branch, works before anything is initialised, and the root is plain .bss
 * (no load-time relocation per slot, no page of it written at start-up).
 * Leaves are mapped (charged, zeroed) by chunkmap_prepare when a range of
 * address space is first reserved, installed with a compare-and-swap, and
 * never freed. An entry is 0 (not
 * ours), a `struct chunk *` (chunk.h: a chunk carved into slabs and page runs), or a
 * huge-mapping descriptor pointer with bit 0 set (CHUNKMAP_HUGE).
 * Entries are written by arena.c (chunks) and huge.c (huge mappings) before
 * any address in the region is handed out, and cleared after the last block
 * in it is gone; readers (free, realloc) need no lock. */
#ifndef HS_CHUNKMAP_H
#define HS_CHUNKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

#define CHUNKMAP_HUGE ((uintptr_t)1)

#define CHUNKMAP_ADDRESS_BITS 48
#define CHUNKMAP_LEAF_BITS 16 /* a leaf: 512 KiB of entries covering 128 GiB */
#define CHUNKMAP_ROOT_BITS (CHUNKMAP_ADDRESS_BITS - HS_CHUNK_SHIFT - CHUNKMAP_LEAF_BITS)
#define CHUNKMAP_LEAF_ENTRIES ((uintptr_t)1 << CHUNKMAP_LEAF_BITS)
#define CHUNKMAP_ROOT_ENTRIES ((uintptr_t)1 << CHUNKMAP_ROOT_BITS)

/* Root slots: a leaf's address minus chunkmap_empty_leaf's, 0 for none.
 * Written only by chunkmap_prepare (compare-and-swap from 0, once). The
 * empty leaf is all zero and never written (chunkmap_set on an unprepared
 * range is an internal error). */
extern uintptr_t chunkmap_root[CHUNKMAP_ROOT_ENTRIES] HS_HIDDEN;
extern uintptr_t chunkmap_empty_leaf[CHUNKMAP_LEAF_ENTRIES] HS_HIDDEN;

/* The entry for p: 0 for an address that is not ours (or beyond the map).
 * The leaf is reached through the root slot's value, an address dependency
 * every CPU orders, so both loads are relaxed. */
HS_INLINE uintptr_t chunkmap_get(const void *p) {
  uintptr_t i = (uintptr_t)p >> HS_CHUNK_SHIFT;
  if (unlikely(i >> CHUNKMAP_LEAF_BITS >= CHUNKMAP_ROOT_ENTRIES)) return 0;
  uintptr_t *leaf =
      (uintptr_t *)(__atomic_load_n(&chunkmap_root[i >> CHUNKMAP_LEAF_BITS], __ATOMIC_RELAXED) + (uintptr_t)chunkmap_empty_leaf);
  return __atomic_load_n(&leaf[i & (CHUNKMAP_LEAF_ENTRIES - 1)], __ATOMIC_RELAXED);
}

/* Make sure leaves cover [addr, addr+size), mapping any that are missing.
 * Called when a range of address space is reserved, before chunkmap_set on
 * any part of it. false + ENOMEM when a leaf cannot be mapped or the range
 * lies beyond the map. Thread-safe. */
bool chunkmap_prepare(const void *addr, size_t size);

/* Point every 2 MiB region overlapping [addr, addr+size) at `entry`. The
 * range was prepared (its leaves exist), so this cannot fail. */
void chunkmap_set(const void *addr, size_t size, uintptr_t entry);

/* Call fn(base, entry, arg) for every 2 MiB region with a nonzero entry,
 * in address order (for stats: entries may change while it runs). */
void chunkmap_each(void (*fn)(uintptr_t base, uintptr_t entry, void *arg), void *arg);

/* Bytes of leaves mapped (for stats). */
size_t chunkmap_mapped_bytes(void);

#endif
