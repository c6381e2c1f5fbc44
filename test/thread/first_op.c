/* The first allocator call on a fresh thread is each API in turn
 * (after snmalloc's first_operation test).
 *
 * For every (API, size) pair a new thread is created whose very first
 * allocator call is that API: free / free_sized / free_aligned_sized /
 * realloc of a block main allocated, realloc(NULL), malloc, calloc,
 * aligned_alloc, posix_memalign, memalign, valloc, malloc_usable_size. Sizes
 * cover small, large (page run) and huge (own mapping). Lazy per-thread setup
 * must work from each entry point: the call must give a correct result
 * (alignment, usable size, zeroed calloc, realloc keeps contents), and the
 * thread must be able to allocate normally afterwards. free_sized and
 * free_aligned_sized are skipped where the allocator does not export them
 * (glibc before 2.41). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hugeslab.h"
#include "testutil.h"

TEST_WEAK(free_sized)
TEST_WEAK(free_aligned_sized)

enum api {
  API_FREE,
  API_FREE_SIZED,
  API_FREE_ALIGNED_SIZED,
  API_REALLOC,
  API_REALLOC_NULL,
  API_MALLOC,
  API_CALLOC,
  API_ALIGNED_ALLOC,
  API_POSIX_MEMALIGN,
  API_MEMALIGN,
  API_VALLOC,
  API_USABLE_SIZE,
  API_COUNT
};

static const char *const api_names[API_COUNT] = {
    "free", "free_sized", "free_aligned_sized", "realloc", "realloc(NULL)",
    "malloc", "calloc", "aligned_alloc", "posix_memalign", "memalign",
    "valloc", "malloc_usable_size"};

static const size_t sizes[] = {16, 3000, 100000, (size_t)4 << 20};

struct job {
  enum api api;
  size_t size;
  void *foreign; /* a block main allocated, for the APIs that take one */
  void *result;  /* what the thread returns for main to free */
};

static void fill(void *p, size_t n) {
  for (size_t i = 0; i < n; i++) ((unsigned char *)p)[i] = (unsigned char)(i * 7);
}

static void check_fill(const void *p, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    CHECK_MSG(((const unsigned char *)p)[i] == (unsigned char)(i * 7),
              "%s: byte %zu lost", what, i);
}

static void check_block(const struct job *j, void *p, size_t align) {
  CHECK_MSG(p != NULL, "%s(%zu) returned NULL on a fresh thread",
            api_names[j->api], j->size);
  CHECK_MSG((uintptr_t)p % align == 0, "%s(%zu) = %p not %zu-aligned",
            api_names[j->api], j->size, p, align);
  CHECK_MSG(malloc_usable_size(p) >= j->size, "%s(%zu): usable size %zu",
            api_names[j->api], j->size, malloc_usable_size(p));
  memset(p, 0x11, j->size);
}

static void *thread_main(void *arg) {
  struct job *j = arg;
  size_t n = j->size;
  void *p = NULL;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  switch (j->api) {
  case API_FREE:
    free(j->foreign);
    break;
  case API_FREE_SIZED:
    free_sized(j->foreign, n);
    break;
  case API_FREE_ALIGNED_SIZED:
    free_aligned_sized(j->foreign, 64, n);
    break;
  case API_REALLOC:
    p = realloc(j->foreign, 2 * n);
    CHECK_MSG(p != NULL, "realloc(%zu -> %zu) failed", n, 2 * n);
    check_fill(p, n, "realloc on a fresh thread");
    j->size = 2 * n;
    check_block(j, p, 16);
    break;
  case API_REALLOC_NULL:
    p = realloc(NULL, n);
    check_block(j, p, 16);
    break;
  case API_MALLOC:
    p = malloc(n);
    check_block(j, p, 16);
    break;
  case API_CALLOC:
    p = calloc(1, n);
    CHECK_MSG(p != NULL, "calloc(1, %zu) failed", n);
    for (size_t i = 0; i < n; i++)
      CHECK_MSG(((unsigned char *)p)[i] == 0, "calloc(1, %zu) byte %zu not 0",
                n, i);
    check_block(j, p, 16);
    break;
  case API_ALIGNED_ALLOC:
    p = aligned_alloc(256, n);
    check_block(j, p, 256);
    break;
  case API_POSIX_MEMALIGN:
    CHECK(posix_memalign(&p, 4096, n) == 0);
    check_block(j, p, 4096);
    break;
  case API_MEMALIGN:
    p = memalign(128, n);
    check_block(j, p, 128);
    break;
  case API_VALLOC:
    p = valloc(n);
    check_block(j, p, page);
    break;
  case API_USABLE_SIZE:
    CHECK_MSG(malloc_usable_size(j->foreign) >= n,
              "malloc_usable_size of a %zu-byte block on a fresh thread = %zu",
              n, malloc_usable_size(j->foreign));
    break;
  case API_COUNT:
    abort();
  }
  j->result = p;
  /* The thread must be fully usable after its first call. */
  for (size_t s = 16; s <= (size_t)1 << 20; s *= 4) {
    void *q = malloc(s);
    CHECK_MSG(q != NULL, "malloc(%zu) after %s failed", s, api_names[j->api]);
    memset(q, 0x22, s);
    free(q);
  }
  return NULL;
}

int main(void) {
  test_require_hugeslab();
  int ran = 0, skipped = 0;
  for (int api = 0; api < API_COUNT; api++) {
    if ((api == API_FREE_SIZED && !free_sized) ||
        (api == API_FREE_ALIGNED_SIZED && !free_aligned_sized)) {
      skipped++;
      continue;
    }
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      struct job j = {(enum api)api, sizes[s], NULL, NULL};
      if (api == API_FREE_ALIGNED_SIZED)
        j.foreign = aligned_alloc(64, sizes[s]);
      else if (api == API_FREE || api == API_FREE_SIZED ||
               api == API_REALLOC || api == API_USABLE_SIZE)
        j.foreign = malloc(sizes[s]);
      if (j.foreign) fill(j.foreign, sizes[s]);
      else
        CHECK(api != API_FREE && api != API_FREE_SIZED &&
              api != API_FREE_ALIGNED_SIZED && api != API_REALLOC &&
              api != API_USABLE_SIZE);
      pthread_t t;
      CHECK(pthread_create(&t, NULL, thread_main, &j) == 0);
      CHECK(pthread_join(t, NULL) == 0);
      free(j.result);
      if (api == API_USABLE_SIZE) free(j.foreign);
      ran++;
    }
  }
  printf("first_op: %d (API, size) pairs, %d APIs not exported\n", ran,
         skipped);
  return 0;
}
