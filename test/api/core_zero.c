/* Zero-size requests.
 *
 * - malloc(0) is non-NULL, 16-aligned and freeable.
 * - live malloc(0) results are distinct, and no two live blocks overlap:
 *   1000 of them are kept live together with ordinary blocks.
 * - a live malloc(0) block is never handed out again: over 512 rounds of
 *   malloc/free of small sizes (0 .. 128 bytes, including malloc(64)), no
 *   new block may start inside a live zero-size block.
 * - aligned_alloc(8,0), posix_memalign(&p, sizeof(void*), 0),
 *   memalign(sizeof(void*), 0), valloc(0), pvalloc(0) succeed with a
 *   non-NULL pointer, correctly aligned, distinct while live; the same for
 *   every power-of-two alignment up to 4 MiB.  valloc(0)/pvalloc(0) are
 *   page-aligned.  hugeslab only: pvalloc(0) gives a whole page
 *   (usable >= page size: hugeslab treats pvalloc(0) as a request for
 *   one page); glibc 2.36 rounds 0 to a tiny block, so that one check is
 *   skipped when testing glibc.
 * (Trapping reads/writes of malloc(0) is optional hardening that hugeslab
 * does not do, so it is not tested.)
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A live block occupies at least one byte of address space for identity. */
struct span {
  uintptr_t lo, hi; /* [lo, hi) */
};

static size_t extent(void *p) {
  size_t u = malloc_usable_size(p);
  return u ? u : 1;
}

static int cmp_span(const void *a, const void *b) {
  const struct span *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Checks that no two of the n live blocks share an address. */
static void check_disjoint(void *const *p, size_t n) {
  struct span *s = calloc(n, sizeof *s);
  CHECK(s != NULL);
  for (size_t i = 0; i < n; i++) {
    s[i].lo = (uintptr_t)p[i];
    s[i].hi = (uintptr_t)p[i] + extent(p[i]);
  }
  qsort(s, n, sizeof *s, cmp_span);
  for (size_t i = 1; i < n; i++)
    CHECK_MSG(s[i - 1].hi <= s[i].lo, "live blocks overlap: [%#lx,%#lx) and [%#lx,%#lx)",
              (unsigned long)s[i - 1].lo, (unsigned long)s[i - 1].hi, (unsigned long)s[i].lo,
              (unsigned long)s[i].hi);
  free(s);
}

static void test_malloc_zero(void) {
  enum { N = 1000 };
  static void *p[2 * N];
  for (size_t i = 0; i < N; i++) {
    p[i] = malloc(0);
    CHECK_MSG(p[i] != NULL, "malloc(0) #%zu = NULL", i);
    CHECK_MSG((uintptr_t)p[i] % 16 == 0, "malloc(0) = %p not 16-aligned", p[i]);
    /* Interleave ordinary small blocks, filled over their usable size: a
     * zero-size block placed inside one of them shows up as an overlap. */
    p[N + i] = malloc(1 + i % 64);
    CHECK(p[N + i] != NULL);
    memset(p[N + i], 0xa5, malloc_usable_size(p[N + i]));
  }
  CHECK(p[0] != p[1]);
  check_disjoint(p, 2 * N);
  for (size_t i = 0; i < 2 * N; i++) free(p[i]);
  /* Free and allocate again: still non-NULL and freeable. */
  for (int i = 0; i < 100; i++) {
    void *q = malloc(0);
    CHECK(q != NULL);
    free(q);
  }
}

static void test_no_reuse(void) {
  enum { ZEROS = 8, ROUNDS = 512 };
  void *z[ZEROS];
  for (int i = 0; i < ZEROS; i++) {
    z[i] = malloc(0);
    CHECK(z[i] != NULL);
  }
  for (int r = 0; r < ROUNDS; r++) {
    void *q[130];
    for (size_t n = 0; n <= 128; n++) {
      q[n] = malloc(n);
      CHECK(q[n] != NULL);
      for (int i = 0; i < ZEROS; i++) {
        uintptr_t lo = (uintptr_t)z[i], hi = lo + extent(z[i]);
        CHECK_MSG((uintptr_t)q[n] < lo || (uintptr_t)q[n] >= hi,
                  "round %d: malloc(%zu) = %p lies in live malloc(0) block %p", r, n, q[n], z[i]);
      }
    }
    q[129] = malloc(64);
    CHECK(q[129] != NULL);
    for (int i = 0; i < ZEROS; i++) CHECK(q[129] != z[i]);
    /* Free in varying orders so the free lists are shuffled. */
    if (r & 1)
      for (size_t n = 0; n < 130; n++) free(q[n]);
    else
      for (size_t n = 130; n-- > 0;) free(q[n]);
    /* Replace one zero-size block now and then: the new one is checked too. */
    if (r % 64 == 63) {
      free(z[r / 64 % ZEROS]);
      z[r / 64 % ZEROS] = malloc(0);
      CHECK(z[r / 64 % ZEROS] != NULL);
    }
  }
  for (int i = 0; i < ZEROS; i++) free(z[i]);
}

static void test_aligned_zero(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  enum { MAXLIVE = 200 };
  void *live[MAXLIVE];
  size_t nl = 0;
  void *p;

  p = aligned_alloc(8, 0);
  CHECK_MSG(p != NULL, "aligned_alloc(8, 0) = NULL");
  CHECK((uintptr_t)p % 8 == 0);
  live[nl++] = p;

  p = NULL;
  CHECK_MSG(posix_memalign(&p, sizeof(void *), 0) == 0, "posix_memalign(%zu, 0) failed", sizeof(void *));
  CHECK(p != NULL);
  CHECK((uintptr_t)p % sizeof(void *) == 0);
  live[nl++] = p;

  p = memalign(sizeof(void *), 0);
  CHECK_MSG(p != NULL, "memalign(%zu, 0) = NULL", sizeof(void *));
  live[nl++] = p;

  p = valloc(0);
  CHECK_MSG(p != NULL, "valloc(0) = NULL");
  CHECK_MSG((uintptr_t)p % page == 0, "valloc(0) = %p not page-aligned", p);
  live[nl++] = p;

  p = pvalloc(0);
  CHECK_MSG(p != NULL, "pvalloc(0) = NULL");
  CHECK_MSG((uintptr_t)p % page == 0, "pvalloc(0) = %p not page-aligned", p);
  if (test_hugeslab_present()) /* hugeslab-specific, see the header */
    CHECK_MSG(malloc_usable_size(p) >= page, "pvalloc(0): usable %zu < page %zu", malloc_usable_size(p),
              page);
  memset(p, 0x11, malloc_usable_size(p));
  live[nl++] = p;

  /* Every power-of-two alignment with size 0, through each function. */
  for (size_t a = 1; a <= ((size_t)4 << 20); a <<= 1) {
    p = aligned_alloc(a, 0);
    CHECK_MSG(p != NULL && (uintptr_t)p % a == 0, "aligned_alloc(%zu, 0) = %p", a, p);
    live[nl++] = p;
    p = memalign(a, 0);
    CHECK_MSG(p != NULL && (uintptr_t)p % a == 0, "memalign(%zu, 0) = %p", a, p);
    live[nl++] = p;
    if (a >= sizeof(void *)) {
      p = NULL;
      CHECK_MSG(posix_memalign(&p, a, 0) == 0 && p != NULL && (uintptr_t)p % a == 0,
                "posix_memalign(%zu, 0) = %p", a, p);
      live[nl++] = p;
    }
    CHECK(nl + 3 <= MAXLIVE);
  }
  check_disjoint(live, nl);
  for (size_t i = 0; i < nl; i++) free(live[i]);
}

int main(void) {
  test_require_hugeslab();
  test_malloc_zero();
  test_no_reuse();
  test_aligned_zero();
  return 0;
}
