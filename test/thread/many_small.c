/* 100 threads that each allocate a little pay a little: each holds one block
 * of every class up to 512 B (about 2.9 KB), and while all of them are alive
 * the process's RSS has grown by at most 16 KiB a thread beyond what the
 * same 100 threads cost without allocating. A thread cache whose stacks all
 * lived in one 44 KB descriptor cost about 40 KiB a thread here.
 *
 * The threads that do not allocate run first: their stacks stay in glibc's
 * stack cache, so the second group reuses resident stacks and what it adds
 * is the allocator's. */
#include <pthread.h>
#include "testutil.h"

enum { THREADS = 100, MAX_SIZE = 512, PER_THREAD_KIB = 16 };

static pthread_barrier_t all_alive, measured;
static int allocate;

static void *worker(void *arg) {
  (void)arg;
  void *blocks[MAX_SIZE / 16];
  int n = 0;
  if (allocate) {
    for (size_t size = 16; size <= MAX_SIZE; size += size < 128 ? 16 : size / 4) {
      CHECK((blocks[n] = malloc(size)) != NULL);
      memset(blocks[n], 0x5a, size);
      n++;
    }
  }
  pthread_barrier_wait(&all_alive);
  pthread_barrier_wait(&measured);
  for (int i = 0; i < n; i++) free(blocks[i]);
  return NULL;
}

/* RSS growth (KiB) while THREADS workers are alive. */
static long group_cost(int with_blocks) {
  pthread_t t[THREADS];
  allocate = with_blocks;
  CHECK(pthread_barrier_init(&all_alive, NULL, THREADS + 1) == 0);
  CHECK(pthread_barrier_init(&measured, NULL, THREADS + 1) == 0);
  long before = test_rss_kib();
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
  pthread_barrier_wait(&all_alive);
  long during = test_rss_kib();
  pthread_barrier_wait(&measured);
  for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
  pthread_barrier_destroy(&all_alive);
  pthread_barrier_destroy(&measured);
  return during - before;
}

int main(void) {
  test_require_hugeslab();
  free(test_opaque(malloc(1))); /* the main thread's own start-up is not counted */
  long bare = group_cost(0);
  long with = group_cost(1);
  long per_thread = (with - bare) / THREADS;
  printf("RSS while %d threads are alive: %ld KiB without blocks, %ld KiB with; %ld KiB a thread for its blocks\n",
         THREADS, bare, with, per_thread);
  CHECK_MSG(per_thread <= PER_THREAD_KIB, "%ld KiB a thread for 2.9 KB of blocks (at most %d)", per_thread,
            PER_THREAD_KIB);
  return 0;
}
