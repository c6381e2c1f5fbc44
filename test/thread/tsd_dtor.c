/* malloc and free inside thread-specific-data destructors, and threads whose
 * only allocator call is a free (after jemalloc's
 * test_tsd_reincarnation and test_tsd_sub_thread_dalloc_only).
 *
 * Two pthread keys carry destructors that allocate and free: one created in
 * a constructor, before the process's first malloc (so before any key the
 * allocator may create for its own thread teardown: its destructor runs
 * first), and one created after the first malloc (runs after the allocator's
 * teardown, if that is a key destructor too). Each destructor re-arms its key
 * twice, so it runs again after the allocator's state for the thread may
 * already be torn down ("reincarnation"). One block from each destructor
 * outlives its thread and is freed by a "free-only" thread, whose single
 * allocator call is that free; other free-only threads free blocks from main.
 *
 * Proves: no crash or corruption; every destructor round ran; and nothing
 * leaks: in-use bytes (mallinfo2) and RSS stay flat over THREADS threads, so a
 * cache rebuilt inside a late destructor is torn down again. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum { THREADS = 4000, REARM = 2 };

static pthread_key_t key_early, key_late;
static atomic_int dtor_runs;

/* Blocks that outlive the thread that allocated them: a lock-free stack
 * linked through the blocks' first word. */
static _Atomic(void **) survivors;

static void push_survivor(void **p) {
  void **head = atomic_load(&survivors);
  do *p = head;
  while (!atomic_compare_exchange_weak(&survivors, &head, p));
}

static void **pop_survivor(void) {
  /* Only main pops, so there is no ABA problem. */
  void **head = atomic_load(&survivors);
  while (head && !atomic_compare_exchange_weak(&survivors, &head, *head)) {
  }
  return head;
}

struct value {
  uint64_t stamp;
  int rearms;
};

static struct value *new_value(int rearms) {
  struct value *v = malloc(sizeof *v);
  CHECK(v != NULL);
  v->stamp = (uintptr_t)v ^ 0x7d7d7d7d7d7d7d7dull;
  v->rearms = rearms;
  return v;
}

static void destructor(pthread_key_t key, void *arg) {
  struct value *v = arg;
  CHECK_MSG(v->stamp == ((uintptr_t)v ^ 0x7d7d7d7d7d7d7d7dull),
            "TSD value %p corrupted before its destructor", arg);
  atomic_fetch_add(&dtor_runs, 1);
  static const size_t sizes[] = {24, 700, 5000, 100000};
  void *b[4];
  for (int i = 0; i < 4; i++) {
    b[i] = malloc(sizes[i]);
    CHECK(b[i] != NULL);
    memset(b[i], 0x3c, sizes[i]);
  }
  for (int i = 1; i < 4; i++) free(b[i]);
  push_survivor(b[0]);
  int rearms = v->rearms;
  free(v);
  /* Setting a value again makes glibc call the destructor once more (up to
   * PTHREAD_DESTRUCTOR_ITERATIONS rounds). */
  if (rearms > 0) CHECK(pthread_setspecific(key, new_value(rearms - 1)) == 0);
}

static void destructor_early(void *arg) { destructor(key_early, arg); }
static void destructor_late(void *arg) { destructor(key_late, arg); }

__attribute__((constructor(101))) static void make_early_key(void) {
  if (pthread_key_create(&key_early, destructor_early) != 0) abort();
}

static void *worker(void *arg) {
  (void)arg;
  CHECK(pthread_setspecific(key_early, new_value(REARM)) == 0);
  CHECK(pthread_setspecific(key_late, new_value(REARM)) == 0);
  free(test_opaque(malloc(64)));
  return NULL;
}

/* This thread's only allocator call is free() of a block from elsewhere. */
static void *free_only(void *arg) {
  free(arg);
  return NULL;
}

static void run_round(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  /* Free the destructors' survivors, each from a fresh free-only thread. */
  void **p;
  while ((p = pop_survivor())) {
    CHECK(pthread_create(&t, NULL, free_only, p) == 0);
    CHECK(pthread_join(t, NULL) == 0);
  }
  /* And a block main allocated, freed by a free-only thread. */
  void *m = malloc(200);
  CHECK(m != NULL);
  CHECK(pthread_create(&t, NULL, free_only, m) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

int main(void) {
  test_require_hugeslab();
  free(test_opaque(malloc(16))); /* the allocator is set up from here on */
  CHECK(pthread_key_create(&key_late, destructor_late) == 0);

  for (int i = 0; i < 32; i++) run_round(); /* warm-up */
  int runs_before = atomic_load(&dtor_runs);
  size_t before = test_in_use();
  long rss_before = test_rss_kib();

  for (int i = 0; i < THREADS; i++) run_round();

  size_t after = test_in_use();
  long rss_after = test_rss_kib();
  int runs = atomic_load(&dtor_runs) - runs_before;
  printf("tsd_dtor: %d threads, %d destructor runs, in use %zu -> %zu, "
         "RSS %ld -> %ld KiB\n",
         THREADS, runs, before, after, rss_before, rss_after);
  CHECK_MSG(runs == THREADS * 2 * (REARM + 1), "%d destructor runs, want %d",
            runs, THREADS * 2 * (REARM + 1));
  CHECK_MSG(after <= before + (size_t)THREADS * 64,
            "in-use bytes grew by %zu over %d threads (blocks allocated or "
            "freed in TSD destructors leak)", after - before, THREADS);
  CHECK_MSG(rss_after - rss_before < 8 * 1024,
            "RSS grew by %ld KiB over %d threads", rss_after - rss_before,
            THREADS);
  return 0;
}
