/* larson: a server whose worker threads come and go, each freeing blocks
 * that a previous worker allocated.
 *
 * Models the pattern of Larson and Krishnan's server benchmark (1998): every
 * worker owns an array of SLOTS live blocks, replaces a random one ROUNDS
 * times (free, then malloc of a new random size), and then exits, handing its
 * array to a worker of the next generation, which belongs to another thread
 * index. So most frees are of blocks that another, often dead, thread
 * allocated, and every generation creates and tears down thread caches.
 *
 * Knobs: -t workers per generation (default 2); -s scales the rounds. */
#include "wl.h"

enum { SLOTS = 2000, GENERATIONS = 20, MIN_SIZE = 16, MAX_SIZE = 1024 };
static const uint64_t ROUNDS = 500000; /* per worker per generation, at -s 1 */

struct worker {
  void **slots; /* inherited from the previous generation */
  uint64_t seed, rounds, sum, ops;
};

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  for (uint64_t r = 0; r < w->rounds; r++) {
    uint64_t x = wl_rand(&s);
    size_t i = (size_t)(x % SLOTS);
    sum += wl_check(w->slots[i]);
    free(w->slots[i]);
    size_t n = MIN_SIZE + (size_t)((x >> 32) % (MAX_SIZE - MIN_SIZE + 1));
    void *p = wl_malloc(n);
    wl_stamp(p, n, x);
    w->slots[i] = p;
  }
  w->sum = sum;
  w->ops = w->rounds;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "larson: server threads free what earlier threads allocated", 2, 0.2);
  int t = o.threads;
  uint64_t rounds = wl_scaled(&o, ROUNDS);
  void ***arrays = wl_malloc(sizeof *arrays * (size_t)t);
  struct worker *w = wl_malloc(sizeof *w * (size_t)t);
  uint64_t sum = 0, ops = 0, s = 42;

  for (int i = 0; i < t; i++) {
    arrays[i] = wl_malloc(sizeof **arrays * SLOTS);
    for (size_t j = 0; j < SLOTS; j++) {
      uint64_t x = wl_rand(&s);
      size_t n = MIN_SIZE + (size_t)(x % (MAX_SIZE - MIN_SIZE + 1));
      arrays[i][j] = wl_malloc(n);
      wl_stamp(arrays[i][j], n, x);
    }
  }
  for (int g = 0; g < GENERATIONS; g++) {
    for (int i = 0; i < t; i++) {
      /* Worker i of generation g takes the array worker i+1 used before. */
      w[i].slots = arrays[(i + g) % t];
      w[i].seed = wl_mix((uint64_t)g, (uint64_t)i);
      w[i].rounds = rounds;
    }
    wl_spawn_join(t, work, w, sizeof *w);
    for (int i = 0; i < t; i++) {
      sum += w[i].sum;
      ops += w[i].ops;
    }
  }
  for (int i = 0; i < t; i++) {
    for (size_t j = 0; j < SLOTS; j++) {
      sum += wl_check(arrays[i][j]);
      free(arrays[i][j]);
    }
    free(arrays[i]);
  }
  free(arrays);
  free(w);
  wl_result("larson", sum, ops);
  return 0;
}
