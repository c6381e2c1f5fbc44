/* calloc: zeroing, degenerate and overflowing requests.
 *
 * - calloc zeroes every byte, also when the block is a recycled one: every
 *   block is filled with 0xff over its whole usable size before it is
 *   freed, so a calloc that trusts a freed block to be zero is caught.
 *   Fixed element sizes 5, 6, 15, 17, 31, 96 (50000 blocks of each, twice,
 *   so the second pass runs on the first pass's dirty blocks), then a random
 *   mix of sizes and element counts with blocks freed in random order.
 * - calloc(0,0), calloc(0,UINT_MAX), calloc(UINT_MAX,0), calloc(0,~0),
 *   calloc(~0,0), calloc(1,0), calloc(0,1) give distinct, freeable,
 *   non-NULL pointers.
 * - large calloc after recycling: big blocks (64 KiB .. 4 MiB and the
 *   sizes around 2 MiB, then 2^k and 2^k +- 16) are dirtied with 0xff and
 *   freed, then calloc'd again and must be zero.  Rounds alternate with and
 *   without malloc_trim(0), so both "freed but still resident" memory and
 *   purged (MADV_DONTNEED/MADV_FREE) memory are handed out again.
 * - calloc whose n*m overflows is NULL with ENOMEM: (SIZE_MAX,2),
 *   (SIZE_MAX,SIZE_MAX), (LONG_MAX+1,2), (&fn,SIZE_MAX/1000), and products
 *   just above SIZE_MAX, where rounding after a wrapped multiply would give
 *   a small block.
 */
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Checks that the n bytes at p are zero; reports the first non-zero one. */
static void check_zero(const unsigned char *p, size_t n, const char *what, size_t a, size_t b) {
  /* Word-at-a-time first (p is 16-aligned): these checks cover hundreds of
   * MiB, and -fno-builtin turns a memcpy per word into a call. */
  typedef uint64_t __attribute__((may_alias)) word;
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (*(const word *)(p + i) != 0) break;
  for (; i < n; i++)
    CHECK_MSG(p[i] == 0, "%s(%zu, %zu) = %p: byte %zu of %zu is 0x%02x", what, a, b, (const void *)p, i,
              n, p[i]);
}

/* Dirty the whole usable size: that is what a caller may write. */
static void dirty_and_free(void *p) {
  memset(p, 0xff, malloc_usable_size(p));
  free(p);
}

static void *xcalloc(size_t a, size_t b) {
  void *p = calloc(a, b);
  CHECK_MSG(p != NULL, "calloc(%zu, %zu) failed", a, b);
  CHECK_MSG((uintptr_t)p % 16 == 0, "calloc(%zu, %zu) = %p not 16-aligned", a, b, p);
  CHECK(malloc_usable_size(p) >= a * b);
  check_zero(p, a * b, "calloc", a, b);
  return p;
}

static void test_fixed(void) { /* zeroing recycled blocks, fixed sizes */
  enum { N = 50000 };
  static void *ptrs[N];
  static const size_t sizes[] = {5, 6, 15, 17, 31, 96};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int pass = 0; pass < 2; pass++) {
      for (size_t i = 0; i < N; i++) ptrs[i] = xcalloc(1, sizes[s]);
      /* Free in an order unlike allocation order, so reuse mixes slots. */
      for (size_t i = 0; i < N; i += 2) dirty_and_free(ptrs[i]);
      for (size_t i = 1; i < N; i += 2) dirty_and_free(ptrs[i]);
    }
  /* The same sizes as element counts, interleaved: calloc(n, size). */
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (size_t i = 0; i < 2000; i++) ptrs[i] = xcalloc(sizes[s], 1 + i % 40);
    for (size_t i = 2000; i-- > 0;) dirty_and_free(ptrs[i]);
  }
}

static void test_random(void) { /* zeroing recycled blocks, random sizes */
  enum { SLOTS = 1024, OPS = 60000 };
  static void *slot[SLOTS];
  uint64_t rng = 0x4ca110c;
  for (int op = 0; op < OPS; op++) {
    size_t i = test_rand(&rng) % SLOTS;
    if (slot[i]) dirty_and_free(slot[i]);
    uint64_t r = test_rand(&rng);
    size_t total;
    switch (r % 8) {
    case 0: total = r >> 40 & 0xffff; break;                /* up to 64 KiB */
    case 1: total = (r >> 40 & 0xfffff) | 0x8000; break;    /* 32 KiB .. 1 MiB */
    default: total = r >> 40 & 0x3ff; break;                /* up to 1 KiB */
    }
    size_t elem = 1 + (r >> 8 & 0xff);
    size_t count = total / elem;
    slot[i] = (r & 0x80) ? xcalloc(count, elem) : xcalloc(elem, count);
  }
  for (size_t i = 0; i < SLOTS; i++)
    if (slot[i]) dirty_and_free(slot[i]);
}

static void test_degenerate(void) {
  static const size_t args[][2] = {
    {0, 0}, {0, UINT_MAX}, {UINT_MAX, 0}, {0, SIZE_MAX}, {SIZE_MAX, 0}, {1, 0}, {0, 1},
  };
  enum { N = sizeof args / sizeof args[0] };
  void *p[N];
  for (size_t i = 0; i < N; i++) {
    p[i] = calloc(args[i][0], args[i][1]);
    CHECK_MSG(p[i] != NULL, "calloc(%zu, %zu) = NULL", args[i][0], args[i][1]);
    for (size_t j = 0; j < i; j++)
      CHECK_MSG(p[i] != p[j], "calloc(%zu, %zu) returned a live pointer again", args[i][0], args[i][1]);
  }
  for (size_t i = 0; i < N; i++) free(p[i]);
}

/* Large calloc after recycling: dirty big blocks, free them, calloc the
 * same sizes: zero. */
static void recycle_round(const size_t *sizes, size_t n, int trim) {
  void *p[64];
  CHECK(n <= 64);
  for (size_t i = 0; i < n; i++) {
    p[i] = malloc(sizes[i]);
    CHECK_MSG(p[i] != NULL, "malloc(%zu) failed", sizes[i]);
  }
  for (size_t i = 0; i < n; i++) dirty_and_free(p[i]);
  if (trim) malloc_trim(0);
  for (size_t i = 0; i < n; i++) p[i] = xcalloc(1, sizes[i]);
  for (size_t i = 0; i < n; i++) dirty_and_free(p[i]);
  /* Reverse order and split element counts: other blocks land in other places. */
  for (size_t i = n; i-- > 0;) p[i] = xcalloc(sizes[i] / 16, 16);
  for (size_t i = 0; i < n; i++) dirty_and_free(p[i]);
}

static void test_large_recycled(void) {
  static const size_t big[] = {
    65536, 524288, 1048576, 4194304, 2097152 - 4096, 2097152 + 4096, 2097152,
    32768 + 16, 1048576 - 16, 1048576 + 16, 3 * 1048576,
  };
  for (int round = 0; round < 6; round++)
    recycle_round(big, sizeof big / sizeof big[0], round & 1);

  /* 2^k and 2^k +- 16 from 16 B to 4 MiB (every size class family). */
  size_t sweep[64];
  size_t n = 0;
  for (int k = 4; k <= 22; k += 2) {
    size_t s = (size_t)1 << k;
    sweep[n++] = s - 16 ? s - 16 : 1;
    sweep[n++] = s;
    sweep[n++] = s + 16;
  }
  for (int round = 0; round < 4; round++) recycle_round(sweep, n, round & 1);
}

static void fn(void) {}

static void expect_overflow(size_t a, size_t b) {
  errno = 0;
  void *p = calloc(a, b);
  CHECK_MSG(p == NULL, "calloc(%zu, %zu) = %p, want NULL", a, b, p);
  CHECK_MSG(errno == ENOMEM, "calloc(%zu, %zu): errno %d, want ENOMEM", a, b, errno);
}

static void test_overflow(void) {
  /* Put a recycled small block in the cache first: a wrapped product that
   * is rounded to a small size would get it back. */
  for (int i = 0; i < 4; i++) {
    void *volatile q = malloc(16);
    free(q);
    expect_overflow(SIZE_MAX, 2);
    expect_overflow(SIZE_MAX, SIZE_MAX);
    expect_overflow((size_t)LONG_MAX + 1, 2);
    expect_overflow(2, (size_t)LONG_MAX + 1);
    expect_overflow((size_t)(uintptr_t)&fn, SIZE_MAX / 1000);
    expect_overflow(SIZE_MAX / 1000, (size_t)(uintptr_t)&fn);
  }
  /* Products that wrap to each small value, and to exactly 0. */
  expect_overflow((size_t)1 << 32, (size_t)1 << 32);
  expect_overflow(((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1 + 2);
  for (size_t small = 1; small < 64; small++) {
    /* (SIZE_MAX/2 + 1) * 2 wraps to 0; adding `small` elements of 2 bytes
     * wraps to 2*small. */
    expect_overflow(SIZE_MAX / 2 + 1 + small, 2);
    expect_overflow(16, SIZE_MAX / 16 + 1 + small);
  }
  /* Products in (PTRDIFF_MAX, SIZE_MAX]: no wrap, but too big for an object. */
  expect_overflow(PTRDIFF_MAX / 2 + 1, 2);
  expect_overflow(3, PTRDIFF_MAX / 2);
  /* The allocator still works. */
  free(xcalloc(10, 10));
}

int main(void) {
  test_require_hugeslab();
  test_degenerate();
  test_overflow();
  test_fixed();
  test_random();
  test_large_recycled();
  return 0;
}
