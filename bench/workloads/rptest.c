/* rptest: threads that allocate in batches, keep a working set, and pass
 * part of every batch to another thread to free.
 *
 * Models the pattern of rpmalloc's rptest load: every loop a thread
 * allocates a batch of BATCH_MIN to BATCH_MAX blocks of random sizes
 * (log-uniform 16 B to 16 KiB, so six in ten are under 1 KiB), stamps them
 * (a few words at the start and the end, wl_stamp), and sends a random half
 * of them to another thread: they go, as one parcel (a malloc'ed array of
 * pointers, freed by the receiver too), into the receiver's inbox, a list
 * under a mutex taken once per parcel. Every loop a thread frees in a burst
 * everything its inbox holds, and frees in a burst the blocks it kept
 * WS_GENS loops ago, so it keeps about WS_GENS half-batches (some 3 MB per
 * thread) live across loops. Loop l of thread i sends to thread
 * i + 1 + l mod (N - 1), so every thread frees for every other one.
 *
 * The sizes, the split and the stamps depend only on the thread's seed, and
 * every block is checked by whoever frees it, so the checksum is the same
 * under every allocator, whatever the interleaving. An inbox holds at most
 * INBOX_MAX parcels; a sender that finds one full frees its own inbox while
 * it waits, so a ring of full inboxes still moves. A thread that has done its
 * loops keeps emptying its inbox until every thread has done its loops.
 *
 * Knobs: -t threads (default 2; with 1 the thread sends to itself); -s scales
 * the loops per thread. */
#include <sched.h>

#include "wl.h"

enum {
  BATCH_MIN = 32, BATCH_MAX = 256, /* blocks per loop */
  WS_GENS = 8,                     /* loops a kept block stays live */
  INBOX_MAX = 64,                  /* parcels waiting in one inbox */
  MIN_SIZE = 16, MAX_SIZE = 16384
};
static const uint64_t LOOPS = 25000; /* per thread at -s 1 */

struct parcel {
  struct parcel *next;
  size_t n;
  void *blocks[];
};

struct worker {
  pthread_mutex_t lock; /* guards inbox and queued */
  struct parcel *inbox;
  int queued;
  int index;
  uint64_t seed, loops, sum, ops;
  char pad[64]; /* keep the next worker's lock off this one's lines */
};

static struct worker *workers;
static int nthreads;
static int finished; /* threads that have done all their loops (atomic) */

/* Free everything in w's inbox; return the sum of the stamps read back. */
static uint64_t drain(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  struct parcel *pc = w->inbox;
  w->inbox = NULL;
  w->queued = 0;
  pthread_mutex_unlock(&w->lock);
  uint64_t sum = 0;
  while (pc) {
    struct parcel *next = pc->next;
    for (size_t i = 0; i < pc->n; i++) {
      sum += wl_check(pc->blocks[i]);
      free(pc->blocks[i]);
    }
    free(pc);
    pc = next;
  }
  return sum;
}

static void post(struct worker *self, struct worker *to, struct parcel *pc) {
  for (;;) {
    pthread_mutex_lock(&to->lock);
    if (to->queued < INBOX_MAX) {
      pc->next = to->inbox;
      to->inbox = pc;
      to->queued++;
      pthread_mutex_unlock(&to->lock);
      return;
    }
    pthread_mutex_unlock(&to->lock);
    self->sum += drain(self);
    sched_yield();
  }
}

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, ops = 0;
  void **kept = wl_malloc(sizeof *kept * WS_GENS * BATCH_MAX);
  size_t nkept[WS_GENS] = {0};

  for (uint64_t l = 0; l < w->loops; l++) {
    int g = (int)(l % WS_GENS);
    void **mine = kept + (size_t)g * BATCH_MAX;

    /* What others sent, then what this thread kept WS_GENS loops ago. */
    w->sum += drain(w);
    for (size_t i = 0; i < nkept[g]; i++) {
      w->sum += wl_check(mine[i]);
      free(mine[i]);
    }
    nkept[g] = 0;

    size_t n = (size_t)wl_range(&s, BATCH_MIN, BATCH_MAX);
    struct parcel *pc = wl_malloc(sizeof *pc + sizeof pc->blocks[0] * n);
    pc->n = 0;
    for (size_t i = 0; i < n; i++) {
      uint64_t x = wl_rand(&s);
      size_t size = wl_logsize(&s, MIN_SIZE, MAX_SIZE);
      void *p = wl_malloc(size);
      wl_stamp(p, size, x);
      if (x >> 63)
        pc->blocks[pc->n++] = p;
      else
        mine[nkept[g]++] = p;
    }
    ops += n;
    int to = nthreads == 1 ? 0 : (w->index + 1 + (int)(l % (uint64_t)(nthreads - 1))) % nthreads;
    post(w, &workers[to], pc);
  }

  /* Done: keep freeing what arrives until every sender is done too. */
  __atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
  for (;;) {
    int f = __atomic_load_n(&finished, __ATOMIC_ACQUIRE);
    w->sum += drain(w);
    if (f == nthreads) break;
    sched_yield();
  }
  for (int g = 0; g < WS_GENS; g++)
    for (size_t i = 0; i < nkept[g]; i++) {
      w->sum += wl_check(kept[(size_t)g * BATCH_MAX + i]);
      free(kept[(size_t)g * BATCH_MAX + i]);
    }
  free(kept);
  w->ops = ops;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv,
                              "rptest: batches, a working set, half of every batch freed by another thread",
                              2, 0.2);
  nthreads = o.threads;
  workers = wl_malloc(sizeof *workers * (size_t)nthreads);
  uint64_t sum = 0, ops = 0;

  for (int i = 0; i < nthreads; i++) {
    memset(&workers[i], 0, sizeof workers[i]);
    pthread_mutex_init(&workers[i].lock, NULL);
    workers[i].index = i;
    workers[i].seed = wl_mix(16384, (uint64_t)i);
    workers[i].loops = wl_scaled(&o, LOOPS);
  }
  wl_spawn_join(nthreads, work, workers, sizeof *workers);
  for (int i = 0; i < nthreads; i++) {
    sum += workers[i].sum;
    ops += workers[i].ops;
    pthread_mutex_destroy(&workers[i].lock);
  }
  free(workers);
  wl_result("rptest", sum, ops);
  return 0;
}
