/* Impossible sizes and size-class boundaries.
 *
 * - malloc(SIZE_MAX), malloc(-512 KiB) and other sizes just below
 *   SIZE_MAX that wrap when a header, a page or a huge page is added: NULL
 *   with ENOMEM.
 * - malloc(PTRDIFF_MAX + 1) is NULL with ENOMEM.
 * - reallocarray(p, SIZE_MAX-1, SIZE_MAX-1) and other overflowing
 *   products are NULL with ENOMEM (glibc's choice, not EOVERFLOW); p keeps
 *   its contents and stays usable.  A non-overflowing reallocarray works.
 * - realloc(p, SIZE_MAX), realloc(p, PTRDIFF_MAX + 1), realloc(p, -4096),
 *   realloc(p, -2 MiB) give NULL with ENOMEM; p is untouched and freeable.
 *   p is a small, a large (page run) and a huge block in turn.
 * - sizes at the edges of hugeslab's size ranges: 4 KiB, 32 KiB (largest
 *   slab class), 64 KiB, 1 MiB (largest page run), 2 MiB (huge page),
 *   4 MiB, each -4096, -16, -1, 0, +1, +16, +4096.  Through malloc, calloc,
 *   realloc(NULL), aligned_alloc(4096) and posix_memalign(64): usable size
 *   >= request, result aligned, the whole usable size writable (a guard
 *   page placed by a rounding error faults), and all blocks of one edge
 *   live at once keep their own pattern (no overlap).  Then realloc walks
 *   each edge up and down keeping the contents.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static unsigned char pat(uintptr_t seed, size_t i) { return (unsigned char)(seed * 131u + i * 17u + (i >> 12)); }

/* Fills [p, p+n) with a pattern keyed by seed.  Every byte is written: the
 * point of the boundary test is that the whole usable size is really there. */
static void fill(unsigned char *p, size_t n, uintptr_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
}

static void verify(const unsigned char *p, size_t n, uintptr_t seed, const char *what) {
  for (size_t i = 0; i < n; i++)
    CHECK_MSG(p[i] == pat(seed, i), "%s: block %p byte %zu of %zu corrupted", what, (const void *)p, i, n);
}

static void expect_enomem(void *r, const char *call, size_t size) {
  int e = errno;
  CHECK_MSG(r == NULL, "%s(%#zx) = %p, want NULL", call, size, r);
  CHECK_MSG(e == ENOMEM, "%s(%#zx): errno %d, want ENOMEM", call, size, e);
}

static void test_malloc_impossible(void) {
  static const size_t sizes[] = {
    SIZE_MAX, (size_t)-512 * 1024, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX + 2,
    SIZE_MAX - 15, SIZE_MAX - 16, (size_t)-4096, (size_t)-4097, (size_t)-4095,
    (size_t)0 - 2 * MiB, (size_t)0 - 2 * MiB - 1, (size_t)0 - 2 * MiB + 1, (size_t)0 - 32 * KiB,
    (size_t)0 - 1 * MiB, (size_t)0 - 1 * MiB - 4096, SIZE_MAX / 2 + 2 * MiB,
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *volatile q = malloc(32); /* a recycled block a wrapped size could get */
    CHECK(q != NULL);
    free(q);
    errno = 0;
    expect_enomem(malloc(test_opaque_size(sizes[i])), "malloc", sizes[i]);
  }
}

/* A block of n bytes with a pattern, for the failed-resize checks. */
static unsigned char *patterned(size_t n, uintptr_t seed) {
  unsigned char *p = malloc(n);
  CHECK_MSG(p != NULL, "malloc(%zu) failed", n);
  fill(p, n, seed);
  return p;
}

static void test_reallocarray(void) {
  static const size_t nsz[] = {16, 100000, 3 * MiB};
  static const size_t bad[][2] = {
    {SIZE_MAX - 1, SIZE_MAX - 1}, {SIZE_MAX, 2}, {2, SIZE_MAX}, {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX / 2 + 2, 2}, {(size_t)PTRDIFF_MAX / 2 + 1, 2}, {3, (size_t)PTRDIFF_MAX / 2},
  };
  for (size_t s = 0; s < sizeof nsz / sizeof nsz[0]; s++) {
    unsigned char *p = patterned(nsz[s], s);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
      errno = 0;
      void *r = reallocarray(p, test_opaque_size(bad[b][0]), test_opaque_size(bad[b][1]));
      int e = errno;
      CHECK_MSG(r == NULL, "reallocarray(p, %#zx, %#zx) = %p", bad[b][0], bad[b][1], r);
      CHECK_MSG(e == ENOMEM, "reallocarray(p, %#zx, %#zx): errno %d, want ENOMEM", bad[b][0], bad[b][1], e);
      verify(p, nsz[s], s, "after failed reallocarray");
    }
    /* NULL as the old pointer: an overflowing "malloc". */
    errno = 0;
    expect_enomem(reallocarray(NULL, test_opaque_size(SIZE_MAX - 1), test_opaque_size(SIZE_MAX - 1)), "reallocarray(NULL)",
                  SIZE_MAX - 1);
    /* A product that fits: grows and keeps the contents. */
    unsigned char *q = reallocarray(p, nsz[s] / 8 + 1, 16);
    CHECK(q != NULL);
    verify(q, nsz[s], s, "after reallocarray growth");
    free(q);
  }
}

static void test_realloc_impossible(void) {
  static const size_t nsz[] = {1, 16, 200, 32 * KiB, 64 * KiB, MiB, MiB + 1, 3 * MiB};
  static const size_t bad[] = {
    SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)-4096, (size_t)0 - 2 * MiB, (size_t)-512 * 1024, SIZE_MAX - 16,
  };
  for (size_t s = 0; s < sizeof nsz / sizeof nsz[0]; s++) {
    unsigned char *p = patterned(nsz[s], s + 7);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
      errno = 0;
      expect_enomem(realloc(p, test_opaque_size(bad[b])), "realloc", bad[b]);
      verify(p, nsz[s], s + 7, "after failed realloc");
    }
    /* Still an ordinary live block: realloc works on it, then free. */
    unsigned char *q = realloc(p, nsz[s] + 100);
    CHECK(q != NULL);
    verify(q, nsz[s], s + 7, "after realloc following a failed one");
    free(q);
  }
}

enum { API_MALLOC, API_CALLOC, API_REALLOC_NULL, API_ALIGNED_4K, API_POSIX_64, NAPI };
static const char *const api_name[NAPI] = {"malloc", "calloc", "realloc(NULL)", "aligned_alloc(4096)",
                                           "posix_memalign(64)"};
static const size_t api_align[NAPI] = {16, 16, 16, 4096, 64};

static void *alloc_api(int api, size_t n) {
  void *p = NULL;
  switch (api) {
  case API_MALLOC: p = malloc(n); break;
  case API_CALLOC: p = calloc(n, 1); break;
  case API_REALLOC_NULL: p = realloc(NULL, n); break;
  case API_ALIGNED_4K: p = aligned_alloc(4096, n); break;
  case API_POSIX_64: CHECK(posix_memalign(&p, 64, n) == 0); break;
  }
  CHECK_MSG(p != NULL, "%s(%zu) failed", api_name[api], n);
  CHECK_MSG((uintptr_t)p % api_align[api] == 0, "%s(%zu) = %p misaligned", api_name[api], n, p);
  size_t u = malloc_usable_size(p);
  CHECK_MSG(u >= n, "%s(%zu): usable size %zu < request", api_name[api], n, u);
  if (api == API_CALLOC)
    for (size_t i = 0; i < n; i++) CHECK_MSG(((unsigned char *)p)[i] == 0, "calloc(%zu) byte %zu not 0", n, i);
  return p;
}

static const size_t edges[] = {4 * KiB, 32 * KiB, 64 * KiB, MiB, 2 * MiB, 4 * MiB};
static const long deltas[] = {-4096, -16, -1, 0, 1, 16, 4096};
#define NEDGE (sizeof edges / sizeof edges[0])
#define NDELTA (sizeof deltas / sizeof deltas[0])

static void test_boundaries(void) {
  for (size_t e = 0; e < NEDGE; e++) {
    void *blk[NDELTA * NAPI];
    size_t usable[NDELTA * NAPI];
    size_t nb = 0;
    for (size_t d = 0; d < NDELTA; d++) {
      size_t n = edges[e] + (size_t)deltas[d];
      for (int api = 0; api < NAPI; api++) {
        blk[nb] = alloc_api(api, n);
        usable[nb] = malloc_usable_size(blk[nb]);
        fill(blk[nb], usable[nb], nb + 1);
        nb++;
      }
    }
    for (size_t i = 0; i < nb; i++) {
      verify(blk[i], usable[i], i + 1, "boundary block");
      free(blk[i]);
    }
  }

  /* realloc up and down each edge: contents kept to the smaller size. */
  for (size_t e = 0; e < NEDGE; e++) {
    size_t cur = edges[e] + (size_t)deltas[0];
    unsigned char *p = malloc(cur);
    CHECK(p != NULL);
    fill(p, cur, 99);
    for (int dir = 0; dir < 2; dir++)
      for (size_t k = 0; k < NDELTA; k++) {
        size_t d = dir == 0 ? k : NDELTA - 1 - k;
        size_t n = edges[e] + (size_t)deltas[d];
        if (n == 0) continue; /* realloc(p, 0) frees: core_realloc tests that */
        unsigned char *q = realloc(p, n);
        CHECK_MSG(q != NULL, "realloc(%zu -> %zu) failed", cur, n);
        CHECK(malloc_usable_size(q) >= n);
        verify(q, cur < n ? cur : n, 99, "after realloc across an edge");
        fill(q, n, 99);
        p = q;
        cur = n;
      }
    free(p);
  }
}

int main(void) {
  test_require_hugeslab();
  test_malloc_impossible();
  test_reallocarray();
  test_realloc_impossible();
  test_boundaries();
  return 0;
}
