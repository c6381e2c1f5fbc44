/* Thread exit returns the thread's cache (after glibc's
 * tst-malloc-tcache-leak, bug 22111).
 *
 * Creates and joins THREADS threads one after another; each mallocs and frees
 * a few blocks of different size classes, so its cache holds free blocks when
 * it exits. If exit does not give them back, mallinfo2's in-use bytes grow by
 * at least one block per thread; the test allows about one byte per thread.
 * It also bounds RSS growth, which catches per-thread descriptors that are
 * never reused (100 000 leaked descriptors of even 1 KiB are 100 MB). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

enum { THREADS = 100000 };

static const size_t sizes[] = {16, 48, 128, 1024, 4096, 40000};

static void *thread_main(void *arg) {
  size_t i = (size_t)arg;
  void *a = malloc(sizes[i % 6]);
  void *b = malloc(sizes[(i + 1) % 6]);
  CHECK(a && b);
  memset(a, 1, sizes[i % 6]);
  free(test_opaque(a));
  free(test_opaque(b));
  return NULL;
}

static void run_one(size_t i) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_main, (void *)i) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

int main(void) {
  test_require_hugeslab();
  /* Warm-up: the first threads set up whatever stays for the process's
   * lifetime (arenas, the thread-stack cache, stdio buffers). */
  for (size_t i = 0; i < 64; i++) run_one(i);
  long rss_before = test_rss_kib();
  size_t before = test_in_use();

  for (size_t i = 0; i < THREADS; i++) run_one(i);

  size_t after = test_in_use();
  long rss_after = test_rss_kib();
  printf("exit_leak: %d threads, in use %zu -> %zu, RSS %ld -> %ld KiB\n",
         THREADS, before, after, rss_before, rss_after);
  CHECK_MSG(after <= before + THREADS,
            "in-use bytes grew by %zu over %d threads: exiting threads leak "
            "their caches", after - before, THREADS);
  CHECK_MSG(rss_after - rss_before < 64 * 1024,
            "RSS grew by %ld KiB over %d threads", rss_after - rss_before,
            THREADS);
  return 0;
}
