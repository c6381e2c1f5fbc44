/* huge: allocations above the largest page run, each in its own mapping.
 *
 * Layout: [guard page][usable pages, start aligned to 2 MiB or more][guard
 * page]. The usable part starts on a 2 MiB boundary so it can be backed by
 * huge pages and so no two huge blocks share a chunk-map entry; every entry
 * it covers points at its descriptor (tagged CHUNKMAP_HUGE). The descriptor
 * (in meta) is owned by the block's user: freeing clears the entries first. */
#ifndef HS_HUGE_H
#define HS_HUGE_H

#include <stddef.h>
#include <stdint.h>

struct huge_block {
  void *ptr;          /* usable start */
  size_t usable;      /* usable bytes (whole pages) */
  void *map_base;     /* whole mapping, guards included */
  size_t map_size;
};

/* A huge block of at least `size` bytes aligned to `align` (power of two);
 * NULL + ENOMEM on overflow or when the kernel refuses. Memory is zero. */
void *huge_alloc(size_t size, size_t align);

/* The descriptor for chunk-map entry e if p is its block's start, else NULL. */
struct huge_block *huge_lookup(uintptr_t entry, const void *p);

/* Unmap a huge block. Keeps errno. */
void huge_free(struct huge_block *h);

/* Live huge blocks and their usable bytes. */
void huge_stats(size_t *count, size_t *bytes);

#endif
