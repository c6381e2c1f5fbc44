/* sizeclass: the size-class table and O(1) size -> class lookup.
 *
 * Small classes: 16..128 in steps of 16, then four classes per doubling up
 * to SIZECLASS_SMALL_MAX (32 KiB). Each class has a slab size chosen so that
 * a slab holds enough slots to batch and wastes little at its tail. One more
 * class number, SIZECLASS_LARGE, tags page runs (one block per run). */
#ifndef HS_SIZECLASS_H
#define HS_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

#define SIZECLASS_SMALL 40
#define SIZECLASS_LARGE SIZECLASS_SMALL
#define SIZECLASS_SMALL_MAX ((size_t)32 << 10)
/* Page runs inside a chunk serve sizes up to here; above it, huge.c. */
#define SIZECLASS_LARGE_MAX ((size_t)1 << 20)
#define SIZECLASS_LUT_MAX 1024
/* The largest thread-cache capacity of any class (slots). */
#define SIZECLASS_CACHE_MAX 128

struct sizeclass_info {
  uint32_t size;      /* slot size */
  uint32_t magic;     /* ceil-ish 2^32 / size, see chunk_state_lookup() */
  uint16_t pages;     /* slab size in pages */
  uint16_t slots;     /* slots per slab */
  uint16_t cache_cap; /* thread-cache stack capacity */
  uint16_t batch;     /* slots moved per refill or flush */
};

/* sizeclass_table[SIZECLASS_LARGE] is all zero: see chunk_state_lookup(). */
extern struct sizeclass_info sizeclass_table[SIZECLASS_SMALL + 1] HS_HIDDEN;
/* Constant (built at compile time): valid before sizeclass_init(). */
extern const uint8_t sizeclass_lut[SIZECLASS_LUT_MAX / 16 + 1] HS_HIDDEN;
/* sizeclass_keep_min[c]: the smallest n whose n + n/4 (capped at
 * SIZECLASS_SMALL_MAX) is of class c or above. realloc keeps a block of
 * class c for n in [keep_min, size]: a block grown with 25% headroom stays
 * put while it fills, one shrunk much further moves to a smaller class. */
extern uint16_t sizeclass_keep_min[SIZECLASS_SMALL + 1] HS_HIDDEN;

/* Fill the per-class table (slab pages, cache capacities, aligned and
 * realloc lookups). Idempotent; needs no memory. sizeclass_of() needs none of
 * it: it works from the first call of the process on. */
void sizeclass_init(void);

/* Class of a small size (n <= SIZECLASS_SMALL_MAX; 0 maps to class 0).
 * Reads only constants, so it is right before initialisation. */
HS_INLINE unsigned sizeclass_of(size_t n) {
  if (likely(n <= SIZECLASS_LUT_MAX)) return sizeclass_lut[(n + 15) >> 4];
  unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  return 8u + (lg - 7u) * 4u + (unsigned)((n - 1 - ((size_t)1 << lg)) >> (lg - 2));
}

HS_INLINE size_t sizeclass_size(unsigned cls) { return sizeclass_table[cls].size; }

/* Smallest class >= the class of n whose slots are all aligned to `align`
 * (a power of two <= HS_PAGE), or SIZECLASS_SMALL if none. */
unsigned sizeclass_aligned(size_t n, size_t align);

#endif
