/* micro: allocator microbenchmarks on Google Benchmark (through gbench.h).
 *
 * Built without linking any allocator: bench/run picks one with LD_PRELOAD.
 * All runs are timed by the wall clock (UseRealTime), so the two-thread runs
 * report elapsed time per iteration of each thread, which is what contention
 * costs. Any Google Benchmark flag works, e.g.
 *
 *     micro --benchmark_filter='malloc_free/64' --benchmark_min_time=0.1
 *
 * Benchmarks (name/argument[/argument]):
 *   malloc_free/SIZE        malloc then free of one size, in a loop: the
 *                           thread-cache fast path (1 and 2 threads).
 *   batch_random/N          N=1000 mallocs of log-uniform sizes 16 B..32 KiB,
 *                           then frees in a shuffled order: the cache
 *                           overflowing into slabs and back (1 and 2 threads).
 *   realloc_grow/MAX        malloc(1), realloc doubling up to MAX=64 KiB,
 *                           writing the last byte each time, free: in-place
 *                           growth versus copying across size classes.
 *   calloc/SIZE             calloc(1, SIZE), write one byte, free: zeroing
 *                           (and how fresh pages are known to be zero).
 *   aligned_alloc/ALIGN/SIZE
 *                           aligned_alloc then free.
 *   cross_thread/SIZE       thread 0 mallocs and passes blocks through a ring
 *                           to thread 1, which frees them: the remote free
 *                           path (2 threads).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbench.h"

enum { BATCH = 64 };

static uint64_t rnd(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void bm_malloc_free(gbench_state *st, void *ctx) {
  (void)ctx;
  size_t n = (size_t)gbench_range(st, 0);
  while (gbench_keep_running_batch(st, BATCH))
    for (int i = 0; i < BATCH; i++) free(gbench_escape(malloc(n)));
  gbench_set_items(st, gbench_iterations(st));
}

static void bm_batch_random(gbench_state *st, void *ctx) {
  (void)ctx;
  size_t n = (size_t)gbench_range(st, 0);
  size_t *size = malloc(n * sizeof *size), *order = malloc(n * sizeof *order);
  void **p = malloc(n * sizeof *p);
  uint64_t s = 1 + (uint64_t)gbench_thread_index(st);
  if (!size || !order || !p) {
    gbench_error(st, "out of memory");
    while (gbench_keep_running(st)) {
    }
    return;
  }
  /* Log-uniform sizes 16 B .. 32 KiB, and a Fisher-Yates shuffled free order. */
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd(&s);
    size_t base = (size_t)16 << (r % 11); /* 16 .. 16 KiB */
    size[i] = base + (size_t)((r >> 8) % base);
    order[i] = i;
  }
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rnd(&s) % (i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  while (gbench_keep_running(st)) {
    for (size_t i = 0; i < n; i++) p[i] = gbench_escape(malloc(size[i]));
    for (size_t i = 0; i < n; i++) free(p[order[i]]);
  }
  gbench_set_items(st, gbench_iterations(st) * (int64_t)n);
  free(size);
  free(order);
  free(p);
}

static void bm_realloc_grow(gbench_state *st, void *ctx) {
  (void)ctx;
  size_t max = (size_t)gbench_range(st, 0);
  while (gbench_keep_running(st)) {
    char *p = malloc(1);
    if (!p) break;
    p[0] = 1;
    for (size_t n = 2; n <= max; n *= 2) {
      char *q = realloc(p, n);
      if (!q) break;
      p = q;
      p[n - 1] = 1;
    }
    free(gbench_escape(p));
  }
}

static void bm_calloc(gbench_state *st, void *ctx) {
  (void)ctx;
  size_t n = (size_t)gbench_range(st, 0);
  while (gbench_keep_running(st)) {
    char *p = calloc(1, n);
    if (!p) break;
    p[n / 2] = 1;
    free(gbench_escape(p));
  }
}

static void bm_aligned_alloc(gbench_state *st, void *ctx) {
  (void)ctx;
  size_t align = (size_t)gbench_range(st, 0), n = (size_t)gbench_range(st, 1);
  while (gbench_keep_running_batch(st, BATCH))
    for (int i = 0; i < BATCH; i++) free(gbench_escape(aligned_alloc(align, n)));
}

/* Single-producer single-consumer ring for cross_thread. */
enum { RING = 1024 };
struct ring {
  _Atomic(void *) slot[RING];
  _Alignas(64) atomic_size_t head; /* consumer's next index */
  _Alignas(64) atomic_size_t tail; /* producer's next index */
};

static void spin_wait(unsigned *spins) {
  if (++*spins > 64) {
    sched_yield();
    *spins = 0;
  }
}

static void bm_cross_thread(gbench_state *st, void *ctx) {
  struct ring *r = ctx;
  size_t n = (size_t)gbench_range(st, 0);
  unsigned spins = 0;
  /* Both threads run the same number of iterations, so every block that is
   * produced is consumed and the ring is empty again when the run ends. */
  if (gbench_thread_index(st) == 0) {
    while (gbench_keep_running_batch(st, BATCH)) {
      for (int i = 0; i < BATCH; i++) {
        void *p = gbench_escape(malloc(n));
        size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING) spin_wait(&spins);
        atomic_store_explicit(&r->slot[t % RING], p, memory_order_relaxed);
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
      }
    }
  } else {
    while (gbench_keep_running_batch(st, BATCH)) {
      for (int i = 0; i < BATCH; i++) {
        size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) spin_wait(&spins);
        void *p = atomic_load_explicit(&r->slot[h % RING], memory_order_relaxed);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
        free(p);
      }
    }
  }
  gbench_set_items(st, gbench_iterations(st));
}

static struct ring rings[2];

int main(int argc, char **argv) {
  static const int64_t pair_sizes[] = {16, 32, 64, 128, 256, 512, 1024, 4096, 32768};
  for (int threads = 1; threads <= 2; threads++)
    for (size_t i = 0; i < sizeof pair_sizes / sizeof pair_sizes[0]; i++)
      gbench_real_time(
          gbench_threads(gbench_arg(gbench_register("malloc_free", bm_malloc_free, NULL), pair_sizes[i]), threads));
  for (int threads = 1; threads <= 2; threads++)
    gbench_real_time(gbench_threads(gbench_arg(gbench_register("batch_random", bm_batch_random, NULL), 1000), threads));
  gbench_real_time(gbench_arg(gbench_register("realloc_grow", bm_realloc_grow, NULL), 64 << 10));
  gbench_real_time(gbench_arg(gbench_arg(gbench_arg(gbench_register("calloc", bm_calloc, NULL), 64), 4096), 256 << 10));
  gbench_bench *al = gbench_register("aligned_alloc", bm_aligned_alloc, NULL);
  gbench_real_time(gbench_args2(gbench_args2(gbench_args2(gbench_args2(al, 64, 64), 64, 1000), 4096, 64), 4096, 4096));
  gbench_real_time(gbench_threads(gbench_arg(gbench_register("cross_thread", bm_cross_thread, &rings[0]), 64), 2));
  gbench_real_time(gbench_threads(gbench_arg(gbench_register("cross_thread", bm_cross_thread, &rings[1]), 1024), 2));
  return gbench_main(argc, argv);
}
