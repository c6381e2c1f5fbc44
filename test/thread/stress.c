/* Producer/consumer stress with cross-thread frees.
 *
 * NTHREADS threads share a transfer array of TRANSFER slots. Each step a
 * thread allocates a block (power-of-two sizes, rarely large, very rarely
 * huge), stamps it, and atomically swaps it into a random slot; whatever comes
 * out was usually allocated by another thread, and is checked and freed here.
 * Threads also keep a few private blocks. The threads exit and are recreated
 * every round while the blocks in the transfer array outlive them.
 *
 * Proves: no block is handed out twice or overwritten while live (the stamp
 * encodes the block's own address and size, and sampled bytes of its body
 * are checked before free), cross-thread frees return memory (in-use bytes
 * from mallinfo2 come back to the start after everything is freed), and the
 * run is deterministic per thread (splitmix64 seeds). */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hugeslab.h"
#include "testutil.h"

TEST_WEAK(hs_thread_flush)

enum { NTHREADS = 4, ROUNDS = 16, STEPS = 40000, TRANSFER = 1000, LOCAL = 64 };

static _Atomic(void *) transfer[TRANSFER];

struct stamp {
  size_t size;
  uint64_t cookie;
};

static uint64_t cookie_of(const void *p, size_t size) {
  return ((uintptr_t)p * 0x9e3779b97f4a7c15ull) ^ size ^ 0x5eedf00dcafe1234ull;
}

/* Sampled body bytes: every byte of the first and last 64, then one per
 * 4 KiB in between, so huge blocks cost little to stamp. */
static unsigned char body_byte(uint64_t cookie, size_t i) {
  return (unsigned char)((cookie >> ((i % 8) * 8)) + i);
}

static void for_each_sample(size_t size, void (*fn)(unsigned char *, size_t,
                                                     uint64_t, void *),
                            unsigned char *p, uint64_t cookie, void *ctx) {
  size_t i;
  for (i = sizeof(struct stamp); i < size && i < 64; i++) fn(p, i, cookie, ctx);
  for (; i + 64 < size; i += 4096) fn(p, i, cookie, ctx);
  for (i = size > 64 ? size - 64 : i; i < size; i++)
    if (i >= sizeof(struct stamp)) fn(p, i, cookie, ctx);
}

static void write_sample(unsigned char *p, size_t i, uint64_t cookie,
                         void *ctx) {
  (void)ctx;
  p[i] = body_byte(cookie, i);
}

static void check_sample(unsigned char *p, size_t i, uint64_t cookie,
                         void *ctx) {
  (void)ctx;
  CHECK_MSG(p[i] == body_byte(cookie, i),
            "block %p byte %zu corrupted: %#x want %#x", (void *)p, i, p[i],
            body_byte(cookie, i));
}

static size_t pick_size(uint64_t *seed) {
  uint64_t r = test_rand(seed);
  if (r % 4096 == 0) return (size_t)(1 + r % 8) << 20; /* huge: 1-8 MiB */
  if (r % 100 == 0) return 32768 + (r >> 16) % (1u << 20); /* large */
  return (size_t)16 << ((r >> 8) % 10); /* 16 B .. 8 KiB */
}

static void *alloc_stamped(uint64_t *seed) {
  size_t size = pick_size(seed);
  unsigned char *p = malloc(size);
  CHECK_MSG(p != NULL, "malloc(%zu) failed", size);
  CHECK_MSG(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p not 16-aligned", size,
            (void *)p);
  struct stamp st = {size, cookie_of(p, size)};
  memcpy(p, &st, sizeof st);
  for_each_sample(size, write_sample, p, st.cookie, NULL);
  return p;
}

static void check_free(void *block) {
  if (!block) return;
  unsigned char *p = block;
  struct stamp st;
  memcpy(&st, p, sizeof st);
  CHECK_MSG(st.cookie == cookie_of(p, st.size),
            "block %p: header corrupted (size field %zu)", block, st.size);
  CHECK_MSG(malloc_usable_size(p) >= st.size, "block %p usable %zu < %zu",
            block, malloc_usable_size(p), st.size);
  for_each_sample(st.size, check_sample, p, st.cookie, NULL);
  memset(p, 0xdd, sizeof st); /* a second free of it would fail the check */
  free(p);
}

struct worker {
  uint64_t seed;
  int steps;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  void *local[LOCAL] = {0};
  for (int s = 0; s < w->steps; s++) {
    uint64_t r = test_rand(&w->seed);
    if (r % 4 == 0) {
      unsigned i = (r >> 8) % LOCAL;
      check_free(local[i]);
      local[i] = alloc_stamped(&w->seed);
    } else {
      void *mine = alloc_stamped(&w->seed);
      void *old = atomic_exchange(&transfer[(r >> 8) % TRANSFER], mine);
      check_free(old);
    }
  }
  for (unsigned i = 0; i < LOCAL; i++) check_free(local[i]);
  return NULL;
}

static size_t in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static void flush(void) {
  if (hs_thread_flush) hs_thread_flush();
}

int main(void) {
  test_require_hugeslab();
  /* Warm-up: the first allocations create arenas and caches that stay. */
  free(test_opaque(malloc(64)));
  flush();
  size_t before = in_use();

  uint64_t seed = 42;
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t t[NTHREADS];
    struct worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
      w[i].seed = test_rand(&seed);
      /* Some threads stop early, so creation and exit overlap with work. */
      w[i].steps = (i % 2) ? STEPS : STEPS / 4;
      CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
  }

  size_t survivors = 0;
  for (unsigned i = 0; i < TRANSFER; i++) {
    void *p = atomic_exchange(&transfer[i], NULL);
    survivors += p != NULL;
    check_free(p);
  }
  CHECK(survivors > TRANSFER / 2);
  flush();
  size_t after = in_use();
  /* Everything is freed; what is left in use is at most a few caches. */
  CHECK_MSG(after <= before + (4u << 20),
            "in-use bytes grew from %zu to %zu after freeing everything",
            before, after);
  printf("stress: %d rounds x %d threads, in use %zu -> %zu\n", ROUNDS,
         NTHREADS, before, after);
  return 0;
}
