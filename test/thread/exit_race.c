/* Races between thread exit and allocation (after
 * glibc's tst-malloc-thread-exit).
 *
 * Each round starts three kinds of thread together:
 *   - "early" threads allocate, hand their blocks over, and exit at once, so
 *     their cache teardown races with another thread freeing those very
 *     blocks;
 *   - "alloc-wait" threads allocate, then wait at a barrier, then free;
 *   - "wait-alloc" threads wait at the barrier first, then allocate, so their
 *     first allocation (thread-state setup) races with exits.
 * A deadlock trips the alarm (SIGALRM kills: failure); a block
 * whose stamp changed while live fails a CHECK. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum { ROUNDS = 1000, KIND = 2, HANDOVER = 64 };

/* Blocks from early thread k pass through handover[k] to alloc-wait thread k
 * of the same round, which frees each as soon as it appears. */
static _Atomic(uint64_t *) handover[KIND][HANDOVER];
static pthread_barrier_t barrier;

static uint64_t *alloc_stamped(uint64_t *seed) {
  size_t size = (size_t)32 << (test_rand(seed) % 11); /* 32 B .. 32 KiB */
  if (test_rand(seed) % 64 == 0) size = 300000;       /* sometimes large */
  uint64_t *p = malloc(size);
  CHECK_MSG(p != NULL, "malloc(%zu) failed", size);
  p[0] = (uintptr_t)p ^ 0xfeedfacecafebeefull;
  p[1] = size;
  ((unsigned char *)p)[size - 1] = (unsigned char)size;
  return p;
}

static void check_free(uint64_t *p) {
  if (!p) return;
  CHECK_MSG(p[0] == ((uintptr_t)p ^ 0xfeedfacecafebeefull),
            "block %p stamp changed while live", (void *)p);
  CHECK_MSG(((unsigned char *)p)[p[1] - 1] == (unsigned char)p[1],
            "block %p tail byte changed while live", (void *)p);
  free(p);
}

struct job {
  int index;
  uint64_t seed;
};

static void *early_thread(void *arg) {
  struct job *j = arg;
  for (unsigned i = 0; i < HANDOVER; i++) {
    uint64_t *p = alloc_stamped(&j->seed);
    uint64_t *old = atomic_exchange(&handover[j->index][i], p);
    CHECK_MSG(old == NULL, "handover slot not emptied by the last round");
  }
  return NULL; /* exit at once; others free these blocks meanwhile */
}

static void *alloc_wait_thread(void *arg) {
  struct job *j = arg;
  uint64_t *mine[16];
  for (unsigned i = 0; i < 16; i++) mine[i] = alloc_stamped(&j->seed);
  /* Free the early thread's blocks as they arrive, while it exits. */
  for (unsigned i = 0; i < HANDOVER; i++) {
    uint64_t *p;
    while (!(p = atomic_exchange(&handover[j->index][i], NULL))) sched_yield();
    check_free(p);
  }
  pthread_barrier_wait(&barrier);
  for (unsigned i = 0; i < 16; i++) check_free(mine[i]);
  return NULL;
}

static void *wait_alloc_thread(void *arg) {
  struct job *j = arg;
  pthread_barrier_wait(&barrier);
  for (unsigned i = 0; i < 16; i++) check_free(alloc_stamped(&j->seed));
  return NULL;
}

int main(void) {
  test_require_hugeslab();
  alarm(60); /* a deadlock kills the test with SIGALRM */
  CHECK(pthread_barrier_init(&barrier, NULL, 2 * KIND) == 0);
  uint64_t seed = 45;
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t t[3 * KIND];
    struct job jobs[3 * KIND];
    for (int k = 0; k < KIND; k++) {
      for (int kind = 0; kind < 3; kind++) {
        struct job *j = &jobs[3 * k + kind];
        j->index = k;
        j->seed = test_rand(&seed);
      }
    }
    for (int k = 0; k < KIND; k++) {
      CHECK(pthread_create(&t[3 * k], NULL, early_thread, &jobs[3 * k]) == 0);
      CHECK(pthread_create(&t[3 * k + 1], NULL, alloc_wait_thread,
                           &jobs[3 * k + 1]) == 0);
      CHECK(pthread_create(&t[3 * k + 2], NULL, wait_alloc_thread,
                           &jobs[3 * k + 2]) == 0);
    }
    for (int i = 0; i < 3 * KIND; i++) CHECK(pthread_join(t[i], NULL) == 0);
  }
  for (int k = 0; k < KIND; k++)
    for (unsigned i = 0; i < HANDOVER; i++)
      CHECK(atomic_load(&handover[k][i]) == NULL);
  pthread_barrier_destroy(&barrier);
  printf("exit_race: %d rounds\n", ROUNDS);
  return 0;
}
