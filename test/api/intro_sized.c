/* free_sized(p, n) and free_aligned_sized(p, a, n) (C23).
 *
 * Proves, for the correct size:
 *  - NULL is accepted by both, with any size;
 *  - a block from malloc / calloc / realloc (n = the last requested size,
 *    including 0) is released by free_sized without a report, also after
 *    realloc grew it a little at a time (which may give it headroom: a
 *    bigger class or more pages than n needs), and a block
 *    from aligned_alloc(a, n) by free_aligned_sized(p, a, n), for small,
 *    large and huge sizes and alignments up to 2 MiB;
 *  - errno is not changed;
 *  - the memory is really released: millions of alloc + sized-free rounds
 *    whose blocks are touched keep the resident set flat (a sized free that
 *    only returned would leak gigabytes and trip the RSS bound).
 * Wrong sizes abort and belong to test/death.
 *
 * hugeslab-specific: include/hugeslab.h declares both functions, glibc
 * before 2.41 has neither.  They are referenced weakly so the -plain build
 * links; without a definition at run time the test skips under
 * HS_TEST_ANY_MALLOC=1 and fails otherwise. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hugeslab.h"
#include "testutil.h"

extern __typeof__(free_sized) free_sized __attribute__((weak));
extern __typeof__(free_aligned_sized) free_aligned_sized __attribute__((weak));

static size_t page_size;

static size_t rss_bytes(void) { return (size_t)test_rss_kib() * 1024; }

static void touch(void *p, size_t n) {
  volatile unsigned char *c = p;
  for (size_t i = 0; i < n; i += page_size) c[i] = (unsigned char)i;
  if (n) c[n - 1] = 1;
}

static void sized(void *p, size_t n) {
  errno = 4242;
  free_sized(p, n);
  CHECK_MSG(errno == 4242, "free_sized(%p, %zu) changed errno to %d", p, n, errno);
}

static void aligned_sized(void *p, size_t a, size_t n) {
  errno = 4243;
  free_aligned_sized(p, a, n);
  CHECK_MSG(errno == 4243, "free_aligned_sized(%p, %zu, %zu) changed errno to %d", p, a, n, errno);
}

/* Allocate n bytes `rounds` times, touching every page, free each with the
 * correct size; RSS may not grow by more than `bound` bytes. */
static void no_leak(size_t n, size_t a, unsigned rounds, size_t bound) {
  size_t base = rss_bytes();
  for (unsigned i = 0; i < rounds; i++) {
    void *p = a ? aligned_alloc(a, n) : malloc(n);
    CHECK_MSG(p != NULL, "round %u: allocation of %zu failed", i, n);
    touch(p, n);
    if (a) aligned_sized(p, a, n);
    else sized(p, n);
    if ((i & 1023) == 0 || n >= 65536) {
      size_t now = rss_bytes();
      CHECK_MSG(now <= base + bound,
                "size %zu align %zu: RSS grew %zu -> %zu after %u rounds: sized free leaks",
                n, a, base, now, i + 1);
    }
  }
}

int main(void) {
  test_require_hugeslab();
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  if (!free_sized || !free_aligned_sized) {
    const char *any = getenv("HS_TEST_ANY_MALLOC");
    if (any && strcmp(any, "1") == 0) {
      fprintf(stderr, "SKIP: this libc has no free_sized/free_aligned_sized\n");
      return 77;
    }
    fprintf(stderr, "FAIL: free_sized/free_aligned_sized not defined at run time\n");
    return 1;
  }

  /* Blocks grown by realloc in small steps, released at every step with
   * the size last asked for (a fresh block continues the walk). */
  for (size_t n = 1, step = 0; n <= 300000; n += n / 16 + 1, step++) {
    void *p = malloc(n / 2 + 1);
    CHECK(p != NULL);
    void *q = realloc(p, n - n / 32);
    CHECK(q != NULL);
    q = realloc(q, n);
    CHECK(q != NULL);
    touch(q, n);
    sized(q, n);
  }

  /* NULL with any size and alignment. */
  sized(NULL, 0);
  sized(NULL, 1);
  sized(NULL, 12345);
  aligned_sized(NULL, 16, 0);
  aligned_sized(NULL, 4096, 100);

  static const size_t sizes[] = {
    0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 48, 63, 64, 100, 127, 128, 255, 256, 511,
    512, 1000, 1024, 2047, 2048, 3000, 4095, 4096, 4097, 8191, 8192, 12345, 16384,
    32767, 32768, 32769, 65536, 100000, 262144, 524287, 1048575, 1048576, 1048577,
    (size_t)3 << 20, (size_t)8 << 20,
  };
  const size_t nsizes = sizeof sizes / sizeof sizes[0];

  for (size_t i = 0; i < nsizes; i++) {
    size_t n = sizes[i];
    void *p = malloc(n);
    CHECK(p != NULL);
    touch(p, n);
    sized(p, n);

    p = calloc(1, n);
    CHECK(p != NULL);
    sized(p, n);

    if (n >= 2) {  /* calloc's size is the product */
      p = calloc(2, n / 2);
      CHECK(p != NULL);
      sized(p, 2 * (n / 2));
    }

    /* realloc: the size to pass is the last one asked for. */
    p = malloc(n / 3 + 1);
    CHECK(p != NULL);
    void *q = realloc(p, n + 1);
    CHECK(q != NULL);
    q = realloc(q, n);
    if (n == 0) {
      CHECK(q == NULL);  /* glibc semantics: realloc(p, 0) freed it */
    } else {
      CHECK(q != NULL);
      sized(q, n);
    }

    for (size_t a = 16; a <= ((size_t)2 << 20); a <<= 1) {
      if (n > ((size_t)1 << 20) && a < 4096) continue;  /* keep it quick */
      p = aligned_alloc(a, n);
      CHECK_MSG(p != NULL, "aligned_alloc(%zu, %zu)", a, n);
      CHECK(((uintptr_t)p & (a - 1)) == 0);
      touch(p, n);
      aligned_sized(p, a, n);
    }
  }

  /* Interleaved: many live blocks, freed in a scrambled order with sizes. */
  enum { LIVE = 4096 };
  static void *blk[LIVE];
  static size_t len[LIVE];
  uint64_t rng = 0x5123d;
  for (unsigned i = 0; i < LIVE; i++) {
    len[i] = test_rand(&rng) % ((i & 63) ? 2048 : 200000);
    blk[i] = malloc(len[i]);
    CHECK(blk[i] != NULL);
    memset(blk[i], (int)i, len[i]);
  }
  for (unsigned i = 0; i < LIVE; i++) {
    unsigned j = (i * 2654435761u) % LIVE;  /* a permutation: LIVE is a power of two */
    sized(blk[j], len[j]);
  }

  /* Released for real: leaks would be 128 MiB, 256 MiB, 1 GiB and 512 MiB. */
  no_leak(64, 0, 2000000, 32 << 20);
  no_leak(256 << 10, 0, 1024, 64 << 20);
  no_leak(4096, 4096, 262144, 64 << 20);
  no_leak(8 << 20, 2 << 20, 64, 64 << 20);
  return 0;
}
