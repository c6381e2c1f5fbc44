/* Size classes and slot arithmetic, checked exhaustively against the
 * library's internals (linked statically): every small size maps to the
 * smallest class that holds it, and the lookup through a chunk's page words
 * (chunk_state_lookup, which every free and realloc uses) resolves every slot
 * start of every class to its state byte and no other offset but the tail
 * start (the division shortcut must never reject a valid free or accept an
 * interior one); likewise for page runs and free pages. */
#include <stdio.h>
#include <stdlib.h>
#include "sizeclass.h"
#include "chunk.h"
#include "slab.h"
#include "testutil.h"

/* A chunk descriptor and state bytes for the page-word lookups. */
static struct chunk chunk;
static uint8_t states[HS_CHUNK / 16 + 1];
#define CHUNK_BASE ((uintptr_t)0x40000000)

/* Map pages [first, first + s->pages) of the test chunk to s. */
static void map_slab(struct slab *s, unsigned first) {
  s->first_page = (uint16_t)first;
  s->base = CHUNK_BASE + ((uintptr_t)first << HS_PAGE_SHIFT);
  s->state = states;
  for (unsigned i = first; i < first + s->pages; i++) chunk.page_word[i] = chunk_page_word(s);
}

/* Every byte of s's pages: the lookup accepts exactly the slot starts and
 * the tail start (index slots, never beyond), with the right class and
 * state byte. */
static void check_lookup(const struct slab *s, unsigned cls, size_t slot_size) {
  size_t span = (size_t)s->pages * HS_PAGE;
  for (size_t off = 0; off < span; off++) {
    unsigned got_cls;
    uint8_t *state;
    bool ok = chunk_state_lookup(&chunk, (void *)(s->base + off), &got_cls, &state);
    bool want = slot_size ? off % slot_size == 0 : off == 0;
    CHECK_MSG(ok == want, "class %u offset %zu: lookup says %d", cls, off, ok);
    CHECK(got_cls == cls);
    if (ok) CHECK(state == states + (slot_size ? off / slot_size : 0) && (size_t)(state - states) <= s->slots);
  }
}

/* Classes computed before sizeclass_init(): the process's first malloc or
 * calloc computes its class before anything is initialised. */
static uint8_t class_before_init[SIZECLASS_SMALL_MAX + 1];

int main(void) {
  for (size_t n = 0; n <= SIZECLASS_SMALL_MAX; n++) class_before_init[n] = (uint8_t)sizeclass_of(n);
  sizeclass_init();
  /* Free pages: at most the chunk's first byte passes, onto SLOT_NONE. */
  for (unsigned i = 0; i < HS_CHUNK_PAGES; i++) chunk.page_word[i] = chunk_page_word(NULL);
  for (uintptr_t off = 0; off < HS_CHUNK; off += 8) {
    unsigned cls;
    uint8_t *state;
    bool ok = chunk_state_lookup(&chunk, (void *)(CHUNK_BASE + off), &cls, &state);
    CHECK(cls == SIZECLASS_LARGE && ok == (off == 0));
    if (ok) CHECK(*state == SLOT_NONE);
  }
  for (size_t n = 0; n <= SIZECLASS_SMALL_MAX; n++) {
    unsigned c = sizeclass_of(n);
    CHECK_MSG(c < SIZECLASS_SMALL, "size %zu -> class %u", n, c);
    CHECK_MSG(class_before_init[n] == c, "size %zu: class %u before init, %u after", n, class_before_init[n], c);
    CHECK_MSG(sizeclass_size(c) >= n, "size %zu -> class %u of size %zu", n, c, sizeclass_size(c));
    CHECK_MSG(c == 0 || sizeclass_size(c - 1) < n, "size %zu not in the smallest class", n);
    CHECK_MSG(sizeclass_size(c) % 16 == 0, "class %u size not 16-aligned", c);
  }
  CHECK(sizeclass_size(SIZECLASS_SMALL - 1) == SIZECLASS_SMALL_MAX);
  /* realloc keeps a block of class c for exactly the n in [keep_min, size]
   * whose n + n/4 (capped) is of class c or above. */
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++)
    for (size_t n = 0; n <= SIZECLASS_SMALL_MAX; n++) {
      size_t roomy = n + n / 4 < SIZECLASS_SMALL_MAX ? n + n / 4 : SIZECLASS_SMALL_MAX;
      bool want = n <= sizeclass_size(c) && sizeclass_of(roomy) >= c;
      bool got = n >= sizeclass_keep_min[c] && n <= sizeclass_size(c);
      CHECK_MSG(got == want, "class %u n %zu: keep_min %u says %d", c, n, sizeclass_keep_min[c], got);
    }
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    const struct sizeclass_info *ci = &sizeclass_table[c];
    CHECK(ci->slots >= 2);
    CHECK((size_t)ci->slots * ci->size <= (size_t)ci->pages * HS_PAGE);
    CHECK((size_t)(ci->slots + 1) * ci->size > (size_t)ci->pages * HS_PAGE);
    CHECK(ci->batch >= 1 && ci->batch <= ci->cache_cap);
    /* Tail waste of a slab stays under 1/8 of it. */
    CHECK_MSG(((size_t)ci->pages * HS_PAGE - (size_t)ci->slots * ci->size) * 8 <= (size_t)ci->pages * HS_PAGE,
              "class %u (%u bytes): %u pages waste too much", c, ci->size, ci->pages);
    /* A slab of the class at the chunk's start and at its end. */
    struct slab s = {.size = ci->size, .magic = ci->magic, .slots = ci->slots, .cls = (uint8_t)c,
                     .pages = ci->pages};
    map_slab(&s, 0);
    check_lookup(&s, c, ci->size);
    map_slab(&s, HS_CHUNK_PAGES - ci->pages);
    check_lookup(&s, c, ci->size);
  }
  /* A page run's state byte and page count are in its chunk's run record
   * for its first page, where realloc reads them; the record's pad is the
   * run's SLOT_NONE tail byte and leaves the next page's record alone. */
  static _Alignas(64) unsigned char desc[256];
  struct slab *run = (struct slab *)desc;
  chunk.run[8].state = SLOT_LIVE;
  slab_init(run, &chunk, CHUNK_BASE + (7 << HS_PAGE_SHIFT), 7, 3, SIZECLASS_LARGE, 3 << HS_PAGE_SHIFT, 0, 1,
            chunk_run_state(&chunk, 7));
  chunk_map_pages(&chunk, 7, 3, run);
  CHECK(run->state == &chunk.run[7].state && chunk.run[7].pages == 3);
  CHECK(run->state[0] == SLOT_FREE && run->state[1] == SLOT_NONE && chunk.run[8].state == SLOT_LIVE);

  /* Page runs of 1 .. 256 pages anywhere: only the first byte passes. */
  for (unsigned pages = 1; pages <= 256; pages *= 4)
    for (unsigned first = 0; first + pages <= HS_CHUNK_PAGES; first += 97) {
      struct slab run = {.size = pages << HS_PAGE_SHIFT, .slots = 1, .pages = (uint16_t)pages,
                         .cls = SIZECLASS_LARGE};
      map_slab(&run, first);
      check_lookup(&run, SIZECLASS_LARGE, 0);
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
