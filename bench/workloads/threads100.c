/* threads100: many threads that each allocate a little (RSS bloat check).
 *
 * Models a thread-per-connection server or a thread pool with 100 mostly
 * idle workers: each thread allocates PER_THREAD blocks of 16 B to 4 KiB
 * (about 45 KiB in all), writes them, waits until every thread holds its
 * blocks, then frees them and exits. Live data is about 4.5 MB; an allocator
 * that gives each thread its own arena, chunk or huge page shows it in peak
 * RSS (the number to read here, not the time). Rounds repeat the whole
 * thing with fresh threads, so thread cache setup and teardown is timed too.
 *
 * Knobs: -t threads (default 100); -s scales the rounds (150 at -s 1). */
#include "wl.h"

enum { PER_THREAD = 64, MIN_SIZE = 16, MAX_SIZE = 4096 };
static const uint64_t ROUNDS = 150;

static pthread_barrier_t all_alive;

struct worker {
  uint64_t seed, sum;
};

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  void *p[PER_THREAD];
  for (int i = 0; i < PER_THREAD; i++) {
    size_t n = wl_logsize(&s, MIN_SIZE, MAX_SIZE);
    p[i] = wl_malloc(n);
    memset(p[i], 0x5a, n);
    wl_stamp(p[i], n, wl_rand(&s));
  }
  pthread_barrier_wait(&all_alive);
  for (int i = 0; i < PER_THREAD; i++) {
    sum += wl_check(p[i]);
    free(p[i]);
  }
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "threads100: many threads, little memory each", 100, 0.2);
  uint64_t rounds = wl_scaled(&o, ROUNDS), sum = 0;
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  if (pthread_barrier_init(&all_alive, NULL, (unsigned)o.threads) != 0) wl_die("pthread_barrier_init failed");
  for (uint64_t r = 0; r < rounds; r++) {
    for (int i = 0; i < o.threads; i++) w[i].seed = wl_mix(r, (uint64_t)i);
    wl_spawn_join(o.threads, work, w, sizeof *w);
    for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  }
  pthread_barrier_destroy(&all_alive);
  free(w);
  wl_result("threads100", sum, rounds * (uint64_t)o.threads * PER_THREAD);
  return 0;
}
