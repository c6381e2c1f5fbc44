/* sizeclass: see sizeclass.h. */
#include "sizeclass.h"

struct sizeclass_info sizeclass_table[SIZECLASS_SMALL + 1];

/* sizeclass_lut[i]: the class of size 16 * i, as a constant expression, so
 * that the very first malloc or calloc of the process, which computes its
 * class before the allocator is initialised, computes the right one. Up to
 * 128 bytes a class per 16; above, four per doubling (sizeclass_of's formula
 * for n - 1 of log2 7, 8 or 9). */
#define LUT_LG(m) ((m) >= 512 ? 9 : (m) >= 256 ? 8 : 7)
#define LUT_ABOVE_128(n) (8 + (LUT_LG((n)-1) - 7) * 4 + (((n)-1 - (1 << LUT_LG((n)-1))) >> (LUT_LG((n)-1) - 2)))
#define LUT(i) (uint8_t)((i) <= 8 ? ((i) ? (i)-1 : 0) : LUT_ABOVE_128((i)*16))
#define LUT4(i) LUT(i), LUT((i) + 1), LUT((i) + 2), LUT((i) + 3)
#define LUT16(i) LUT4(i), LUT4((i) + 4), LUT4((i) + 8), LUT4((i) + 12)
const uint8_t sizeclass_lut[SIZECLASS_LUT_MAX / 16 + 1] = {LUT16(0), LUT16(16), LUT16(32), LUT16(48), LUT(64)};
_Static_assert(SIZECLASS_LUT_MAX == 1024, "the constant table spells out 65 entries");
uint16_t sizeclass_keep_min[SIZECLASS_SMALL + 1];
/* aligned_lut[k][c]: the first class >= c whose size is a multiple of
 * 32 << k (k = 0 .. 7, alignments 32 .. 4096), or SIZECLASS_SMALL. */
#define ALIGNED_KINDS 8
static uint8_t aligned_lut[ALIGNED_KINDS][SIZECLASS_SMALL];

#define SLAB_MAX_PAGES 32
#define SLAB_TARGET_SLOTS 64
/* A slab of a class above 512 B holds SLAB_TARGET_SLOTS slots only up to
 * SLAB_TARGET_PAGES, and at least SLAB_MIN_SLOTS: the partly used and the
 * kept empty slab of each class cost every arena that much, whether or not
 * its threads use it (threads100, 100 threads in two arenas: slabs of 32
 * pages cost 1.7 MiB of its 9 MiB peak). */
#define SLAB_TARGET_PAGES 8
#define SLAB_MIN_SLOTS 8
#define CACHE_BYTES ((size_t)64 << 10)
#define CACHE_MIN 8

static uint32_t class_size(unsigned cls) {
  if (cls < 8) return 16u * (cls + 1);
  unsigned group = (cls - 8) / 4, step = (cls - 8) % 4;
  uint32_t base = 128u << group;
  return base + (step + 1) * (base / 4);
}

/* Smallest slab that holds SLAB_TARGET_SLOTS slots (within SLAB_TARGET_PAGES
 * unless that is fewer than SLAB_MIN_SLOTS; capped at SLAB_MAX_PAGES) and
 * wastes at most 1/32 of itself; failing that, the least wasteful size from
 * there up. */
static unsigned slab_pages(uint32_t size) {
  size_t want = ((size_t)size * SLAB_TARGET_SLOTS + HS_PAGE - 1) / HS_PAGE;
  size_t least = ((size_t)size * SLAB_MIN_SLOTS + HS_PAGE - 1) / HS_PAGE;
  if (want > SLAB_TARGET_PAGES) want = least > SLAB_TARGET_PAGES ? least : SLAB_TARGET_PAGES;
  unsigned lo = want < 1 ? 1 : want > SLAB_MAX_PAGES ? SLAB_MAX_PAGES : (unsigned)want;
  unsigned best = 0;
  size_t best_waste = 0, best_bytes = 1;
  for (unsigned p = lo; p <= SLAB_MAX_PAGES; p++) {
    size_t bytes = (size_t)p * HS_PAGE;
    if (bytes < size) continue;
    size_t waste = bytes % size;
    if (waste * 32 <= bytes) return p;
    if (best == 0 || waste * best_bytes < best_waste * bytes) {
      best = p;
      best_waste = waste;
      best_bytes = bytes;
    }
  }
  return best;
}

void sizeclass_init(void) {
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    struct sizeclass_info *ci = &sizeclass_table[c];
    ci->size = class_size(c);
    ci->magic = (uint32_t)(((uint64_t)1 << 32) / ci->size + 1);
    ci->pages = (uint16_t)slab_pages(ci->size);
    ci->slots = (uint16_t)((size_t)ci->pages * HS_PAGE / ci->size);
    size_t cap = CACHE_BYTES / ci->size;
    if (cap > SIZECLASS_CACHE_MAX) cap = SIZECLASS_CACHE_MAX;
    if (cap < CACHE_MIN) cap = CACHE_MIN;
    ci->cache_cap = (uint16_t)cap;
    ci->batch = (uint16_t)(cap / 2);
  }
  for (unsigned k = 0; k < ALIGNED_KINDS; k++) {
    uint8_t next = SIZECLASS_SMALL;
    for (unsigned c = SIZECLASS_SMALL; c-- > 0;) {
      if ((sizeclass_table[c].size & ((32u << k) - 1)) == 0) next = (uint8_t)c;
      aligned_lut[k][c] = next;
    }
  }
  /* The class of min(n + n/4, max) never decreases with n. */
  unsigned next = 0;
  for (size_t n = 0; n <= SIZECLASS_SMALL_MAX && next < SIZECLASS_SMALL; n++) {
    size_t roomy = n + n / 4 < SIZECLASS_SMALL_MAX ? n + n / 4 : SIZECLASS_SMALL_MAX;
    for (unsigned c = sizeclass_of(roomy); next <= c; next++) sizeclass_keep_min[next] = (uint16_t)n;
  }
}

unsigned sizeclass_aligned(size_t n, size_t align) {
  if (n > SIZECLASS_SMALL_MAX) return SIZECLASS_SMALL;
  unsigned c = sizeclass_of(n);
  if (align <= 16) return c;
  unsigned k = (unsigned)__builtin_ctzll((unsigned long long)align) - 5;
  return k < ALIGNED_KINDS ? aligned_lut[k][c] : SIZECLASS_SMALL;
}
