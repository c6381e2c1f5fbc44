/* The first call of the process, of any size and from any entry point, is
 * served right.
 *
 * Each case runs in a fresh process (this program re-executes itself with the
 * case's name) from the executable's .preinit_array, which the dynamic loader
 * runs before any shared library's constructor, so libstdc++'s start-up
 * allocation (or anything else) cannot have initialised the allocator first.
 * The case's call is the allocator's first. A size class computed from a
 * table that start-up had not yet filled gave calloc(1, 1000) a 16-byte slot
 * (usable size 16, neighbours overwritten by the zeroing): here the usable
 * size, the zero fill and the neighbours are all checked. */
#include <malloc.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

extern char **environ;

struct first_case {
  const char *name;
  size_t size;  /* bytes the block must hold */
  size_t align; /* alignment it must have */
  int zeroed;   /* it must read as zero */
};

static const struct first_case cases[] = {
    {"calloc-1000", 1000, 16, 1},
    {"calloc-40000", 40000, 16, 1},
    {"calloc-3m", 3 << 20, 16, 1},
    {"malloc-1000", 1000, 16, 0},
    {"malloc-17", 17, 16, 0},
    {"malloc-40000", 40000, 16, 0},
    {"realloc-null-1000", 1000, 16, 0},
    {"aligned_alloc-64-1000", 1000, 64, 0},
    {"posix_memalign-4096-1000", 1000, 4096, 0},
    {"memalign-256-700", 700, 256, 0},
    {"valloc-1000", 1000, 4096, 0},
    {"free-null-then-calloc", 1000, 16, 1},
    {"usable-null-then-calloc", 1000, 16, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

static const struct first_case *chosen;
static void *first;

/* Runs before every shared object's constructor; calls nothing that
 * allocates before the case's call. */
static void run_first_call(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc < 2) return;
  for (size_t i = 0; i < NCASES; i++)
    if (strcmp(argv[1], cases[i].name) == 0) chosen = &cases[i];
  if (!chosen) return;
  const char *n = chosen->name;
  if (strcmp(n, "calloc-1000") == 0 || strcmp(n, "calloc-40000") == 0 || strcmp(n, "calloc-3m") == 0)
    first = calloc(1, chosen->size);
  else if (strncmp(n, "malloc-", 7) == 0) first = malloc(chosen->size);
  else if (strcmp(n, "realloc-null-1000") == 0) first = realloc(NULL, 1000);
  else if (strcmp(n, "aligned_alloc-64-1000") == 0) first = aligned_alloc(64, 1000);
  else if (strcmp(n, "posix_memalign-4096-1000") == 0) {
    if (posix_memalign(&first, 4096, 1000) != 0) first = NULL;
  } else if (strcmp(n, "memalign-256-700") == 0) first = memalign(256, 700);
  else if (strcmp(n, "valloc-1000") == 0) first = valloc(1000);
  else if (strcmp(n, "free-null-then-calloc") == 0) {
    free(NULL);
    first = calloc(1000, 1);
  } else if (strcmp(n, "usable-null-then-calloc") == 0) {
    if (malloc_usable_size(NULL) != 0) return;
    first = calloc(10, 100);
  }
}

__attribute__((section(".preinit_array"), used)) static void (*const run_first_call_ptr)(int, char **, char **) =
    run_first_call;

/* In the case's process: the block is right, and so are its neighbours. */
static int check_case(void) {
  test_require_hugeslab();
  CHECK_MSG(first != NULL, "%s: the first call returned NULL", chosen->name);
  size_t usable = malloc_usable_size(first);
  CHECK_MSG(usable >= chosen->size, "%s: usable size %zu < %zu", chosen->name, usable, chosen->size);
  CHECK_MSG((uintptr_t)first % chosen->align == 0, "%s: %p not aligned to %zu", chosen->name, first,
            chosen->align);
  unsigned char *b = first;
  if (chosen->zeroed)
    for (size_t i = 0; i < chosen->size; i++) CHECK_MSG(b[i] == 0, "%s: byte %zu not zero", chosen->name, i);
  memset(b, 0xa5, chosen->size);
  /* Blocks of every small size land beside it (or not): none may overlap. */
  enum { NEIGHBOURS = 400 };
  unsigned char *other[NEIGHBOURS];
  for (int i = 0; i < NEIGHBOURS; i++) {
    size_t n = (size_t)(i % 70) * 16 + 1;
    other[i] = malloc(n);
    CHECK(other[i]);
    CHECK_MSG(other[i] + n <= b || other[i] >= b + chosen->size, "%s: block %p of %zu overlaps the first block %p",
              chosen->name, (void *)other[i], n, first);
    memset(other[i], i & 0xff, n);
  }
  for (size_t i = 0; i < chosen->size; i++) CHECK_MSG(b[i] == 0xa5, "%s: byte %zu overwritten", chosen->name, i);
  for (int i = 0; i < NEIGHBOURS; i++) free(other[i]);
  free(first);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2) {
    CHECK_MSG(chosen != NULL, "unknown case %s", argv[1]);
    return check_case();
  }
  test_require_hugeslab();
  int failed = 0;
  for (size_t i = 0; i < NCASES; i++) {
    char *args[] = {argv[0], (char *)cases[i].name, NULL};
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("%s: %s\n", ok ? "PASS" : "FAIL", cases[i].name);
    failed += !ok;
  }
  return failed ? 1 : 0;
}
