/* chunkmap: see chunkmap.h. */
#include "chunkmap.h"

#include "os.h"

#define CHUNKMAP_ADDRESS_BITS 47

uintptr_t chunkmap_entries;
uintptr_t *chunkmap_table;

void chunkmap_init(void) {
  uintptr_t entries = (uintptr_t)1 << (CHUNKMAP_ADDRESS_BITS - HS_CHUNK_SHIFT);
  uintptr_t *table = os_map(entries * sizeof(uintptr_t), true);
  if (!table) os_fatal("cannot reserve the chunk map");
  chunkmap_table = table;
  __atomic_store_n(&chunkmap_entries, entries, __ATOMIC_RELEASE);
}

void chunkmap_set(const void *addr, size_t size, uintptr_t entry) {
  uintptr_t first = (uintptr_t)addr >> HS_CHUNK_SHIFT;
  uintptr_t last = ((uintptr_t)addr + size - 1) >> HS_CHUNK_SHIFT;
  if (last >= chunkmap_entries) os_fatal("address beyond the chunk map");
  for (uintptr_t i = first; i <= last; i++)
    __atomic_store_n(&chunkmap_table[i], entry, __ATOMIC_RELEASE);
}
