/* test/valgrind/planted: one memory bug per case, for memcheck to report
 * (test/valgrind/planted.sh runs each case under Valgrind, linked and
 * preloaded, and checks memcheck's report). Case "clean" does every call
 * right and must leave memcheck with nothing to say. Each case takes its
 * block through a different path: small slots, page runs, huge blocks,
 * aligned blocks, realloc and calloc. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep the compiler from proving the bug and removing it. */
static void *volatile sink;
static void *volatile freed;
static char *opaque(void *p) {
  sink = p;
  return sink;
}

static int run(const char *c) {
  if (!strcmp(c, "leak")) {
    char *p = malloc(40);
    p[0] = 1;
    sink = NULL;
    p = NULL;
    return 0;
  }
  if (!strcmp(c, "overflow")) { /* the request fills its size class */
    char *p = opaque(malloc(48));
    p[48] = 1;
    free(p);
    return 0;
  }
  if (!strcmp(c, "overflow-run")) {
    char *p = opaque(malloc(20000));
    p[20000] = 1;
    free(p);
    return 0;
  }
  if (!strcmp(c, "overflow-huge")) {
    char *p = opaque(malloc(8u << 20));
    p[8u << 20] = 1;
    free(p);
    return 0;
  }
  if (!strcmp(c, "overflow-aligned")) {
    char *p = opaque(aligned_alloc(256, 256));
    p[256] = 1;
    free(p);
    return 0;
  }
  if (!strcmp(c, "underflow")) {
    char *a = malloc(32), *b = opaque(malloc(32));
    b[-1] = 1;
    free(a);
    free(b);
    return 0;
  }
  if (!strcmp(c, "use-after-free")) {
    char *p = malloc(32);
    sink = p;
    free(p);
    ((char *)sink)[3] = 2;
    return 0;
  }
  if (!strcmp(c, "use-after-reuse")) { /* the program allocated again in between */
    char *p = malloc(32);
    freed = p;
    free(p);
    for (int i = 0; i < 100; i++) sink = malloc(32); /* leaked */
    ((char *)freed)[3] = 2;
    return 0;
  }
  if (!strcmp(c, "use-after-free-run")) {
    char *p = malloc(20000);
    freed = p;
    free(p);
    free(malloc(20000));
    ((char *)freed)[100] = 2;
    return 0;
  }
  if (!strcmp(c, "stale-realloc")) { /* the old block, used after realloc moved it */
    char *p = malloc(16);
    sink = p;
    char *q = realloc(p, 24); /* fits in place without Valgrind */
    ((char *)sink)[0] = 1;
    free(q);
    return 0;
  }
  if (!strcmp(c, "uninitialised")) {
    char *p = opaque(malloc(64));
    if (p[10] == 42) puts("42");
    free(p);
    return 0;
  }
  if (!strcmp(c, "invalid-free")) {
    char *p = opaque(malloc(64));
    free(p + 16);
    return 0;
  }
  if (!strcmp(c, "double-free")) {
    char *p = opaque(malloc(24));
    free(p);
    free(opaque(p));
    return 0;
  }
  if (!strcmp(c, "clean")) {
    char *p = calloc(10, 10);
    for (int i = 0; i < 100; i++)
      if (p[i]) return 1;
    p = realloc(p, 5000);
    for (int i = 100; i < 5000; i++) p[i] = (char)i;
    p = realloc(p, 30);
    size_t u = malloc_usable_size(p);
    memset(p, 7, u);
    void *a;
    if (posix_memalign(&a, 4096, 100)) return 1;
    memset(a, 1, 100);
    char *h = malloc(5u << 20);
    memset(h, 1, 5u << 20);
    h = realloc(h, 9u << 20);
    h[(9u << 20) - 1] = 2;
    free(h);
    free(a);
    free(p);
    return 0;
  }
  if (!strcmp(c, "usable")) { /* which paths serve: memcheck's give the size asked */
    char *p = malloc(1);
    printf("usable %zu\n", malloc_usable_size(p));
    free(p);
    return 0;
  }
  fprintf(stderr, "planted: unknown case %s\n", c);
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: planted CASE\n");
    return 2;
  }
  return run(argv[1]);
}
