/* mstress: long-running churn with a power-law size mix and some blocks
 * passed between threads.
 *
 * Models the shape of mimalloc-bench's mstress: each thread keeps SLOTS
 * block slots and, at random, fills an empty slot, frees a full one, or
 * grows one with realloc. Sizes follow a Pareto law (alpha 1, from 16 bytes,
 * capped at 1 MiB): most blocks are tiny, 1 in 128 is over 1 KiB, 1 in 8,000
 * over 128 KiB, which is how object sizes in real heaps fall off. A quarter
 * of the frees go through a shared exchange array instead: the block is
 * swapped in and whatever block another thread left there is freed instead,
 * so blocks die on threads other than the one that made them.
 *
 * Knobs: -t threads (default 2); -s scales the operations per thread. */
#include <stdatomic.h>

#include "wl.h"

enum { SLOTS = 20000, EXCHANGE = 256, MIN_SIZE = 16, MAX_SIZE = 1 << 20 };
static const uint64_t OPS = 12000000; /* per thread at -s 1 */

static _Atomic(void *) exchange[EXCHANGE];

struct worker {
  uint64_t seed, ops, sum;
};

static size_t pareto_size(uint64_t *s) {
  /* size = MIN_SIZE / u for u uniform in (0, 1]: P(size > x) = MIN_SIZE / x. */
  uint64_t u = (wl_rand(s) >> 40) + 1; /* 1 .. 2^24 */
  uint64_t n = ((uint64_t)MIN_SIZE << 24) / u;
  return n > MAX_SIZE ? MAX_SIZE : (size_t)n;
}

static uint64_t release(void *p, uint64_t *s) {
  uint64_t r = wl_rand(s);
  if ((r & 3) == 0) {
    /* Leave p for another thread; free what was left there (if anything). */
    p = atomic_exchange(&exchange[(r >> 8) % EXCHANGE], p);
    if (!p) return 0;
  }
  uint64_t tag = wl_check(p);
  free(p);
  return tag;
}

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  void **slot = calloc(SLOTS, sizeof *slot);
  if (!slot) wl_die("calloc failed");
  for (uint64_t i = 0; i < w->ops; i++) {
    uint64_t x = wl_rand(&s);
    size_t k = (size_t)(x % SLOTS);
    if (!slot[k]) {
      size_t n = pareto_size(&s);
      slot[k] = wl_malloc(n);
      wl_stamp(slot[k], n, x);
    } else if (((x >> 32) & 7) == 0) {
      /* Grow by half again, keeping the tag; the stamp moves to the new end. */
      uint64_t tag = wl_check(slot[k]);
      size_t n = wl_stamped_size(slot[k]);
      size_t m = n + n / 2 > MAX_SIZE ? n : n + n / 2;
      void *p = realloc(slot[k], m);
      if (!p) wl_die("realloc(%zu) returned NULL", m);
      if (wl_check(p) != tag) wl_die("realloc lost the contents of a block");
      wl_stamp(p, m, tag);
      slot[k] = p;
    } else {
      sum += release(slot[k], &s);
      slot[k] = NULL;
    }
  }
  for (size_t k = 0; k < SLOTS; k++)
    if (slot[k]) sum += release(slot[k], &s);
  free(slot);
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "mstress: power-law churn with cross-thread frees", 2, 0.2);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) {
    w[i].seed = wl_mix(11, (uint64_t)i);
    w[i].ops = wl_scaled(&o, OPS);
  }
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  for (int i = 0; i < EXCHANGE; i++) {
    void *p = atomic_exchange(&exchange[i], NULL);
    if (p) {
      sum += wl_check(p);
      free(p);
    }
  }
  wl_result("mstress", sum, (uint64_t)o.threads * wl_scaled(&o, OPS));
  free(w);
  return 0;
}
