/* malloc_usable_size.
 *
 * - malloc_usable_size(p) >= the requested size, for every C allocation
 *   entry point (malloc, calloc, realloc, memalign, aligned_alloc,
 *   posix_memalign, valloc, pvalloc) and for many sizes: every size up to
 *   4 KiB, every power of two +-1 up to 8 MiB, random sizes, and
 *   alignments 8 KiB .. 4 MiB with sizes 0, 1 and around the alignment
 *   through memalign/aligned_alloc/posix_memalign.  (The C++
 *   operator new family is checked the same way in intro_cxx.cc.)
 * - malloc_usable_size(NULL) == 0.
 * - all usable bytes really belong to the caller: a window of blocks is
 *   kept live, each filled over its whole usable size with its own pattern;
 *   a block is only verified and freed once later blocks were filled.  An
 *   allocator that reports more than the slot really holds lets one block
 *   overwrite its neighbour (caught at verification); one with a canary or
 *   red zone inside the usable size aborts at free.  Sizes up to 4 MiB.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum api { API_MALLOC, API_CALLOC, API_REALLOC_NULL, API_REALLOC_GROW,
           API_REALLOC_SHRINK, API_MEMALIGN, API_ALIGNED_ALLOC,
           API_POSIX_MEMALIGN, API_VALLOC, API_PVALLOC, API_COUNT };

static const char *const api_name[API_COUNT] = {
  "malloc", "calloc", "realloc(NULL)", "realloc(grow)", "realloc(shrink)",
  "memalign", "aligned_alloc", "posix_memalign", "valloc", "pvalloc",
};

static size_t page_size;

/* The least usable size the API promises for a request of n bytes (pvalloc
 * rounds up to a page and that rounded size is what the caller may use). */
static size_t promised(enum api a, size_t n) {
  if (a == API_PVALLOC) {
    /* pvalloc(0) rounds to 0 pages in glibc: only the page-rounded size of
     * a non-zero request is promised. */
    return (n + page_size - 1) & ~(page_size - 1);
  }
  return n;
}

/* Allocates n bytes through API a; *align receives the alignment the result
 * must have. */
static void *alloc_with(enum api a, size_t n, uint64_t *rng, size_t *align) {
  void *p = NULL;
  size_t al = 16;
  switch (a) {
  case API_MALLOC: p = malloc(n); break;
  case API_CALLOC: p = calloc(1, n); break;
  case API_REALLOC_NULL: p = realloc(NULL, n); break;
  case API_REALLOC_GROW: {
    void *q = malloc(n / 2 + 1);
    CHECK(q != NULL);
    memset(q, 0x5a, n / 2 + 1);
    p = realloc(q, n ? n : 1);
    if (p) {  /* contents survive the move */
      size_t keep = n ? (n / 2 + 1 < n ? n / 2 + 1 : n) : 1;
      for (size_t i = 0; i < keep; i++)
        CHECK_MSG(((unsigned char *)p)[i] == 0x5a, "realloc grow lost byte %zu of %zu", i, n);
    }
    break;
  }
  case API_REALLOC_SHRINK: {
    void *q = malloc(2 * n + 64);
    CHECK(q != NULL);
    p = realloc(q, n ? n : 1);
    break;
  }
  case API_MEMALIGN:
    al = (size_t)16 << (test_rand(rng) % 9);  /* 16 .. 4096 */
    p = memalign(al, n);
    break;
  case API_ALIGNED_ALLOC:
    al = (size_t)8 << (test_rand(rng) % 10);  /* 8 .. 4096 */
    p = aligned_alloc(al, n);
    break;
  case API_POSIX_MEMALIGN: {
    al = sizeof(void *) << (test_rand(rng) % 10);
    int rc = posix_memalign(&p, al, n);
    CHECK_MSG(rc == 0, "posix_memalign(%zu, %zu) = %d", al, n, rc);
    break;
  }
  case API_VALLOC: al = page_size; p = valloc(n); break;
  case API_PVALLOC: al = page_size; p = pvalloc(n); break;
  case API_COUNT: break;
  }
  if (al < 16) al = 16;
  *align = al;
  return p;
}

/* One (api, size): usable >= promised, alignment honoured. */
static void check_one(enum api a, size_t n, uint64_t *rng) {
  size_t al;
  void *p = alloc_with(a, n, rng, &al);
  CHECK_MSG(p != NULL, "%s(%zu) returned NULL", api_name[a], n);
  size_t u = malloc_usable_size(p);
  CHECK_MSG(u >= promised(a, n), "%s(%zu): usable %zu < %zu", api_name[a], n, u, promised(a, n));
  CHECK_MSG(((uintptr_t)p & (al - 1)) == 0, "%s(%zu): %p not %zu-aligned", api_name[a], n, p, al);
  if (a == API_CALLOC) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
      CHECK_MSG(c[i] == 0, "calloc(1, %zu) byte %zu not zero", n, i);
  }
  /* Touch the first and last usable byte: both must be writable. */
  if (u) {
    ((volatile unsigned char *)p)[0] = 1;
    ((volatile unsigned char *)p)[u - 1] = 1;
  }
  free(p);
}

/* ---- fill every usable byte, keep neighbours live, verify later ---- */

struct live { unsigned char *p; size_t usable; unsigned char tag; };
#define WINDOW 16

static void fill(struct live *l) {
  for (size_t i = 0; i < l->usable; i++)
    l->p[i] = (unsigned char)(l->tag + i * 7);
}

static void verify_and_free(struct live *l) {
  if (!l->p) return;
  CHECK_MSG(malloc_usable_size(l->p) == l->usable,
            "usable size of %p changed from %zu to %zu while live", (void *)l->p, l->usable,
            malloc_usable_size(l->p));
  for (size_t i = 0; i < l->usable; i++)
    CHECK_MSG(l->p[i] == (unsigned char)(l->tag + i * 7),
              "block %p (usable %zu): byte %zu overwritten (a neighbour's usable bytes overlap it)",
              (void *)l->p, l->usable, i);
  free(l->p);
  l->p = NULL;
}

static void fill_window(size_t max, unsigned rounds, uint64_t *rng) {
  struct live w[WINDOW] = {{0}};
  unsigned char tag = 1;
  for (unsigned r = 0; r < rounds; r++) {
    struct live *l = &w[r % WINDOW];
    verify_and_free(l);
    size_t n = test_rand(rng) % (max + 1);
    enum api a = (enum api)(test_rand(rng) % API_COUNT);
    size_t al;
    l->p = alloc_with(a, n, rng, &al);
    CHECK_MSG(l->p != NULL, "%s(%zu) returned NULL", api_name[a], n);
    l->usable = malloc_usable_size(l->p);
    CHECK(l->usable >= promised(a, n));
    l->tag = tag++;
    fill(l);
  }
  for (unsigned i = 0; i < WINDOW; i++) verify_and_free(&w[i]);
}

int main(void) {
  test_require_hugeslab();
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  uint64_t rng = 0x1e57ab1eu;

  /* malloc_usable_size(NULL) */
  CHECK(malloc_usable_size(NULL) == 0);

  /* usable >= request: every size up to 4 KiB through every API
   * (pvalloc/valloc with a stride, they each cost a page). */
  for (int a = 0; a < API_COUNT; a++) {
    size_t step = (a == API_VALLOC || a == API_PVALLOC) ? 61 : 1;
    for (size_t n = 0; n <= 4096; n += step) check_one((enum api)a, n, &rng);
  }
  /* Powers of two and their neighbours up to 8 MiB: every class edge and the
   * small/large/huge boundaries (32 KiB, 1 MiB). */
  for (size_t s = 8; s <= ((size_t)8 << 20); s <<= 1)
    for (size_t n = s - 1; n <= s + 1; n++)
      for (int a = 0; a < API_COUNT; a++) check_one((enum api)a, n, &rng);
  /* Large alignments (page runs, 2 MiB chunks, huge mappings) with sizes
   * around the alignment and 0, through every aligned API. */
  for (size_t al = 8192; al <= ((size_t)4 << 20); al <<= 1) {
    const size_t ns[] = {0, 1, 100, al - 1, al, al + 1, 3 * al};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
      size_t n = ns[i];
      for (int k = 0; k < 3; k++) {
        void *p = NULL;
        const char *what = k == 0 ? "memalign" : k == 1 ? "aligned_alloc" : "posix_memalign";
        if (k == 0) p = memalign(al, n);
        else if (k == 1) p = aligned_alloc(al, n);
        else CHECK(posix_memalign(&p, al, n) == 0);
        CHECK_MSG(p != NULL, "%s(%zu, %zu) returned NULL", what, al, n);
        CHECK_MSG(((uintptr_t)p & (al - 1)) == 0, "%s(%zu, %zu) = %p misaligned", what, al, n, p);
        size_t u = malloc_usable_size(p);
        CHECK_MSG(u >= n, "%s(%zu, %zu): usable %zu", what, al, n, u);
        if (u) memset(p, 0x77, u < ((size_t)1 << 20) ? u : ((size_t)1 << 20));
        free(p);
      }
    }
  }
  /* Random sizes with a log-uniform spread up to 4 MiB. */
  for (int i = 0; i < 3000; i++) {
    size_t n = test_rand(&rng) & ((((size_t)1) << (test_rand(&rng) % 23)) - 1);
    check_one((enum api)(test_rand(&rng) % API_COUNT), n, &rng);
  }
  /* Growing with realloc up to the usable size keeps the pointer (the core
   * promises this; it shows usable bytes are really the block's). */
  for (size_t n = 1; n < ((size_t)2 << 20); n = n * 3 + 1) {
    void *p = malloc(n);
    CHECK(p != NULL);
    size_t u = malloc_usable_size(p);
    void *q = realloc(p, u);
    CHECK_MSG(q == p, "realloc(%p, usable %zu) of malloc(%zu) moved to %p", p, u, n, q);
    free(q);
  }

  /* every usable byte belongs to the caller */
  fill_window(4096, 4000, &rng);
  fill_window(64 << 10, 600, &rng);
  fill_window(4 << 20, 60, &rng);
  return 0;
}
