/* Freed blocks are never written by the allocator, and
 * no metadata shares a page with user data. Blocks are filled with a pattern,
 * freed through every path (thread-cache push, cache flush to the arena,
 * free from another thread, realloc moving a block), and the freed bytes are
 * read back while live neighbours (every third block) keep each slab, and
 * so its pages, alive.
 * Reading freed memory is undefined for a program, but this test knows the
 * allocator keeps a slab with a live block mapped. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hugeslab.h"
#include "testutil.h"

#define N 4096
static const size_t sizes[] = {16, 48, 128, 640, 4096, 20480};
static unsigned char *blocks[N];

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31 + i * 7 + 1);
}
static void verify(const unsigned char *p, size_t n, unsigned seed, const char *how) {
  for (size_t i = 0; i < n; i++)
    CHECK_MSG(p[i] == (unsigned char)(seed * 31 + i * 7 + 1), "%s: byte %zu of a freed %zu-byte block was written", how, i, n);
}

static unsigned char *handed[N];
static int handed_count;

/* Frees the handed-over blocks on its own thread (cache, then exit flush). */
static void *free_handed(void *arg) {
  (void)arg;
  for (int i = 0; i < handed_count; i++) free(handed[i]);
  return NULL;
}

int main(void) {
  test_require_hugeslab();
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    int count = n >= 4096 ? 64 : N;
    for (int i = 0; i < count; i++) {
      blocks[i] = malloc(n);
      CHECK(blocks[i]);
      fill(blocks[i], n, (unsigned)i);
    }
    /* Every third block stays live, so no slab empties (an empty slab's
     * pages may go back to the kernel and read zero: not the allocator
     * writing a freed block). Blocks 1 mod 3 are freed on this thread:
     * pushes, then whole-stack flushes. */
    for (int i = 1; i < count; i += 3) free(blocks[i]);
    hs_thread_flush();
    for (int i = 1; i < count; i += 3) verify(blocks[i], n, (unsigned)i, "free+flush");
    /* Blocks 2 mod 3 are freed by another thread. */
    pthread_t t;
    handed_count = 0;
    for (int i = 2; i < count; i += 3) handed[handed_count++] = blocks[i];
    CHECK(pthread_create(&t, NULL, free_handed, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    for (int i = 2; i < count; i += 3) verify(blocks[i], n, (unsigned)i, "cross-thread free");
    for (int i = 1; i < count; i += 3) verify(blocks[i], n, (unsigned)i, "free+flush, later");
    for (int i = 0; i < count; i += 3) free(blocks[i]);
  }
  /* realloc that moves leaves the old block's bytes as they were. */
  unsigned char *keep = malloc(64), *p = malloc(64);
  fill(p, 64, 5);
  unsigned char *q = realloc(p, 4000);
  CHECK(q && q != p);
  verify(p, 64, 5, "realloc move");
  free(q);
  free(keep);
  printf("freed blocks untouched\n");
  return 0;
}
