/* realloc.
 *
 * - realloc(NULL, n) acts as malloc(n): non-NULL, 16-aligned, usable >= n,
 *   writable; realloc(NULL, -1) and realloc(NULL, SIZE_MAX) give
 *   NULL/ENOMEM.
 * - realloc(NULL, 0) gives a live, distinct, freeable block (glibc).
 * - realloc(p, 0) with p != NULL frees p and returns NULL (glibc's
 *   REALLOC_ZERO_BYTES_FREES).  That p really is freed is shown by doing it
 *   many times: the address space (VmSize) must not grow by what a leak
 *   would take (200000 small blocks, 64 blocks of 16 MiB).
 * - contents survive: calloc(20) grown to 200 keeps 20 zero bytes;
 *   malloc(100) of 0xff shrunk to 16 keeps 16 0xff bytes; a block grown step
 *   by step from 16 bytes to 8 MiB and shrunk back to 1 byte keeps its
 *   pattern at every step.
 * - a failed realloc (a size no mapping can have, so the failure happens
 *   in the allocator's mapping path, not only in an up-front size check)
 *   returns NULL/ENOMEM and leaves the block's contents and liveness intact,
 *   for small, large and huge blocks.
 * - realloc(p, malloc_usable_size(p)) returns p, for every size 3 .. 256
 *   KiB in steps of 2 KiB (as glibc's tst-realloc) and for sizes into the
 *   huge range.
 * - a small change within the block's size class returns the same block:
 *   shrinking by 1 .. 15 bytes below the usable size (classes are 16-byte
 *   multiples, so the class cannot change), and for blocks of 64 KiB and
 *   more (page-granular) by up to 4095 bytes.
 * - realloc across size classes, small -> large -> huge -> small and back,
 *   keeps the contents; also on a thread other than the one that allocated
 *   the block (and with the result freed by yet another thread), and
 *   realloc(NULL) on the main thread followed by realloc on a new thread.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static unsigned char pat(uint64_t seed, size_t i) { return (unsigned char)(seed * 29u + i * 7u + (i >> 8)); }

/* Every byte up to 64 KiB; beyond that one byte in 64, which still touches
 * every page, then the last byte. */
static size_t stride(size_t n) { return n <= 65536 ? 1 : 64; }

static void fill(unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i += stride(n)) p[i] = pat(seed, i);
  if (n) p[n - 1] = pat(seed, n - 1);
}

/* Verifies the first n bytes of a block filled (over `filled` bytes) with seed. */
static void verify(const unsigned char *p, size_t n, size_t filled, uint64_t seed, const char *what) {
  size_t s = stride(filled);
  for (size_t i = 0; i < n; i += s)
    CHECK_MSG(p[i] == pat(seed, i), "%s: %p byte %zu of %zu wrong", what, (const void *)p, i, n);
  if (n == filled && n) CHECK_MSG(p[n - 1] == pat(seed, n - 1), "%s: last byte wrong", what);
}

static void test_realloc_null(void) {
  static const size_t sizes[] = {1, 15, 16, 17, 100, 4096, 32768, 32769, 200000, MiB + 1, 5 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = realloc(NULL, sizes[i]);
    CHECK_MSG(p != NULL, "realloc(NULL, %zu) = NULL", sizes[i]);
    CHECK_MSG((uintptr_t)p % 16 == 0, "realloc(NULL, %zu) = %p misaligned", sizes[i], (void *)p);
    size_t u = malloc_usable_size(p);
    CHECK(u >= sizes[i]);
    fill(p, u, i);
    verify(p, u, u, i, "realloc(NULL) block");
    free(p);
  }
  static const size_t bad[] = {SIZE_MAX, (size_t)-1 - 4096, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    void *p = realloc(NULL, test_opaque_size(bad[i]));
    int e = errno;
    CHECK_MSG(p == NULL && e == ENOMEM, "realloc(NULL, %#zx) = %p errno %d", bad[i], p, e);
  }
  /* realloc(NULL, 0) */
  void *a = realloc(NULL, 0), *b = realloc(NULL, 0);
  CHECK_MSG(a != NULL && b != NULL, "realloc(NULL, 0) = NULL");
  CHECK(a != b);
  free(a);
  free(b);
}

static void test_realloc_zero_frees(void) {
  static const size_t sizes[] = {1, 64, 1000, 32768, 100000, MiB, 3 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = malloc(sizes[i]);
    CHECK(p != NULL);
    fill(p, sizes[i], i);
    void *r = realloc(p, 0);
    CHECK_MSG(r == NULL, "realloc(p of %zu, 0) = %p, want NULL (p freed)", sizes[i], r);
  }

  /* Small blocks: 200000 x 1000 bytes would be ~200 MiB if not freed. */
  for (int i = 0; i < 1000; i++) CHECK(realloc(malloc(1000), 0) == NULL);
  long before = test_vm_size_kib();
  for (int i = 0; i < 200000; i++) {
    unsigned char *p = malloc(1000);
    CHECK(p != NULL);
    p[0] = p[999] = 1;
    CHECK(realloc(p, 0) == NULL);
  }
  long grown = test_vm_size_kib() - before;
  CHECK_MSG(grown < 64 * 1024, "VmSize grew by %ld KiB over 200000 realloc(p, 0): not freed?", grown);

  /* Huge blocks: 64 x 16 MiB = 1 GiB if not freed. */
  for (int i = 0; i < 2; i++) CHECK(realloc(malloc(16 * MiB), 0) == NULL);
  before = test_vm_size_kib();
  for (int i = 0; i < 64; i++) {
    unsigned char *p = malloc(16 * MiB);
    CHECK(p != NULL);
    p[0] = p[16 * MiB - 1] = 1;
    CHECK(realloc(p, 0) == NULL);
  }
  grown = test_vm_size_kib() - before;
  CHECK_MSG(grown < 256 * 1024, "VmSize grew by %ld KiB over 64 realloc(16 MiB block, 0): not freed?", grown);
}

static void test_contents(void) {
  unsigned char *p = calloc(20, 1);
  CHECK(p != NULL);
  unsigned char *q = realloc(p, 200);
  CHECK(q != NULL);
  for (int i = 0; i < 20; i++) CHECK_MSG(q[i] == 0, "calloc(20) grown to 200: byte %d = %#x", i, q[i]);
  free(q);

  p = malloc(100);
  CHECK(p != NULL);
  memset(p, 0xff, 100);
  q = realloc(p, 16);
  CHECK(q != NULL);
  for (int i = 0; i < 16; i++) CHECK_MSG(q[i] == 0xff, "malloc(100) shrunk to 16: byte %d = %#x", i, q[i]);
  free(q);

  /* Up from 16 B to 8 MiB, then down to 1 B: at each step the bytes both
   * sizes share are the old ones, then the whole new size is refilled. */
  size_t n = 16;
  uint64_t seed = 1;
  p = malloc(n);
  CHECK(p != NULL);
  fill(p, n, seed);
  while (n < 8 * MiB) {
    size_t m = n + n / 3 + 16;
    q = realloc(p, m);
    CHECK_MSG(q != NULL, "realloc %zu -> %zu failed", n, m);
    CHECK(malloc_usable_size(q) >= m);
    verify(q, n, n, seed, "growing realloc");
    fill(q, m, ++seed);
    p = q;
    n = m;
  }
  while (n > 1) {
    size_t m = n - n / 4 - 1;
    if (m == 0) m = 1;
    q = realloc(p, m);
    CHECK_MSG(q != NULL, "realloc %zu -> %zu failed", n, m);
    CHECK(malloc_usable_size(q) >= m);
    verify(q, m, n, seed, "shrinking realloc");
    fill(q, m, ++seed);
    p = q;
    n = m;
  }
  free(p);
}

static void test_failed_realloc(void) {
  static const size_t sizes[] = {16, 500, 20000, 300000, 2 * MiB, 5 * MiB};
  static const size_t bad[] = {(size_t)PTRDIFF_MAX, (size_t)1 << 62, (size_t)PTRDIFF_MAX - 8192,
                               ((size_t)1 << 62) + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = malloc(sizes[i]);
    CHECK(p != NULL);
    fill(p, sizes[i], 40 + i);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
      errno = 0;
      void *r = realloc(p, test_opaque_size(bad[b]));
      int e = errno;
      CHECK_MSG(r == NULL, "realloc(p, %#zx) = %p, want NULL", bad[b], r);
      CHECK_MSG(e == ENOMEM, "realloc(p, %#zx): errno %d, want ENOMEM", bad[b], e);
      verify(p, sizes[i], sizes[i], 40 + i, "after failed realloc");
    }
    /* Still live and resizable. */
    unsigned char *q = realloc(p, sizes[i] * 2);
    CHECK(q != NULL);
    verify(q, sizes[i], sizes[i], 40 + i, "realloc after a failed realloc");
    free(q);
  }
}

/* Resizes p (usable u, filled with seed) to n and checks the same block and
 * the contents come back. */
static void expect_in_place(unsigned char *p, size_t n, size_t u, uint64_t seed, const char *what) {
  unsigned char *q = realloc(p, n);
  CHECK_MSG(q == p, "%s: realloc(%p of usable %zu, %zu) moved to %p", what, (void *)p, u, n, (void *)q);
  CHECK(malloc_usable_size(q) >= n);
  verify(q, n, u, seed, what);
}

static void test_in_place(void) {
  size_t sizes[256];
  size_t ns = 0;
  for (size_t sz = 3; sz < 256 * KiB; sz += 2048) {
    CHECK(ns < 256);
    sizes[ns++] = sz;
  }
  static const size_t more[] = {300 * KiB, 700 * KiB, MiB - 1, MiB, MiB + 1, 2 * MiB - 1, 2 * MiB + 1,
                                3 * MiB + 5, 7 * MiB};
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) sizes[ns++] = more[i];

  for (size_t i = 0; i < ns; i++) {
    unsigned char *p = malloc(sizes[i]);
    CHECK(p != NULL);
    size_t u = malloc_usable_size(p);
    CHECK(u >= sizes[i]);
    fill(p, u, i);
    expect_in_place(p, u, u, i, "grow to usable size");
    /* shrink within the class */
    for (size_t k = 1; k < 16 && k < u; k++) expect_in_place(p, u - k, u, i, "shrink within class");
    if (u >= 64 * KiB) {
      static const size_t ks[] = {16, 100, 2048, 4095};
      for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) expect_in_place(p, u - ks[j], u, i, "shrink within page");
    }
    /* and back to whatever the block's usable size now is, in place again
     * (glibc may have split the block while shrinking, so that can be below
     * u) */
    size_t u2 = malloc_usable_size(p);
    CHECK(u2 >= (u >= 64 * KiB ? u - 4095 : u > 15 ? u - 15 : 1));
    expect_in_place(p, u2, u, i, "regrow to usable size");
    free(p);
  }
}

/* realloc across size classes: a walk through the size ranges. */
static const size_t walk[] = {24, 3000, 32768, 40000, 600000, MiB, 3 * MiB, 9 * MiB, 100, 2 * MiB + 1, 16,
                              70000, 5 * MiB, 1, 33000, 31000};
#define NWALK (sizeof walk / sizeof walk[0])

/* Resizes p (n bytes, filled with seed) through the walk; returns the
 * final block of walk[NWALK-1] bytes filled with seed + NWALK. */
static unsigned char *realloc_walk(unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < NWALK; i++) {
    unsigned char *q = realloc(p, walk[i]);
    CHECK_MSG(q != NULL, "realloc(%zu -> %zu) failed", n, walk[i]);
    CHECK(malloc_usable_size(q) >= walk[i]);
    verify(q, n < walk[i] ? n : walk[i], n, seed, "realloc across classes");
    fill(q, walk[i], ++seed);
    p = q;
    n = walk[i];
  }
  return p;
}

struct job {
  unsigned char *p;
  size_t n;
  uint64_t seed;
};

static void *walk_thread(void *arg) {
  struct job *j = arg;
  j->p = realloc_walk(j->p, j->n, j->seed);
  j->n = walk[NWALK - 1];
  j->seed += NWALK;
  return NULL;
}

static void *free_thread(void *arg) {
  struct job *j = arg;
  verify(j->p, j->n, j->n, j->seed, "block handed to another thread");
  free(j->p);
  return NULL;
}

static void test_across_classes(void) {
  /* Same thread. */
  unsigned char *p = malloc(10);
  CHECK(p != NULL);
  fill(p, 10, 500);
  p = realloc_walk(p, 10, 500);
  verify(p, walk[NWALK - 1], walk[NWALK - 1], 500 + NWALK, "end of walk");
  free(p);

  /* Allocated here, resized on another thread, freed on a third. */
  enum { JOBS = 4 };
  struct job jobs[JOBS];
  pthread_t t[JOBS];
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < JOBS; i++) {
      jobs[i].n = walk[(size_t)(i + r) % NWALK];
      jobs[i].seed = 1000 * (uint64_t)(r * JOBS + i);
      /* realloc(NULL) on this thread, as hardened_malloc's realloc_init */
      jobs[i].p = realloc(NULL, jobs[i].n);
      CHECK(jobs[i].p != NULL);
      fill(jobs[i].p, jobs[i].n, jobs[i].seed);
    }
    for (int i = 0; i < JOBS; i++) CHECK(pthread_create(&t[i], NULL, walk_thread, &jobs[i]) == 0);
    for (int i = 0; i < JOBS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    if (r == 2) {
      for (int i = 0; i < JOBS; i++) free_thread(&jobs[i]);
    } else {
      for (int i = 0; i < JOBS; i++) CHECK(pthread_create(&t[i], NULL, free_thread, &jobs[i]) == 0);
      for (int i = 0; i < JOBS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    }
  }
}

int main(void) {
  test_require_hugeslab();
  test_realloc_null();
  test_realloc_zero_frees();
  test_contents();
  test_failed_realloc();
  test_in_place();
  test_across_classes();
  return 0;
}
