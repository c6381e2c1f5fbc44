/* hugeslab-specific behaviour of growth, reuse and return (not glibc's):
 *  1. realloc growing a page run a little at a time moves it at most
 *     O(log n) times (in-place growth, else 25% headroom), contents intact;
 *  2. a huge block grows in place within its reservation (8 MiB of room);
 *  3. a freed huge block is kept and reused for the next request of its
 *     size, and malloc_trim gives it back (VmSize drops);
 *  3b. a request too big for any cached block takes a cached block's
 *     faulted pages (moved, not copied): malloc shows the old bytes, and
 *     calloc still returns zeros;
 *  4. a block freed by a thread bound to another arena is not handed out
 *     again by that thread (it goes back to its own arena): no two threads
 *     end up sharing a cache line through reuse. Skipped with one arena. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

static void fill(unsigned char *p, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) p[i] = (unsigned char)(i * 13 + 7);
}
static void verify(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) CHECK_MSG(p[i] == (unsigned char)(i * 13 + 7), "byte %zu lost", i);
}

static void page_run_growth(void) {
  /* Interleave two growing buffers so neither can always grow in place. */
  size_t n = 40 << 10;
  unsigned char *a = malloc(n), *b = malloc(n);
  CHECK(a && b);
  fill(a, 0, n);
  fill(b, 0, n);
  int moves = 0;
  for (; n + 1024 <= (1 << 20); n += 1024) {
    unsigned char *a2 = realloc(a, n + 1024), *b2 = realloc(b, n + 1024);
    CHECK(a2 && b2);
    moves += (a2 != a) + (b2 != b);
    a = a2;
    b = b2;
    fill(a, n, n + 1024);
    fill(b, n, n + 1024);
  }
  verify(a, n);
  verify(b, n);
  /* 40 KiB -> 1 MiB is a factor of 25.6; with 25% headroom per move that
   * is at most ceil(log(25.6)/log(1.25)) = 15 moves per buffer. */
  CHECK_MSG(moves <= 30, "page runs moved %d times while growing (want <= 30)", moves);
  free(a);
  free(b);
}

static void huge_growth(void) {
  size_t n = 2 << 20;
  unsigned char *p = malloc(n);
  CHECK(p);
  fill(p, 0, n);
  for (; n < (8 << 20); n += 4096 * 7) {
    unsigned char *q = realloc(p, n + 4096 * 7);
    CHECK(q);
    CHECK_MSG(q == p, "huge block moved at %zu bytes", n);
    fill(q, n, n + 4096 * 7);
  }
  verify(p, n);
  /* Shrinking keeps it in place too. */
  CHECK(realloc(p, 3 << 20) == p);
  verify(p, 3 << 20);
  free(p);
}

static void huge_reuse_and_trim(void) {
  malloc_trim(0);
  size_t n = 24 << 20;
  void *p = malloc(n);
  CHECK(p);
  memset(p, 1, n);
  free(p);
  void *q = malloc(n);
  CHECK_MSG(q == p, "freed huge block not reused (%p then %p)", p, q);
  free(q);
  long before = test_vm_size_kib();
  CHECK(malloc_trim(0) == 1);
  long after = test_vm_size_kib();
  CHECK_MSG(before - after >= (long)(n >> 10), "malloc_trim returned only %ld KiB of a %zu KiB cached block", before - after, n >> 10);
}

static void huge_pages_adopted(void) {
  malloc_trim(0);
  size_t small = 32 << 20, big = 100 << 20;
  unsigned char *p = malloc(small);
  CHECK(p);
  memset(p, 0xab, small);
  free(p);
  unsigned char *q = malloc(big); /* cannot grow the 32 MiB reservation */
  CHECK(q);
  CHECK_MSG(q[0] == 0xab && q[small - 1] == 0xab, "cached pages were not reused for a bigger block");
  free(q);
  malloc_trim(0);
  p = malloc(small);
  CHECK(p);
  memset(p, 0xcd, small);
  free(p);
  q = calloc(1, big);
  CHECK(q);
  for (size_t i = 0; i < big; i += 512) CHECK_MSG(q[i] == 0, "calloc byte %zu not zero after reusing pages", i);
  CHECK(q[big - 1] == 0);
  free(q);
  malloc_trim(0);
}

static int arena_count(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f);
  CHECK(malloc_info(0, f) == 0);
  fclose(f);
  const char *at = strstr(buf, "name=\"arenas\" value=\"");
  CHECK(at);
  int n = atoi(at + strlen("name=\"arenas\" value=\""));
  test_free_libc(buf);
  return n;
}

static void *blocks[64];
static int reused;

static void *free_then_allocate(void *arg) {
  (void)arg;
  for (int i = 0; i < 64; i++) free(blocks[i]);
  for (int i = 0; i < 64; i++) {
    void *p = malloc(48);
    for (int j = 0; j < 64; j++) reused += p == blocks[j];
    free(p);
  }
  return NULL;
}

static void remote_frees(void) {
  if (arena_count() < 2) {
    printf("remote frees: one arena, skipped\n");
    return;
  }
  /* Threads are bound to arenas in turn, so of two fresh threads at least
   * one is on another arena than the main thread, which allocates the
   * blocks; that thread must not get any of them back from malloc. */
  int clean_runs = 0;
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i < 64; i++) CHECK((blocks[i] = malloc(48)));
    reused = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, free_then_allocate, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    clean_runs += reused == 0;
  }
  CHECK_MSG(clean_runs >= 1, "every thread reused blocks another arena's thread allocated");
}

int main(void) {
  test_require_hugeslab();
  page_run_growth();
  huge_growth();
  huge_reuse_and_trim();
  huge_pages_adopted();
  remote_frees();
  printf("growth: ok\n");
  return 0;
}
