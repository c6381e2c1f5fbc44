/* The chunk map (linked with src/chunkmap.c and src/os.c): it answers "not
 * ours" everywhere before anything is prepared, including at the top of the
 * 48-bit address space aarch64 hands out; prepared ranges at the bottom, in
 * the middle and at the very top of that space (and across a leaf boundary)
 * map every 2 MiB region they cover and nothing beside them; a range beyond
 * 48 bits is refused with ENOMEM; and leaves are mapped as ranges need them,
 * not up front. */
#include <errno.h>
#include <stdint.h>
#include "chunkmap.h"
#include "testutil.h"

#define TOP ((uintptr_t)1 << CHUNKMAP_ADDRESS_BITS)
#define LEAF_SPAN (CHUNKMAP_LEAF_ENTRIES * HS_CHUNK)

static void check_range(uintptr_t base, size_t size, uintptr_t entry) {
  CHECK_MSG(chunkmap_prepare((void *)base, size), "prepare %#lx + %#zx", (unsigned long)base, size);
  chunkmap_set((void *)base, size, entry);
  for (uintptr_t a = base; a < base + size; a += HS_CHUNK / 4)
    CHECK_MSG(chunkmap_get((void *)a) == entry, "entry at %#lx", (unsigned long)a);
  CHECK(chunkmap_get((void *)(base + size - 1)) == entry);
  if (base >= HS_CHUNK) CHECK(chunkmap_get((void *)(base - 1)) == 0);
  if (base + size < TOP) CHECK(chunkmap_get((void *)(base + size)) == 0);
  chunkmap_set((void *)base, size, 0);
  for (uintptr_t a = base; a < base + size; a += HS_CHUNK) CHECK(chunkmap_get((void *)a) == 0);
}

int main(void) {
  /* Nothing prepared: every lookup is 0, nothing is mapped. */
  CHECK(chunkmap_mapped_bytes() == 0);
  for (uintptr_t a = 0; a < TOP; a += TOP / 4096 + 12345) CHECK(chunkmap_get((void *)a) == 0);
  CHECK(chunkmap_get((void *)(TOP - 1)) == 0);
  CHECK(chunkmap_get((void *)TOP) == 0);
  CHECK(chunkmap_get((void *)UINTPTR_MAX) == 0);

  check_range(HS_CHUNK, 3 * HS_CHUNK, 0x1000);
  CHECK(chunkmap_mapped_bytes() == CHUNKMAP_LEAF_ENTRIES * sizeof(uintptr_t));
  /* The last 2 MiB of the 48-bit space (aarch64's top), and 47-bit's top. */
  check_range(TOP - HS_CHUNK, HS_CHUNK, 0x2000 | CHUNKMAP_HUGE);
  check_range(TOP / 2 - 2 * HS_CHUNK, 2 * HS_CHUNK, 0x3000);
  /* Across a leaf boundary: two leaves. */
  size_t before = chunkmap_mapped_bytes();
  check_range(5 * LEAF_SPAN - HS_CHUNK, 2 * HS_CHUNK, 0x4000);
  CHECK(chunkmap_mapped_bytes() == before + 2 * CHUNKMAP_LEAF_ENTRIES * sizeof(uintptr_t));
  /* Preparing again maps nothing more. */
  before = chunkmap_mapped_bytes();
  CHECK(chunkmap_prepare((void *)(5 * LEAF_SPAN), HS_CHUNK));
  CHECK(chunkmap_mapped_bytes() == before);
  /* Beyond the map: refused, nothing set. */
  errno = 0;
  CHECK(!chunkmap_prepare((void *)TOP, HS_CHUNK) && errno == ENOMEM);
  errno = 0;
  CHECK(!chunkmap_prepare((void *)(TOP - HS_CHUNK), 2 * HS_CHUNK) && errno == ENOMEM);
  CHECK(chunkmap_get((void *)TOP) == 0);
  printf("chunkmap: %zu KiB of leaves mapped\n", chunkmap_mapped_bytes() >> 10);
  return 0;
}
