/* chunkmap: see chunkmap.h. */
#include "chunkmap.h"

#include <errno.h>
#include "os.h"

#define LEAF_BYTES (CHUNKMAP_LEAF_ENTRIES * sizeof(uintptr_t))

uintptr_t chunkmap_empty_leaf[CHUNKMAP_LEAF_ENTRIES];
uintptr_t chunkmap_root[CHUNKMAP_ROOT_ENTRIES];

static uintptr_t *leaf_at(uintptr_t root_slot) {
  return (uintptr_t *)(__atomic_load_n(&chunkmap_root[root_slot], __ATOMIC_ACQUIRE) + (uintptr_t)chunkmap_empty_leaf);
}

static size_t leaves_mapped; /* atomic */

bool chunkmap_prepare(const void *addr, size_t size) {
  uintptr_t first = (uintptr_t)addr >> HS_CHUNK_SHIFT;
  uintptr_t last = ((uintptr_t)addr + size - 1) >> HS_CHUNK_SHIFT;
  if (size == 0 || last < first || (last >> CHUNKMAP_LEAF_BITS) >= CHUNKMAP_ROOT_ENTRIES) {
    errno = ENOMEM;
    return false;
  }
  for (uintptr_t r = first >> CHUNKMAP_LEAF_BITS; r <= last >> CHUNKMAP_LEAF_BITS; r++) {
    if (__atomic_load_n(&chunkmap_root[r], __ATOMIC_ACQUIRE) != 0) continue;
    uintptr_t *leaf = os_map(LEAF_BYTES);
    if (!leaf) return false;
    uintptr_t expected = 0;
    if (__atomic_compare_exchange_n(&chunkmap_root[r], &expected, (uintptr_t)leaf - (uintptr_t)chunkmap_empty_leaf,
                                    false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
      __atomic_add_fetch(&leaves_mapped, 1, __ATOMIC_RELAXED);
    else
      os_release(leaf, LEAF_BYTES); /* another thread installed one first */
  }
  return true;
}

void chunkmap_set(const void *addr, size_t size, uintptr_t entry) {
  uintptr_t first = (uintptr_t)addr >> HS_CHUNK_SHIFT;
  uintptr_t last = ((uintptr_t)addr + size - 1) >> HS_CHUNK_SHIFT;
  for (uintptr_t i = first; i <= last; i++) {
    uintptr_t *leaf = leaf_at(i >> CHUNKMAP_LEAF_BITS);
    if (unlikely(leaf == chunkmap_empty_leaf)) os_fatal("internal error: chunk map range not prepared");
    __atomic_store_n(&leaf[i & (CHUNKMAP_LEAF_ENTRIES - 1)], entry, __ATOMIC_RELEASE);
  }
}

void chunkmap_each(void (*fn)(uintptr_t base, uintptr_t entry, void *arg), void *arg) {
  for (uintptr_t r = 0; r < CHUNKMAP_ROOT_ENTRIES; r++) {
    uintptr_t *leaf = leaf_at(r);
    if (leaf == chunkmap_empty_leaf) continue;
    for (uintptr_t i = 0; i < CHUNKMAP_LEAF_ENTRIES; i++) {
      uintptr_t e = __atomic_load_n(&leaf[i], __ATOMIC_RELAXED);
      if (e) fn(((r << CHUNKMAP_LEAF_BITS) | i) << HS_CHUNK_SHIFT, e, arg);
    }
  }
}

size_t chunkmap_mapped_bytes(void) {
  return __atomic_load_n(&leaves_mapped, __ATOMIC_RELAXED) * LEAF_BYTES;
}
