/* A thread's cache sheds the slots of a class it stopped using: a worker
 * frees 64 KiB of 2 KiB blocks into its cache (the stats' tcache bytes,
 * hs_ctl_get("stats.tcache"), read from the main thread), then works only
 * with 16-byte blocks; after a few hundred of its slow-path calls at least
 * half of the idle 2 KiB stack has gone back to its slabs. */
#include <pthread.h>
#include <stdint.h>
#include "hugeslab.h"
#include "testutil.h"

TEST_WEAK(hs_ctl_get) /* the -plain twin finds it in the preloaded library */

static size_t cached_bytes(void) {
  uint64_t v;
  size_t len = sizeof v;
  CHECK(hs_ctl_get("stats.tcache", &v, &len) == 0);
  return (size_t)v;
}

static pthread_barrier_t step;

static void *worker(void *arg) {
  (void)arg;
  enum { BIG = 32, SMALL = 600 };
  void *big[BIG], *small[SMALL];
  for (int i = 0; i < BIG; i++) CHECK((big[i] = malloc(2048)) != NULL);
  for (int i = 0; i < BIG; i++) free(big[i]);
  pthread_barrier_wait(&step); /* main measures */
  pthread_barrier_wait(&step);
  for (int round = 0; round < 400; round++) {
    for (int i = 0; i < SMALL; i++) CHECK((small[i] = test_opaque(malloc(16))) != NULL);
    for (int i = 0; i < SMALL; i++) free(small[i]);
  }
  pthread_barrier_wait(&step); /* main measures again */
  pthread_barrier_wait(&step);
  return NULL;
}

int main(void) {
  test_require_hugeslab();
  pthread_t t;
  CHECK(pthread_barrier_init(&step, NULL, 2) == 0);
  CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
  pthread_barrier_wait(&step);
  size_t before = cached_bytes();
  pthread_barrier_wait(&step);
  pthread_barrier_wait(&step);
  size_t after = cached_bytes();
  pthread_barrier_wait(&step);
  CHECK(pthread_join(t, NULL) == 0);
  printf("thread caches with the worker's idle 2 KiB stack: %zu bytes; after its 16 B work: %zu\n", before, after);
  /* Half of 64 KiB shed; the 16-byte stack may hold at most a few KiB. */
  CHECK_MSG(before >= after + (24 << 10), "the idle stack was not shed (%zu -> %zu)", before, after);
  return 0;
}
