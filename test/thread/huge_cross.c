/* Large and huge blocks freed by other threads, and blocks that outlive the
 * thread that allocated them (after mimalloc's
 * heap_thread_free_large, heap_late_free and test_thread_leak).
 *
 * Each round:
 *   A. a thread allocates huge and large blocks and exits; main frees them
 *      afterwards (the owner is gone);
 *   B. a producer thread allocates huge blocks and passes them one by one to
 *      a consumer thread that frees them while the producer is still running;
 *   C. a thread allocates, exits, and a second, fresh thread frees.
 * Every block is stamped at its first and last byte and every 4 KiB, and
 * checked before the free. Afterwards in-use bytes (mallinfo2), RSS and the
 * mapped size must be back near where they started: a huge block freed from
 * the "wrong" thread that is never unmapped shows up as VmSize growth of
 * gigabytes. */
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum { ROUNDS = 60, PER_THREAD = 4, PIPE = 8 };

static const size_t sizes[] = {((size_t)2 << 20) + 1, (size_t)5 << 20,
                               (size_t)11 << 20, 300000};

static unsigned char mark(const void *p, size_t i) {
  return (unsigned char)(((uintptr_t)p >> 12) + i / 4096 + 1);
}

static void *alloc_stamped(size_t size) {
  unsigned char *p = malloc(size);
  CHECK_MSG(p != NULL, "malloc(%zu) failed", size);
  for (size_t i = 0; i < size; i += 4096) p[i] = mark(p, i);
  p[size - 1] = mark(p, size - 1);
  return p;
}

static void check_free(void *block, size_t size) {
  unsigned char *p = block;
  for (size_t i = 0; i < size; i += 4096)
    CHECK_MSG(p[i] == mark(p, i), "block %p (%zu bytes) byte %zu changed",
              block, size, i);
  CHECK(p[size - 1] == mark(p, size - 1));
  free(p);
}

/* A. */
static void *alloc_and_exit(void *arg) {
  void **out = arg;
  for (int i = 0; i < PER_THREAD; i++) out[i] = alloc_stamped(sizes[i % 4]);
  return NULL;
}

/* B: a one-slot-per-block pipe between a live producer and a consumer. */
static _Atomic(void *) pipe_slots[PIPE];

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < PIPE; i++)
    atomic_store(&pipe_slots[i], alloc_stamped(sizes[i % 4]));
  /* Stay alive (and allocating) while the consumer frees. */
  for (int i = 0; i < PIPE; i++) {
    while (atomic_load(&pipe_slots[i])) check_free(alloc_stamped(4096), 4096);
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  for (int i = 0; i < PIPE; i++) {
    void *p;
    while (!(p = atomic_load(&pipe_slots[i]))) sched_yield();
    check_free(p, sizes[i % 4]);
    atomic_store(&pipe_slots[i], NULL);
  }
  return NULL;
}

/* C. */
static void *free_later(void *arg) {
  void **blocks = arg;
  for (int i = 0; i < PER_THREAD; i++) check_free(blocks[i], sizes[i % 4]);
  return NULL;
}

static void run_round(void) {
  pthread_t a, b;
  void *blocks[PER_THREAD];

  CHECK(pthread_create(&a, NULL, alloc_and_exit, blocks) == 0);
  CHECK(pthread_join(a, NULL) == 0);
  for (int i = 0; i < PER_THREAD; i++) check_free(blocks[i], sizes[i % 4]);

  CHECK(pthread_create(&a, NULL, producer, NULL) == 0);
  CHECK(pthread_create(&b, NULL, consumer, NULL) == 0);
  CHECK(pthread_join(a, NULL) == 0);
  CHECK(pthread_join(b, NULL) == 0);

  CHECK(pthread_create(&a, NULL, alloc_and_exit, blocks) == 0);
  CHECK(pthread_join(a, NULL) == 0);
  CHECK(pthread_create(&b, NULL, free_later, blocks) == 0);
  CHECK(pthread_join(b, NULL) == 0);
}

int main(void) {
  test_require_hugeslab();
  for (int i = 0; i < 2; i++) run_round(); /* warm-up */
  size_t before = test_in_use();
  long vsz_before, rss_before, vsz_after, rss_after;
  test_vm_kib(&vsz_before, &rss_before);

  for (int i = 0; i < ROUNDS; i++) run_round();

  size_t after = test_in_use();
  test_vm_kib(&vsz_after, &rss_after);
  printf("huge_cross: %d rounds, in use %zu -> %zu, VmSize %ld -> %ld KiB, "
         "RSS %ld -> %ld KiB\n",
         ROUNDS, before, after, vsz_before, vsz_after, rss_before, rss_after);
  /* About 2.3 GB of huge blocks went through; a few cached are fine. */
  CHECK_MSG(after <= before + (1u << 20), "in-use bytes grew by %zu",
            after - before);
  CHECK_MSG(vsz_after - vsz_before < 256 * 1024,
            "mapped size grew by %ld KiB: huge blocks freed by another thread "
            "are not unmapped", vsz_after - vsz_before);
  CHECK_MSG(rss_after - rss_before < 64 * 1024, "RSS grew by %ld KiB",
            rss_after - rss_before);
  return 0;
}
