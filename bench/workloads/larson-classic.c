/* larson-classic: Larson's server benchmark in its classic shape, where
 * every worker thread hands its array on to a thread it starts itself.
 *
 * Models the pattern of Larson and Krishnan's server benchmark (1998) with
 * the parameters it is usually run with (as in mimalloc-bench): blocks of 8
 * to 999 bytes, 1000 live blocks per thread. The main thread allocates every
 * array before any worker starts. A worker replaces a random block of its
 * array ROUNDS times (free, then malloc of a new random size), then starts a
 * new thread that carries on with the same array, and exits; each array goes
 * through a chain of LINKS such threads. Every link starts on 1000 blocks an
 * earlier, now exited, thread allocated (the first link, blocks of the main
 * thread), freed within its first few thousand replacements, and thread
 * caches are created and torn down while the other chains run; most of a
 * link's ROUNDS replacements, though, free blocks of its own, so the time is
 * mostly the allocator's steady-state malloc and free of small blocks with a
 * few hundred KiB live per thread. Unlike `larson`, there is no join loop
 * between generations (chains run unsynchronised) and a block is touched only
 * by one stamp word written after malloc and read back before free, so the
 * time is the allocator's, not memory traffic.
 *
 * Each chain keeps one random state, carried from link to link, for its
 * victims, sizes and stamps, so what is read back is the same under every
 * allocator. Link k+1 joins link k (which exits right after starting it) once
 * its own replacements are done; the main thread joins the last link.
 *
 * Knobs: -t chains, i.e. threads running at once (default 2); -s scales the
 * replacements per link (LINKS is fixed). */
#include "wl.h"

enum { SLOTS = 1000, LINKS = 50, MIN_SIZE = 8, MAX_SIZE = 1000 /* exclusive */ };
static const uint64_t ROUNDS = 2500000; /* replacements per link at -s 1 */

struct chain {
  void **slots;    /* SLOTS live blocks */
  uint64_t *tags;  /* the stamp each block should hold */
  uint64_t rng;    /* this chain's random state, carried across links */
  uint64_t rounds; /* per link */
  int links_done;
  int has_prev;
  pthread_t prev; /* the link that started this one, to join */
  pthread_t last; /* the final link, for the main thread to join */
  uint64_t sum, ops;
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int chains_done;

static inline size_t draw_size(uint64_t x) {
  return MIN_SIZE + (size_t)((x >> 40) % (MAX_SIZE - MIN_SIZE));
}

/* Read back block i's stamp, die if it is not what was written. */
static inline uint64_t check_slot(const struct chain *c, size_t i) {
  uint64_t v;
  memcpy(&v, c->slots[i], sizeof v);
  if (v != c->tags[i])
    wl_die("block %p was clobbered: stamp %016" PRIx64 ", wrote %016" PRIx64, c->slots[i], v,
           c->tags[i]);
  return v;
}

static inline void fill_slot(struct chain *c, size_t i, uint64_t x) {
  void *p = wl_malloc(draw_size(x));
  memcpy(p, &x, sizeof x);
  c->slots[i] = p;
  c->tags[i] = x;
}

static void *link_run(void *arg) {
  struct chain *c = arg;
  uint64_t s = c->rng, sum = 0;
  for (uint64_t r = 0; r < c->rounds; r++) {
    uint64_t x = wl_rand(&s);
    size_t i = (size_t)(x % SLOTS);
    sum += check_slot(c, i);
    free(c->slots[i]);
    fill_slot(c, i, x);
  }
  c->rng = s;
  c->sum += sum;
  c->ops += c->rounds;
  /* The previous link exited right after starting this one. */
  if (c->has_prev && pthread_join(c->prev, NULL) != 0) wl_die("pthread_join failed");
  if (++c->links_done < LINKS) {
    /* Hand the array on; nothing of c is touched after the create. */
    pthread_t next;
    c->prev = pthread_self();
    c->has_prev = 1;
    if (pthread_create(&next, NULL, link_run, c) != 0) wl_die("pthread_create failed");
  } else {
    pthread_mutex_lock(&done_lock);
    c->last = pthread_self();
    chains_done++;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv,
                              "larson-classic: Larson's server benchmark, threads recycled in chains", 2,
                              0.2);
  int t = o.threads;
  struct chain *c = wl_malloc(sizeof *c * (size_t)t);
  uint64_t sum = 0, ops = 0;

  for (int k = 0; k < t; k++) {
    memset(&c[k], 0, sizeof c[k]);
    c[k].slots = wl_malloc(sizeof *c[k].slots * SLOTS);
    c[k].tags = wl_malloc(sizeof *c[k].tags * SLOTS);
    c[k].rng = wl_mix(4141, (uint64_t)k);
    c[k].rounds = wl_scaled(&o, ROUNDS);
    for (size_t i = 0; i < SLOTS; i++) fill_slot(&c[k], i, wl_rand(&c[k].rng));
  }
  for (int k = 0; k < t; k++) {
    pthread_t first; /* joined by the second link, or by us as the last */
    if (pthread_create(&first, NULL, link_run, &c[k]) != 0) wl_die("pthread_create failed");
  }
  pthread_mutex_lock(&done_lock);
  while (chains_done < t) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
  for (int k = 0; k < t; k++) {
    pthread_join(c[k].last, NULL);
    for (size_t i = 0; i < SLOTS; i++) {
      sum += check_slot(&c[k], i);
      free(c[k].slots[i]);
    }
    free(c[k].slots);
    free(c[k].tags);
    sum += c[k].sum;
    ops += c[k].ops;
  }
  free(c);
  wl_result("larson-classic", sum, ops);
  return 0;
}
