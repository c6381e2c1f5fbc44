/* Size classes and slot arithmetic, checked exhaustively against the
 * library's internals (linked statically): every small size maps to the
 * smallest class that holds it, every slot start of every class resolves to
 * its index, and no other offset does (the division shortcut in
 * slab_slot_index must never reject a valid free or accept an interior one). */
#include <stdio.h>
#include <stdlib.h>
#include "sizeclass.h"
#include "slab.h"
#include "testutil.h"

int main(void) {
  sizeclass_init();
  for (size_t n = 0; n <= SIZECLASS_SMALL_MAX; n++) {
    unsigned c = sizeclass_of(n);
    CHECK_MSG(c < SIZECLASS_SMALL, "size %zu -> class %u", n, c);
    CHECK_MSG(sizeclass_size(c) >= n, "size %zu -> class %u of size %zu", n, c, sizeclass_size(c));
    CHECK_MSG(c == 0 || sizeclass_size(c - 1) < n, "size %zu not in the smallest class", n);
    CHECK_MSG(sizeclass_size(c) % 16 == 0, "class %u size not 16-aligned", c);
  }
  CHECK(sizeclass_size(SIZECLASS_SMALL - 1) == SIZECLASS_SMALL_MAX);
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    const struct sizeclass_info *ci = &sizeclass_table[c];
    CHECK(ci->slots >= 2);
    CHECK((size_t)ci->slots * ci->size <= (size_t)ci->pages * HS_PAGE);
    CHECK((size_t)(ci->slots + 1) * ci->size > (size_t)ci->pages * HS_PAGE);
    CHECK(ci->batch >= 1 && ci->batch <= ci->cache_cap);
    /* Tail waste of a slab stays under 1/8 of it. */
    CHECK_MSG(((size_t)ci->pages * HS_PAGE - (size_t)ci->slots * ci->size) * 8 <= (size_t)ci->pages * HS_PAGE,
              "class %u (%u bytes): %u pages waste too much", c, ci->size, ci->pages);
    struct slab s = {.base = 0x200000, .size = ci->size, .magic = ci->magic, .slots = ci->slots};
    size_t span = (size_t)ci->pages * HS_PAGE;
    for (size_t off = 0; off < span; off++) {
      uint32_t idx;
      bool ok = slab_slot_index(&s, (void *)(s.base + off), &idx);
      bool want = off % ci->size == 0 && off / ci->size < ci->slots;
      CHECK_MSG(ok == want, "class %u size %u offset %zu: got %d want %d", c, ci->size, off, ok, want);
      if (ok) CHECK(idx == off / ci->size);
      /* The fast path's variant may also accept the tail start (index ==
       * slots, whose state byte is SLOT_NONE), and nothing else. */
      bool tail_ok = slab_slot_index_or_tail(&s, (void *)(s.base + off), &idx);
      CHECK_MSG(tail_ok == (off % ci->size == 0), "class %u offset %zu: or_tail says %d", c, off, tail_ok);
      if (tail_ok) CHECK(idx == off / ci->size && idx <= ci->slots);
    }
  }
  /* Aligned classes: every slot of the chosen class is aligned. */
  for (size_t align = 32; align <= HS_PAGE; align <<= 1)
    for (size_t n = 1; n <= SIZECLASS_SMALL_MAX; n += 7) {
      unsigned c = sizeclass_aligned(n, align);
      /* No class between n's own and the answer is aligned: it is the first. */
      for (unsigned d = sizeclass_of(n); d < c && d < SIZECLASS_SMALL; d++)
        CHECK_MSG(sizeclass_size(d) % align != 0, "n %zu align %zu: class %u skipped", n, align, d);
      if (c == SIZECLASS_SMALL) continue;
      CHECK(sizeclass_size(c) >= n && sizeclass_size(c) % align == 0);
    }
  printf("sizeclass: %u classes checked\n", SIZECLASS_SMALL);
  return 0;
}
