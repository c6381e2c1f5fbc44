/* Alignment sweep and randomised aligned/calloc mixes.
 *
 * - For every alignment a = 8 .. 2^23 and sizes 0 .. 3a in coarse steps,
 *   4 allocations are kept live at once (posix_memalign, aligned_alloc,
 *   memalign in turn): each is aligned, has usable >= size, is written
 *   (every page of it) and keeps its pattern while the others are written,
 *   and the 4 do not overlap.  malloc_trim(0) between alignments, so
 *   purged memory is reused.  Then memalign over every power-of-two
 *   alignment up to 0x10000 with sizes up to 0x10000.
 * - Random mixes of aligned_alloc (power-of-two alignments, mostly small,
 *   some up to 2 MiB), calloc (checked zero), malloc and free: in one
 *   thread, in 4 threads with private sets, and with cross-thread frees
 *   through a shared table that threads swap blocks in and out of
 *   atomically, so most blocks are freed by a thread that did not
 *   allocate them.  Every block carries a pattern derived from a seed that
 *   is checked before it is freed; corruption anywhere fails the test.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MiB ((size_t)1 << 20)

static unsigned char pat(uint64_t seed, size_t i) { return (unsigned char)(seed + i * 13u + (i >> 9)); }

/* Writes the pattern over the block: every byte of small blocks; for bigger
 * ones the first and last 4 KiB and one byte in every 4 KiB page between. */
static void fill(unsigned char *p, size_t n, uint64_t seed) {
  if (n <= 16384) {
    for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
    return;
  }
  for (size_t i = 0; i < 4096; i++) p[i] = pat(seed, i);
  for (size_t i = 4096; i < n - 4096; i += 4096) p[i] = pat(seed, i);
  for (size_t i = n - 4096; i < n; i++) p[i] = pat(seed, i);
}

static void verify(const unsigned char *p, size_t n, uint64_t seed) {
  if (n <= 16384) {
    for (size_t i = 0; i < n; i++)
      CHECK_MSG(p[i] == pat(seed, i), "block %p size %zu: byte %zu corrupted", (const void *)p, n, i);
    return;
  }
  for (size_t i = 0; i < 4096; i++) CHECK_MSG(p[i] == pat(seed, i), "block %p byte %zu", (const void *)p, i);
  for (size_t i = 4096; i < n - 4096; i += 4096)
    CHECK_MSG(p[i] == pat(seed, i), "block %p byte %zu", (const void *)p, i);
  for (size_t i = n - 4096; i < n; i++) CHECK_MSG(p[i] == pat(seed, i), "block %p byte %zu", (const void *)p, i);
}

static void *aligned_via(int api, size_t a, size_t n) {
  void *p = NULL;
  switch (api % 3) {
  case 0: CHECK_MSG(posix_memalign(&p, a, n) == 0, "posix_memalign(%zu, %zu) failed", a, n); break;
  case 1: p = aligned_alloc(a, n); break;
  case 2: p = memalign(a, n); break;
  }
  CHECK_MSG(p != NULL, "api %d alignment %zu size %zu: NULL", api % 3, a, n);
  CHECK_MSG((uintptr_t)p % a == 0, "api %d alignment %zu size %zu: %p misaligned", api % 3, a, n, p);
  CHECK_MSG(malloc_usable_size(p) >= n, "alignment %zu size %zu: usable %zu", a, n, malloc_usable_size(p));
  return p;
}

static void test_sweep(void) {
  for (size_t a = 8; a <= ((size_t)1 << 23); a <<= 1) {
    size_t step = a / 3 > 1 ? a / 3 : 1;
    int api = 0;
    for (size_t n = 0; n <= 3 * a; n += step, api++) {
      unsigned char *p[4];
      size_t u[4];
      for (int k = 0; k < 4; k++) {
        p[k] = aligned_via(api + k, a, n);
        u[k] = malloc_usable_size(p[k]);
        fill(p[k], u[k], a + n + (size_t)k);
      }
      for (int k = 0; k < 4; k++)
        for (int j = 0; j < k; j++)
          CHECK_MSG((uintptr_t)p[k] + u[k] <= (uintptr_t)p[j] || (uintptr_t)p[j] + u[j] <= (uintptr_t)p[k],
                    "alignment %zu size %zu: blocks %p and %p overlap", a, n, (void *)p[k], (void *)p[j]);
      for (int k = 0; k < 4; k++) {
        verify(p[k], u[k], a + n + (size_t)k);
        free(p[k]);
      }
    }
    malloc_trim(0);
  }

  /* memalign over (alignment, size) up to 0x10000. */
  for (size_t a = 8; a <= 0x10000; a <<= 1)
    for (size_t n = 1; n <= 0x10000; n += 0x10000 / 37 + (n & 7)) {
      unsigned char *p = aligned_via(2, a, n);
      p[0] = 0xaa;
      p[n - 1] = 0x55;
      CHECK(p[n - 1] == 0x55 && (n == 1 || p[0] == 0xaa));
      free(p);
    }
}

/* ---- random mixes ---- */

/* A live block in a private table. */
struct live {
  unsigned char *p;
  size_t n;
  uint64_t seed;
};

/* Draws a request: an alignment (0 means calloc, 1 means malloc) and a size. */
static void draw(uint64_t *rng, size_t *align, size_t *size) {
  uint64_t r = test_rand(rng);
  unsigned kind = r & 15;
  if (kind < 5)
    *align = 0;
  else if (kind < 7)
    *align = 1;
  else if (kind < 15)
    *align = (size_t)1 << (r >> 4 & 7 ? (r >> 8) % 13 : 13 + (r >> 8) % 9); /* 1 .. 4 KiB, some up to 2 MiB */
  else
    *align = 16;
  unsigned band = r >> 20 & 63;
  if (band < 48)
    *size = r >> 32 & 0x3ff;
  else if (band < 63)
    *size = r >> 32 & 0x1ffff;
  else
    *size = r >> 32 & 0x3fffff;
}

static unsigned char *alloc_drawn(size_t align, size_t n) {
  unsigned char *p;
  if (align == 0) {
    p = calloc(1, n);
    CHECK_MSG(p != NULL, "calloc(1, %zu) failed", n);
    typedef uint64_t __attribute__((may_alias)) word; /* p is 16-aligned */
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      if (*(const word *)(p + i) != 0) break;
    for (; i < n; i++) CHECK_MSG(p[i] == 0, "calloc(1, %zu): byte %zu not 0", n, i);
  } else if (align == 1) {
    p = malloc(n);
    CHECK_MSG(p != NULL, "malloc(%zu) failed", n);
  } else {
    p = aligned_alloc(align, n);
    CHECK_MSG(p != NULL, "aligned_alloc(%zu, %zu) failed", align, n);
    CHECK_MSG((uintptr_t)p % align == 0, "aligned_alloc(%zu, %zu) = %p", align, n, (void *)p);
  }
  CHECK(malloc_usable_size(p) >= n);
  return p;
}

struct worker_arg {
  uint64_t seed;
  int ops;
};

/* One thread's private random mix. */
static void *private_mix(void *argp) {
  struct worker_arg *arg = argp;
  enum { SLOTS = 512 };
  struct live *slot = calloc(SLOTS, sizeof *slot);
  CHECK(slot != NULL);
  uint64_t rng = arg->seed;
  for (int op = 0; op < arg->ops; op++) {
    struct live *s = &slot[test_rand(&rng) % SLOTS];
    if (s->p) {
      verify(s->p, s->n, s->seed);
      /* Dirty the usable tail too (calloc must zero recycled blocks); big
       * blocks are already dirty with the sparse pattern. */
      size_t u = malloc_usable_size(s->p);
      memset(s->p, 0xee, u <= 65536 ? u : 4096);
      if (u > 65536) memset(s->p + u - 4096, 0xee, 4096);
      free(s->p);
      s->p = NULL;
      if (test_rand(&rng) & 1) continue;
    }
    size_t align, n;
    draw(&rng, &align, &n);
    s->p = alloc_drawn(align, n);
    s->n = n;
    s->seed = test_rand(&rng);
    fill(s->p, n, s->seed);
  }
  for (int i = 0; i < SLOTS; i++)
    if (slot[i].p) {
      verify(slot[i].p, slot[i].n, slot[i].seed);
      free(slot[i].p);
    }
  free(slot);
  return NULL;
}

/* Cross-thread: blocks carry their own size and seed in a header, so a thread
 * that takes one out of the shared table can check and free it. */
enum { SHARED = 1024, XTHREADS = 4 };
static _Atomic(unsigned char *) shared[SHARED];

struct header {
  size_t n;
  uint64_t seed;
};

static void check_and_free(unsigned char *p) {
  struct header h;
  memcpy(&h, p, sizeof h);
  CHECK_MSG(h.n >= sizeof h && h.n <= malloc_usable_size(p), "shared block %p: bad header size %zu", (void *)p, h.n);
  verify(p + sizeof h, h.n - sizeof h, h.seed);
  free(p);
}

static void *cross_mix(void *argp) {
  struct worker_arg *arg = argp;
  uint64_t rng = arg->seed;
  for (int op = 0; op < arg->ops; op++) {
    size_t align, n;
    draw(&rng, &align, &n);
    n += sizeof(struct header);
    unsigned char *p = alloc_drawn(align, n);
    struct header h = {n, test_rand(&rng)};
    memcpy(p, &h, sizeof h);
    fill(p + sizeof h, n - sizeof h, h.seed);
    unsigned char *old = atomic_exchange(&shared[test_rand(&rng) % SHARED], p);
    if (old) check_and_free(old);
  }
  return NULL;
}

static void run_threads(void *(*fn)(void *), int nthreads, int ops, uint64_t seed) {
  pthread_t t[8];
  struct worker_arg arg[8];
  for (int i = 0; i < nthreads; i++) {
    arg[i].seed = seed + (uint64_t)i * 0x1000193;
    arg[i].ops = ops;
    CHECK(pthread_create(&t[i], NULL, fn, &arg[i]) == 0);
  }
  for (int i = 0; i < nthreads; i++) CHECK(pthread_join(t[i], NULL) == 0);
}

static void test_random(void) {
  struct worker_arg one = {0xa11ce, 30000};
  private_mix(&one);
  run_threads(private_mix, 4, 12000, 0xb0b);
  for (int round = 0; round < 3; round++) {
    run_threads(cross_mix, XTHREADS, 10000, 0xc0ffee + (uint64_t)round);
    /* Blocks left in the table are freed by the main thread, which
     * allocated none of them. */
    if (round == 2)
      for (int i = 0; i < SHARED; i++) {
        unsigned char *p = atomic_exchange(&shared[i], NULL);
        if (p) check_and_free(p);
      }
  }
}

int main(void) {
  test_require_hugeslab();
  test_sweep();
  test_random();
  return 0;
}
