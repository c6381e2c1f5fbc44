/* The aligned family, with glibc's exact rules.
 *
 * - posix_memalign: every power-of-two multiple of sizeof(void*) works
 *   with any size; 0, 1, 2, 4, 3, 0x300, SIZE_MAX, 3*sizeof(void*) and
 *   2^k+1 give EINVAL without writing *memptr or touching errno; OOM gives
 *   ENOMEM without writing *memptr and sets errno = ENOMEM (glibc).
 * - aligned_alloc: any power of two >= 1 with any size (the size need not
 *   be a multiple, C17 DR 460); a == 0, non-powers of two (3, 24, 65,
 *   4097) give NULL/EINVAL; SIZE_MAX/2+1 gives NULL (EINVAL or ENOMEM).
 *   glibc < 2.38 treats aligned_alloc as memalign, so the EINVAL checks run
 *   only against hugeslab or glibc >= 2.38.
 * - memalign: alignments <= 16 (0 included) act like malloc; non-powers of
 *   two round up to the next power of two; a > SIZE_MAX/2+1 gives
 *   NULL/EINVAL; memalign(page, -page) gives NULL/ENOMEM (BZ 15857).
 * - valloc: page-aligned, usable >= n; valloc(-1), valloc(-page) give
 *   NULL/ENOMEM (BZ 15856).
 * - pvalloc: page-aligned, and the size rounded up to whole pages is
 *   usable and writable (pvalloc(100) gives at least a page);
 *   pvalloc(-page), pvalloc(-1), pvalloc(SIZE_MAX - page + 2) give
 *   NULL/ENOMEM (BZ 15855: the rounding must be overflow-checked).
 * - alignments of 2 MiB and above (2 .. 64 MiB) with sizes from 1 byte to
 *   2x the alignment, all kept live at once: aligned, writable over the
 *   usable size, no overlap; aligned_alloc(2, 1 MiB) works; calloc after
 *   those big aligned blocks were dirtied and freed is zero.
 * Every successful block is filled with its own pattern over its usable size
 * and verified before free.
 */
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MiB ((size_t)1 << 20)

static size_t page;
static int hugeslab;             /* libhugeslab is in the process */
static int strict_aligned_alloc; /* aligned_alloc rejects bad alignments */

static unsigned char pat(uintptr_t seed, size_t i) { return (unsigned char)(seed * 37u + i * 11u + (i >> 12)); }

/* Fills the usable size (each byte up to 64 KiB, then one byte per 512). */
static size_t step_for(size_t n) { return n <= 65536 ? 1 : 512; }

static void fill(unsigned char *p, size_t n, uintptr_t seed) {
  for (size_t i = 0; i < n; i += step_for(n)) p[i] = pat(seed, i);
  if (n) p[n - 1] = pat(seed, n - 1);
}

static void verify_free(unsigned char *p, size_t n, uintptr_t seed) {
  for (size_t i = 0; i < n; i += step_for(n))
    CHECK_MSG(p[i] == pat(seed, i), "block %p (usable %zu) corrupted at %zu", (void *)p, n, i);
  if (n) CHECK(p[n - 1] == pat(seed, n - 1));
  free(p);
}

/* Checks a successful result: non-NULL, aligned, usable >= min_usable;
 * fills it, verifies and frees it. */
static void check_block(void *p, size_t align, size_t min_usable, const char *what, size_t a, size_t n) {
  CHECK_MSG(p != NULL, "%s(%zu, %zu) = NULL (errno %d)", what, a, n, errno);
  CHECK_MSG((uintptr_t)p % align == 0, "%s(%zu, %zu) = %p, not aligned to %zu", what, a, n, p, align);
  size_t u = malloc_usable_size(p);
  CHECK_MSG(u >= min_usable, "%s(%zu, %zu): usable %zu < %zu", what, a, n, u, min_usable);
  fill(p, u, a + n);
  verify_free(p, u, a + n);
}

static const size_t test_sizes[] = {0, 1, 7, 16, 17, 100, 1000, 4095, 4096, 4097, 40000, 300000, 1100000};
#define NSIZES (sizeof test_sizes / sizeof test_sizes[0])

static void test_posix_memalign(void) {
  for (size_t a = sizeof(void *); a <= ((size_t)4 << 20); a <<= 1)
    for (size_t i = 0; i < NSIZES; i++) {
      void *p = NULL;
      errno = 4242;
      int rc = posix_memalign(&p, a, test_sizes[i]);
      CHECK_MSG(rc == 0, "posix_memalign(%zu, %zu) = %d", a, test_sizes[i], rc);
      CHECK_MSG(errno == 4242, "posix_memalign(%zu, %zu) succeeded but changed errno", a, test_sizes[i]);
      check_block(p, a, test_sizes[i], "posix_memalign", a, test_sizes[i]);
    }

  size_t bad[] = {0, 1, 2, 4, 3, 0x300, SIZE_MAX, 3 * sizeof(void *), 24, 48, 4095, SIZE_MAX / 2 + 2};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0] + 20; i++) {
    size_t a = i < sizeof bad / sizeof bad[0] ? bad[i] : ((size_t)8 << (i - sizeof bad / sizeof bad[0])) + 1;
    void *p = &p;
    errno = 4242;
    int rc = posix_memalign(&p, a, 64);
    CHECK_MSG(rc == EINVAL, "posix_memalign(%#zx, 64) = %d, want EINVAL", a, rc);
    CHECK_MSG(p == &p, "posix_memalign(%#zx, 64) wrote *memptr on failure", a);
    CHECK_MSG(errno == 4242, "posix_memalign(%#zx, 64) set errno to %d", a, errno);
  }

  static const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)0 - 4096, (size_t)0 - 2 * MiB};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
    for (size_t a = 8; a <= 2 * MiB; a <<= 3) {
      void *p = &p;
      errno = 4242;
      int rc = posix_memalign(&p, a, test_opaque_size(huge[i]));
      int e = errno;
      CHECK_MSG(rc == ENOMEM, "posix_memalign(%zu, %#zx) = %d, want ENOMEM", a, huge[i], rc);
      CHECK_MSG(p == &p, "posix_memalign(%zu, %#zx) wrote *memptr on failure", a, huge[i]);
      CHECK_MSG(e == ENOMEM, "posix_memalign(%zu, %#zx) left errno %d, want ENOMEM", a, huge[i], e);
    }
}

static void expect_null(void *p, int want_errno, const char *what, size_t a, size_t n) {
  int e = errno;
  CHECK_MSG(p == NULL, "%s(%#zx, %#zx) = %p, want NULL", what, a, n, p);
  CHECK_MSG(e == want_errno, "%s(%#zx, %#zx): errno %d, want %d", what, a, n, e, want_errno);
}

static void test_aligned_alloc(void) {
  for (size_t a = 1; a <= ((size_t)4 << 20); a <<= 1)
    for (size_t i = 0; i < NSIZES; i++)
      check_block(aligned_alloc(a, test_sizes[i]), a, test_sizes[i], "aligned_alloc", a, test_sizes[i]);
  /* Sizes that are not multiples of the alignment (DR 460). */
  check_block(aligned_alloc(4096, 100), 4096, 100, "aligned_alloc", 4096, 100);
  check_block(aligned_alloc(64, 65), 64, 65, "aligned_alloc", 64, 65);
  check_block(aligned_alloc(2 * MiB, 3), 2 * MiB, 3, "aligned_alloc", 2 * MiB, 3);

  if (!strict_aligned_alloc) {
    fprintf(stderr, "note: glibc %s aligned_alloc is memalign; EINVAL checks skipped\n", gnu_get_libc_version());
    return;
  }
  static const size_t bad[] = {0, 3, 5, 24, 48, 65, 100, 4097, 3 * 4096, SIZE_MAX, SIZE_MAX - 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    expect_null(aligned_alloc(bad[i], 64), EINVAL, "aligned_alloc", bad[i], 64);
    errno = 0;
    expect_null(aligned_alloc(bad[i], 0), EINVAL, "aligned_alloc", bad[i], 0);
  }
  errno = 0;
  void *p = aligned_alloc(SIZE_MAX / 2 + 1, 1);
  int e = errno;
  CHECK_MSG(p == NULL && (e == EINVAL || e == ENOMEM), "aligned_alloc(2^63, 1) = %p errno %d", p, e);
}

static size_t next_pow2(size_t a) {
  size_t r = 1;
  while (r < a) r <<= 1;
  return r;
}

static void test_memalign(void) {
  /* Alignments <= 16, zero included, are plain malloc. */
  for (size_t a = 0; a <= 16; a++)
    for (size_t i = 0; i < NSIZES; i++)
      check_block(memalign(a, test_sizes[i]), 16, test_sizes[i], "memalign", a, test_sizes[i]);
  /* Powers of two, and non-powers rounded up. */
  static const size_t odd[] = {17, 24, 33, 48, 65, 100, 1000, 3 * 1024, 4097, 3 * 4096, 3 * MiB};
  for (size_t a = 32; a <= ((size_t)4 << 20); a <<= 1)
    for (size_t i = 0; i < NSIZES; i++)
      check_block(memalign(a, test_sizes[i]), a, test_sizes[i], "memalign", a, test_sizes[i]);
  for (size_t j = 0; j < sizeof odd / sizeof odd[0]; j++)
    for (size_t i = 0; i < NSIZES; i++)
      check_block(memalign(odd[j], test_sizes[i]), next_pow2(odd[j]), test_sizes[i], "memalign", odd[j],
                  test_sizes[i]);

  static const size_t too_big_align[] = {SIZE_MAX, SIZE_MAX / 2 + 2, SIZE_MAX - 4095};
  for (size_t i = 0; i < sizeof too_big_align / sizeof too_big_align[0]; i++) {
    errno = 0;
    expect_null(memalign(too_big_align[i], 1), EINVAL, "memalign", too_big_align[i], 1);
  }
  errno = 0;
  expect_null(memalign(page, test_opaque_size(0 - page)), ENOMEM, "memalign", page, 0 - page);
  errno = 0;
  expect_null(memalign(16, test_opaque_size(SIZE_MAX)), ENOMEM, "memalign", 16, SIZE_MAX);
  errno = 0;
  expect_null(memalign(2 * MiB, test_opaque_size(0 - 2 * MiB)), ENOMEM, "memalign", 2 * MiB, 0 - 2 * MiB);
}

static void test_valloc(void) {
  for (size_t i = 0; i < NSIZES; i++)
    check_block(valloc(test_sizes[i]), page, test_sizes[i], "valloc", 0, test_sizes[i]);
  static const size_t bad[] = {SIZE_MAX, 0, (size_t)PTRDIFF_MAX + 1, 0};
  size_t b[4];
  memcpy(b, bad, sizeof b);
  b[1] = 0 - page;
  b[3] = 0 - page - 1;
  for (size_t i = 0; i < 4; i++) {
    errno = 0;
    expect_null(valloc(test_opaque_size(b[i])), ENOMEM, "valloc", 0, b[i]);
  }
}

static void test_pvalloc(void) {
  for (size_t i = 0; i < NSIZES; i++) {
    size_t n = test_sizes[i];
    size_t rounded = (n + page - 1) & ~(page - 1);
    check_block(pvalloc(n), page, rounded, "pvalloc", 0, n);
  }
  void *p = pvalloc(100);
  CHECK(p != NULL);
  CHECK_MSG(malloc_usable_size(p) >= page, "pvalloc(100): usable %zu < page", malloc_usable_size(p));
  memset(p, 0x77, page); /* the whole page is the caller's */
  free(p);

  size_t b[] = {0 - page, SIZE_MAX, SIZE_MAX - page + 2, 0 - page + 1, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
    errno = 0;
    expect_null(pvalloc(test_opaque_size(b[i])), ENOMEM, "pvalloc", 0, b[i]);
  }
}

static void test_huge_alignments(void) {
  enum { MAXLIVE = 128 };
  unsigned char *live[MAXLIVE];
  size_t usable[MAXLIVE];
  size_t nl = 0;
  for (size_t a = 2 * MiB; a <= 64 * MiB; a <<= 1) {
    const size_t sizes[] = {1, 4096, MiB, a - 4096, a, a + 1, 2 * a};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      void *p = NULL;
      switch ((nl + i) % 3) {
      case 0: p = aligned_alloc(a, n); break;
      case 1: p = memalign(a, n); break;
      case 2: CHECK(posix_memalign(&p, a, n) == 0); break;
      }
      CHECK_MSG(p != NULL, "alignment %zu size %zu: NULL", a, n);
      CHECK_MSG((uintptr_t)p % a == 0, "alignment %zu size %zu: %p misaligned", a, n, p);
      CHECK(nl < MAXLIVE);
      usable[nl] = malloc_usable_size(p);
      CHECK_MSG(usable[nl] >= n, "alignment %zu size %zu: usable %zu", a, n, usable[nl]);
      live[nl] = p;
      fill(live[nl], usable[nl], nl);
      nl++;
    }
  }
  /* All live together: no block overwrote another. */
  for (size_t i = 0; i < nl; i++) verify_free(live[i], usable[i], i);

  /* mimalloc's zalloc_aligned(1 MiB, 2) analogue: tiny alignment, big size. */
  check_block(aligned_alloc(2, MiB), 2, MiB, "aligned_alloc", 2, MiB);

  /* Big aligned blocks dirtied and freed; calloc then reuses that memory. */
  for (int round = 0; round < 3; round++) {
    void *p[4];
    CHECK(posix_memalign(&p[0], 2 * MiB, 2 * MiB) == 0);
    CHECK(posix_memalign(&p[1], 4 * MiB, 3 * MiB) == 0);
    p[2] = aligned_alloc(2 * MiB, MiB);
    p[3] = memalign(8 * MiB, 4 * MiB);
    for (int i = 0; i < 4; i++) {
      CHECK(p[i] != NULL);
      memset(p[i], 0xff, malloc_usable_size(p[i]));
      free(p[i]);
    }
    static const size_t zs[] = {2 * MiB, 3 * MiB, MiB, 4 * MiB};
    for (int i = 0; i < 4; i++) {
      unsigned char *z = calloc(1, zs[i]);
      CHECK(z != NULL);
      for (size_t j = 0; j < zs[i]; j += 8)
        CHECK_MSG(*(uint64_t *)(z + j) == 0, "calloc(%zu) after aligned reuse: byte %zu not 0", zs[i], j);
      free(z);
    }
  }
}

int main(void) {
  test_require_hugeslab();
  page = (size_t)sysconf(_SC_PAGESIZE);
  hugeslab = test_hugeslab_present();
  unsigned maj = 0, min = 0;
  if (sscanf(gnu_get_libc_version(), "%u.%u", &maj, &min) != 2) maj = min = 0;
  strict_aligned_alloc = hugeslab || maj > 2 || (maj == 2 && min >= 38);

  test_posix_memalign();
  test_aligned_alloc();
  test_memalign();
  test_valloc();
  test_pvalloc();
  test_huge_alignments();
  return 0;
}
