/* Soak test (make stress; not part of make check): threads allocate blocks
 * of a power-law size mix (rarely large or huge), stamp each with a cookie
 * derived from its address and size, and swap them through a shared transfer
 * array so most blocks are freed by a thread other than the one that made
 * them. Threads are torn down and recreated every round while transferred
 * blocks survive. Every block is checked on free; any corruption, lost
 * block or allocator report fails the run.
 * Usage: soak [threads=8] [rounds=50] [ops_per_round=200000] [seed=1] */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

#define TRANSFER 1024
static _Atomic(uintptr_t) transfer[TRANSFER];
static long ops_per_thread;
static uint64_t base_seed;

struct hdr {
  uintptr_t cookie;
  size_t size;
};

static uintptr_t cookie_of(void *p, size_t n) { return ((uintptr_t)p * 0x9e3779b97f4a7c15ull) ^ n; }

static void *make_block(uint64_t *rng) {
  uint64_t r = test_rand(rng);
  size_t n;
  unsigned k = (unsigned)(r % 1000);
  if (k < 900) n = 16 + (size_t)((r >> 16) % (1u << (4 + (r >> 40) % 7)));   /* 16 B .. 1 KiB */
  else if (k < 990) n = 1024 + (size_t)((r >> 16) % (32u << 10));             /* .. 33 KiB */
  else if (k < 999) n = (32u << 10) + (size_t)((r >> 16) % (1u << 20));        /* page runs */
  else n = (1u << 20) + (size_t)((r >> 16) % (4u << 20));                      /* huge */
  struct hdr *h = malloc(n);
  CHECK_MSG(h, "malloc(%zu) failed", n);
  h->cookie = cookie_of(h, n);
  h->size = n;
  unsigned char *tail = (unsigned char *)h + n - 1;
  if (n > sizeof *h) *tail = (unsigned char)n;
  return h;
}

static void free_block(void *p) {
  struct hdr *h = p;
  size_t n = h->size;
  CHECK_MSG(h->cookie == cookie_of(h, n), "block %p corrupted (size %zu)", p, n);
  if (n > sizeof *h) CHECK_MSG(*((unsigned char *)h + n - 1) == (unsigned char)n, "block %p tail corrupted", p);
  CHECK(malloc_usable_size(p) >= n);
  free(p);
}

static void *worker(void *arg) {
  uint64_t rng = base_seed ^ (uintptr_t)arg;
  void *local[64] = {0};
  for (long i = 0; i < ops_per_thread; i++) {
    uint64_t r = test_rand(&rng);
    unsigned slot = (unsigned)(r % 64);
    if (local[slot]) free_block(local[slot]);
    local[slot] = make_block(&rng);
    if (r % 4 == 0) {
      /* Swap a block through the shared array: another thread frees it. */
      void *mine = make_block(&rng);
      uintptr_t old = atomic_exchange(&transfer[(r >> 20) % TRANSFER], (uintptr_t)mine);
      if (old) free_block((void *)old);
    }
    if (r % 1000 == 0) {
      void *p = realloc(make_block(&rng), 16 + (r >> 30) % 100000);
      CHECK(p);
      free(p);
    }
  }
  for (unsigned s = 0; s < 64; s++)
    if (local[s]) free_block(local[s]);
  return NULL;
}



int main(int argc, char **argv) {
  test_require_hugeslab();
  int threads = argc > 1 ? atoi(argv[1]) : 8;
  int rounds = argc > 2 ? atoi(argv[2]) : 50;
  ops_per_thread = argc > 3 ? atol(argv[3]) : 200000;
  base_seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
  pthread_t *tid = calloc((size_t)threads, sizeof *tid);
  CHECK(tid);
  for (int round = 0; round < rounds; round++) {
    for (int t = 0; t < threads; t++)
      CHECK(pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)(round * 1000 + t + 1)) == 0);
    for (int t = 0; t < threads; t++) CHECK(pthread_join(tid[t], NULL) == 0);
  }
  for (unsigned i = 0; i < TRANSFER; i++) {
    uintptr_t p = atomic_exchange(&transfer[i], 0);
    if (p) free_block((void *)p);
  }
  free(tid);
  printf("soak: %d threads x %d rounds x %ld ops: ok\n", threads, rounds, ops_per_thread);
  return 0;
}
