/* The metadata allocator (linked with src/meta.c and src/os.c) reuses freed
 * blocks lowest address first, so the descriptors of a heap that shrank and
 * grew again pack into the lowest pages, and the pages above them, holding
 * no live block, go back on meta_purge. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include "meta.h"
#include "os.h"
#include "testutil.h"

/* fork.c's, which the locks read: no fork here. */
pthread_t hs_fork_owner;
int hs_fork_active;

#define N 4096
#define SIZE 256

static int compare_ptrs(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  static void *blocks[N], *sorted[N];
  for (int i = 0; i < N; i++) CHECK((blocks[i] = meta_alloc(SIZE)) != NULL);
  /* Free in a scrambled order (a step coprime with N). */
  for (int i = 0; i < N; i++) meta_free(blocks[(size_t)i * 1237 % N], SIZE);
  CHECK_MSG(meta_purge(1) >= (size_t)N * SIZE / 2, "a metadata heap with nothing live went back");
  memcpy(sorted, blocks, sizeof blocks);
  qsort(sorted, N, sizeof sorted[0], compare_ptrs);
  /* Growing again: each new block is the lowest free one. */
  for (int i = 0; i < N / 8; i++) {
    void *p = meta_alloc(SIZE);
    CHECK_MSG(p == sorted[i], "block %d: %p, the lowest free is %p", i, p, sorted[i]);
  }
  /* Freed and taken again out of order, still the lowest first. */
  for (int i = 0; i < N / 8; i += 2) meta_free(sorted[i], SIZE);
  for (int i = 0; i < N / 8; i += 2) CHECK(meta_alloc(SIZE) == sorted[i]);
  printf("meta_order: %d blocks reused lowest address first\n", N / 8);
  return 0;
}
