/* Under an address-space limit (RLIMIT_AS, `ulimit -v`) the allocator runs
 * in step with the heap and, when the limit is reached, returns NULL with
 * errno = ENOMEM from every entry point, never aborts, and keeps working for
 * what fits. The limit is set to what the process already maps plus 48 MiB
 * (linked programs map different libraries). In it: a request larger than
 * the whole limit fails; huge blocks, page runs and small blocks are each
 * allocated until the first NULL (every one ENOMEM, after a fair amount was
 * granted, so the heap does not pre-reserve the room); a failing realloc
 * leaves its block intact; the aligned family fails cleanly; after freeing,
 * the same kinds of blocks are granted again; a thread can still be started
 * and allocate. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "testutil.h"

#define MiB ((size_t)1 << 20)
#define MAX_BLOCKS 200000

static void *blocks[MAX_BLOCKS];

/* Allocate blocks of `size` until the first NULL; returns how many. */
static size_t fill(size_t size, const char *what) {
  size_t n = 0;
  for (;;) {
    CHECK_MSG(n < MAX_BLOCKS, "%s: %zu blocks of %zu and still no NULL", what, n, size);
    errno = 0;
    void *p = malloc(size);
    if (!p) {
      CHECK_MSG(errno == ENOMEM, "%s: NULL with errno %d", what, errno);
      return n;
    }
    ((char *)p)[0] = 1;
    ((char *)p)[size - 1] = 1;
    blocks[n++] = p;
  }
}

static void release(size_t n) {
  for (size_t i = 0; i < n; i++) free(blocks[i]);
}

static void *thread_main(void *arg) {
  (void)arg;
  void *p = malloc(1000);
  void *q = malloc(100000);
  if (p) memset(p, 1, 1000);
  free(p);
  free(q);
  return p;
}

int main(void) {
  test_require_hugeslab();
  long vm_kib, rss_kib;
  test_vm_kib(&vm_kib, &rss_kib);
  size_t limit = (size_t)vm_kib * 1024 + 48 * MiB;
  struct rlimit rl = {.rlim_cur = limit, .rlim_max = RLIM_INFINITY};
  CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

  errno = 0;
  CHECK_MSG(malloc(64 * MiB) == NULL && errno == ENOMEM, "64 MiB under a 48 MiB margin");
  errno = 0;
  CHECK(calloc(16, 4 * MiB) == NULL && errno == ENOMEM);

  size_t huge = fill(3 * MiB, "3 MiB blocks");
  CHECK_MSG(huge >= 4, "only %zu blocks of 3 MiB in a 48 MiB margin", huge);
  release(huge);
  size_t runs = fill(200 << 10, "200 KiB page runs");
  CHECK_MSG(runs >= 60, "only %zu page runs of 200 KiB in a 48 MiB margin", runs);
  release(runs);
  size_t small = fill(1000, "1000-byte blocks");
  CHECK_MSG(small >= 10000, "only %zu blocks of 1000 bytes in a 48 MiB margin", small);

  /* At the limit: every entry point fails cleanly, and realloc keeps p. */
  char *p = blocks[0];
  memset(p, 0x77, 1000);
  errno = 0;
  CHECK(realloc(p, 32 * MiB) == NULL && errno == ENOMEM);
  for (int i = 0; i < 1000; i++) CHECK(p[i] == 0x77);
  errno = 0;
  CHECK(aligned_alloc(4096, 8 * MiB) == NULL && errno == ENOMEM);
  void *out = &out;
  CHECK(posix_memalign(&out, 1 << 21, 8 * MiB) == ENOMEM && out == &out);
  errno = 0;
  CHECK(calloc(1, 8 * MiB) == NULL && errno == ENOMEM);
  release(small);

  /* Freed memory is granted again. */
  size_t again = fill(1000, "1000-byte blocks again");
  CHECK_MSG(again >= small * 9 / 10, "%zu blocks after freeing, %zu before", again, small);
  release(again);
  runs = fill(200 << 10, "page runs again");
  CHECK_MSG(runs >= 60, "only %zu page runs after freeing", runs);
  release(runs);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 * MiB);
  pthread_t t;
  void *result;
  CHECK(pthread_create(&t, &attr, thread_main, NULL) == 0);
  CHECK(pthread_join(t, &result) == 0 && result != NULL);
  printf("rlimit: limit %zu MiB: %zu huge, %zu page runs, %zu small blocks\n", limit / MiB, huge, runs, small);
  return 0;
}
