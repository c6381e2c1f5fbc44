/* A thread's cache sheds the slots of a class it stopped using: a worker
 * frees 64 KiB of 2 KiB blocks into its cache (still counted in use by
 * mallinfo2, which flushes only the calling thread's cache), then works
 * only with 16-byte blocks; after a few hundred of its slow-path calls at
 * least half of the idle 2 KiB stack has gone back to its slabs. */
#include <pthread.h>
#include "testutil.h"

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
  size_t before = test_in_use();
  pthread_barrier_wait(&step);
  pthread_barrier_wait(&step);
  size_t after = test_in_use();
  pthread_barrier_wait(&step);
  CHECK(pthread_join(t, NULL) == 0);
  printf("in use with the worker's idle 2 KiB stack: %zu bytes; after its 16 B work: %zu\n", before, after);
  /* Half of 64 KiB shed; the 16-byte stack may hold at most a few KiB. */
  CHECK_MSG(before >= after + (24 << 10), "the idle stack was not shed (%zu -> %zu)", before, after);
  return 0;
}
