/* Impossibly large requests through every API (after glibc's
 * tst-malloc-too-large).
 *
 * Sizes: every size in (SIZE_MAX - 2^14, SIZE_MAX], every size in
 * [PTRDIFF_MAX + 1, PTRDIFF_MAX + 2^14], and (64-bit) every msbs << 50 and
 * (msbs << 50) | (2^50 - 1) for the 14-bit values of msbs.  The address
 * space is capped at 2^50 bytes (RLIMIT_AS), so the sizes below PTRDIFF_MAX
 * cannot be satisfied either.
 *
 * - Each size goes through malloc, realloc, calloc(n, s/n), calloc(s/n, n)
 *   and reallocarray in both orders, for n = 1, 2, 4, 8.  Every call must
 *   give NULL with errno ENOMEM.  Right before each size a 16-byte block is
 *   malloc'd and freed, so a size computation that wraps (size + header,
 *   rounding to a class or a page, adding a guard page) and turns into a
 *   small request gets that recycled block back: caught.  The block being
 *   realloc'd carries a pattern that must survive the failed realloc, and
 *   it must stay freeable.
 * - The same sizes through memalign, aligned_alloc and posix_memalign for
 *   every power-of-two alignment from 1 until it wraps to 0, plus valloc
 *   and pvalloc: NULL and ENOMEM; posix_memalign returns ENOMEM (or EINVAL
 *   for alignments it rejects) and never writes *memptr; errno is
 *   ENOMEM after an ENOMEM and untouched after EINVAL (glibc).  For the sizes below PTRDIFF_MAX (which reach the kernel) every
 *   fourth alignment is tried, to keep the run short.
 */
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

#define FOURTEEN_BITS (((size_t)1 << 14) - 1)

static size_t pagesize;
static unsigned long long ncalls;
static int hugeslab; /* libhugeslab is in the process (not a glibc run) */

/* The small malloc/free before each probe (see the header comment). */
static void setup(void) {
  void *volatile p = malloc(16);
  CHECK(p != NULL);
  free(p);
}

#define EXPECT_NULL(call, size)                                                             \
  do {                                                                                      \
    errno = 0;                                                                              \
    void *r_ = (call);                                                                      \
    int e_ = errno;                                                                         \
    ncalls++;                                                                               \
    CHECK_MSG(r_ == NULL, "%s with size %#zx returned %p", #call, (size_t)(size), r_);     \
    CHECK_MSG(e_ == ENOMEM, "%s with size %#zx: errno %d, want ENOMEM", #call, (size_t)(size), \
              e_);                                                                          \
  } while (0)

/* A 16-byte block with a pattern that must survive failed reallocs. */
static unsigned char *victim(void) {
  unsigned char *p = malloc(16);
  CHECK(p != NULL);
  for (int i = 0; i < 16; i++) p[i] = (unsigned char)(0xc0 + i);
  return p;
}

static void release_victim(unsigned char *p, size_t size, const char *what) {
  for (int i = 0; i < 16; i++)
    CHECK_MSG(p[i] == (unsigned char)(0xc0 + i), "after failed %s of size %#zx: byte %d changed", what,
              size, i);
  free(p);
}

static void large_allocations(size_t size) {
  setup();
  EXPECT_NULL(malloc(size), size);

  setup();
  unsigned char *v = victim();
  EXPECT_NULL(realloc(v, size), size);
  release_victim(v, size, "realloc");

  for (size_t n = 1; n <= 8; n *= 2) {
    size_t part = size / n;
    if (part == 0) continue;
    setup();
    EXPECT_NULL(calloc(n, part), size);
    setup();
    EXPECT_NULL(calloc(part, n), size);
    setup();
    v = victim();
    EXPECT_NULL(reallocarray(v, part, n), size);
    EXPECT_NULL(reallocarray(v, n, part), size);
    release_victim(v, size, "reallocarray");
  }
}

static void large_aligned_allocations(size_t size, int stride) {
  int k = 0;
  for (size_t align = 1; align != 0; align <<= 1, k++) {
    if (k % stride) continue;
    setup();
    EXPECT_NULL(memalign(align, size), size);
    setup();
    EXPECT_NULL(aligned_alloc(align, size), size);

    setup();
    void *out = NULL;
    errno = 4242;
    int rc = posix_memalign(&out, align, size);
    int e = errno;
    ncalls++;
    /* As glibc: errno untouched on EINVAL, ENOMEM on exhaustion. */
    if (rc == EINVAL)
      CHECK_MSG(e == 4242, "posix_memalign(%zu, %#zx) = %d changed errno to %d", align, size, rc, e);
    else
      CHECK_MSG(e == ENOMEM, "posix_memalign(%zu, %#zx) = %d left errno %d, want ENOMEM", align, size, rc, e);
    CHECK_MSG(out == NULL, "posix_memalign(%zu, %#zx) wrote *memptr = %p (rc %d)", align, size, out, rc);
    if (align % sizeof(void *) == 0)
      CHECK_MSG(rc == ENOMEM, "posix_memalign(%zu, %#zx) = %d, want ENOMEM", align, size, rc);
    else
      CHECK_MSG(rc == EINVAL, "posix_memalign(%zu, %#zx) = %d, want EINVAL", align, size, rc);
  }
  setup();
  EXPECT_NULL(valloc(size), size);
  setup();
  EXPECT_NULL(pvalloc(size), size);
}

int main(void) {
  test_require_hugeslab();
  pagesize = (size_t)sysconf(_SC_PAGESIZE);
  hugeslab = test_hugeslab_present();

  for (size_t i = 0; i <= FOURTEEN_BITS; i++) {
    large_allocations(SIZE_MAX - i);
    large_aligned_allocations(SIZE_MAX - i, 1);
  }
  for (size_t i = 0; i <= FOURTEEN_BITS; i++) {
    large_allocations((size_t)PTRDIFF_MAX + 1 + i);
    large_aligned_allocations((size_t)PTRDIFF_MAX + 1 + i, 1);
  }

#if SIZE_MAX > 0xffffffffu
  /* Cap the address space at 2^50 so the sizes below PTRDIFF_MAX fail too
   * (the kernel's own limit is lower on most machines; the cap makes that
   * independent of the hardware). */
  struct rlimit lim;
  CHECK(getrlimit(RLIMIT_AS, &lim) == 0);
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > ((rlim_t)1 << 50)) {
    lim.rlim_cur = (rlim_t)1 << 50;
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
  }
  for (size_t msbs = 0; msbs <= FOURTEEN_BITS; msbs++) {
    size_t hi = msbs << 50;
    size_t lo = hi | (((size_t)1 << 50) - 1);
    int stride = hi >= (size_t)PTRDIFF_MAX ? 1 : 4;
    if (msbs != 0) {
      large_allocations(hi);
      large_aligned_allocations(hi, stride);
    }
    large_allocations(lo);
    large_aligned_allocations(lo, stride);
  }
#endif

  /* Nothing above corrupted the allocator. */
  for (size_t n = 1; n <= ((size_t)4 << 20); n *= 2) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    memset(p, 0x5a, n);
    free(p);
  }
  fprintf(stderr, "%llu calls checked\n", ncalls);
  return 0;
}
