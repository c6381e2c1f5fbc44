/* chunk: see chunk.h. */
#include "chunk.h"

#include <string.h>

/* First page index >= from whose bit in `bits` equals `want`, or HS_CHUNK_PAGES. */
static unsigned next_bit(const uint64_t *bits, unsigned from, bool want) {
  while (from < HS_CHUNK_PAGES) {
    unsigned w = from >> 6;
    uint64_t word = want ? bits[w] : ~bits[w];
    word &= ~(uint64_t)0 << (from & 63);
    if (word) return (w << 6) + (unsigned)__builtin_ctzll(word);
    from = (w + 1) << 6;
  }
  return HS_CHUNK_PAGES;
}

static void set_bits(uint64_t *bits, unsigned first, unsigned count, bool on) {
  for (unsigned i = first; i < first + count;) {
    unsigned w = i >> 6, lo = i & 63;
    unsigned n = 64 - lo < first + count - i ? 64 - lo : first + count - i;
    uint64_t mask = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << lo;
    if (on) bits[w] |= mask;
    else bits[w] &= ~mask;
    i += n;
  }
}

/* Set bits in a word, without the libgcc helper __builtin_popcountll becomes
 * on a baseline x86-64 (the library links nothing but libc). */
static unsigned popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static unsigned count_bits(const uint64_t *bits, unsigned first, unsigned count) {
  unsigned n = 0;
  for (unsigned i = first; i < first + count;) {
    unsigned w = i >> 6, lo = i & 63;
    unsigned k = 64 - lo < first + count - i ? 64 - lo : first + count - i;
    uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << lo;
    n += (unsigned)popcount64(bits[w] & mask);
    i += k;
  }
  return n;
}

static void update_longest(struct chunk *c) {
  unsigned best = 0, i = 0;
  if (c->nfree == HS_CHUNK_PAGES) {
    c->longest = HS_CHUNK_PAGES;
    return;
  }
  while (best < c->nfree && (i = next_bit(c->free_bits, i, true)) < HS_CHUNK_PAGES) {
    unsigned end = next_bit(c->free_bits, i, false);
    if (end - i > best) best = end - i;
    i = end;
  }
  c->longest = (uint16_t)best;
}

void chunk_map_pages(struct chunk *c, unsigned first, unsigned count, struct slab *s) {
  uint64_t word = chunk_page_word(s);
  for (unsigned i = first; i < first + count; i++) {
    c->page_word[i] = word;
    c->page_slab[i] = s;
  }
  if (s && s->cls == SIZECLASS_LARGE) c->run[first].pages = (uint16_t)s->pages;
}

void chunk_init(struct chunk *c, uintptr_t base, bool unzeroed) {
  memset(c->page_slab, 0, sizeof c->page_slab);
  uint64_t free_word = chunk_page_word(NULL);
  for (unsigned i = 0; i < HS_CHUNK_PAGES; i++) c->page_word[i] = free_word;
  c->base = base;
  for (unsigned w = 0; w < CHUNK_WORDS; w++) {
    c->free_bits[w] = ~(uint64_t)0;
    c->dirty_bits[w] = 0;
    c->unzeroed_bits[w] = unzeroed ? ~(uint64_t)0 : 0;
  }
  c->nfree = c->longest = HS_CHUNK_PAGES;
  c->ndirty = 0;
}

int chunk_find_run(const struct chunk *c, unsigned count, unsigned align_pages) {
  if (c->longest < count) return -1;
  unsigned i = 0;
  for (;;) {
    i = next_bit(c->free_bits, i, true);
    i = (unsigned)HS_ALIGN_UP(i, align_pages);
    if (i + count > HS_CHUNK_PAGES) return -1;
    unsigned used = next_bit(c->free_bits, i, false);
    if (used >= i + count) return (int)i;
    i = used + 1;
  }
}

int chunk_find_dirty_run(const struct chunk *c, unsigned count, unsigned align_pages) {
  if (c->ndirty == 0 || c->longest < count) return -1;
  unsigned i = 0;
  for (;;) {
    i = next_bit(c->dirty_bits, i, true);
    if (i >= HS_CHUNK_PAGES) return -1;
    i = (unsigned)HS_ALIGN_UP(i, align_pages);
    if (i + count > HS_CHUNK_PAGES) return -1;
    unsigned used = next_bit(c->free_bits, i, false);
    if (used >= i + count) return (int)i;
    i = used + 1;
  }
}

unsigned chunk_take(struct chunk *c, unsigned first, unsigned count, bool *zero) {
  unsigned dirty = count_bits(c->dirty_bits, first, count);
  *zero = count_bits(c->unzeroed_bits, first, count) == 0;
  set_bits(c->free_bits, first, count, false);
  set_bits(c->dirty_bits, first, count, false);
  set_bits(c->unzeroed_bits, first, count, false);
  c->nfree = (uint16_t)(c->nfree - count);
  c->ndirty = (uint16_t)(c->ndirty - dirty);
  update_longest(c);
  return dirty;
}

void chunk_give(struct chunk *c, unsigned first, unsigned count, enum chunk_give_as as) {
  set_bits(c->free_bits, first, count, true);
  if (as == CHUNK_DIRTY) set_bits(c->dirty_bits, first, count, true);
  if (as != CHUNK_CLEAN_ZERO) set_bits(c->unzeroed_bits, first, count, true);
  c->nfree = (uint16_t)(c->nfree + count);
  if (as == CHUNK_DIRTY) c->ndirty = (uint16_t)(c->ndirty + count);
  update_longest(c);
}

bool chunk_next_dirty(const struct chunk *c, unsigned *from, unsigned *first, unsigned *count, unsigned *dirty) {
  for (unsigned i = *from; (i = next_bit(c->dirty_bits, i, true)) < HS_CHUNK_PAGES;) {
    /* The free run around dirty page i: back to its start, on to its end. */
    unsigned start = i;
    while (start > *from && ((c->free_bits[(start - 1) >> 6] >> ((start - 1) & 63)) & 1)) start--;
    unsigned end = next_bit(c->free_bits, i, false);
    *first = start;
    *count = end - start;
    *dirty = count_bits(c->dirty_bits, start, end - start);
    *from = end;
    return true;
  }
  return false;
}
