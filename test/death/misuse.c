/* Death tests: misuse the core must detect.
 *
 * Usage: misuse CASE. Each case sets up live blocks, prints the pointer it is
 * about to misuse on stdout as "0x..." (flushed, so it survives the abort),
 * then commits the bug. test/death/run.sh checks that the process died of
 * SIGABRT and that stderr is exactly one line
 *     hugeslab: CALL(): REASON 0xPTR
 * with PTR equal to the printed pointer.
 *
 * Every case first allocates a live neighbour of the same size: a small double
 * free is only guaranteed to say "double free" while another block of its size
 * class is live (a class with no live block may have released its slab).
 *
 * The case functions are compiled at -O0 and pass pointers through volatile
 * variables and test_opaque(), so the compiler cannot remove or reorder the
 * bug. A case that returns instead of dying exits with status 3, which the
 * runner reports as "no abort". */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hugeslab.h"
#include "testutil.h"

/* glibc before 2.41 has no free_sized: the -plain twin gets it from the
 * preloaded library, and a weak reference keeps it linkable without. */
TEST_WEAK(free_sized)
TEST_WEAK(hs_pool_create)
TEST_WEAK(hs_pool_malloc)
TEST_WEAK(hs_pool_seal)
TEST_WEAK(hs_pool_destroy)

#ifdef __clang__
#define CASE __attribute__((noinline, optnone)) static void
#else
#define CASE __attribute__((noinline, optimize("O0"))) static void
#endif

static void show(const void *p) {
  printf("%p\n", (void *)p);
  fflush(stdout);
}

/* A live block of `size` bytes that stays allocated until the process dies. */
static void *neighbour(size_t size) {
  void *n = malloc(size);
  CHECK(n != NULL);
  memset(n, 0x5a, size);
  return test_opaque(n);
}

static void *alloc(size_t size) {
  void *p = malloc(size);
  CHECK(p != NULL);
  memset(p, 0xa5, size);
  return test_opaque(p);
}

/* Double free: free(p); free(p) of a small block; the second free finds the
 * slot still in this thread's cache. */
CASE case_double_free(void) {
  neighbour(48);
  void *volatile p = alloc(48);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  free(test_opaque(p));
}

/* Delayed double free: free(p); free(q); free(p): p is no longer on top of
 * the cache, so a check that only compares with the last freed block misses
 * it. */
CASE case_delayed_double_free(void) {
  neighbour(32);
  void *volatile p = alloc(32);
  void *volatile q = alloc(32);
  show(p);
  free(p);
  free(q);
  free(test_opaque(p));
}

/* A large (page-run) double free may say either reason, "double free" or
 * "invalid pointer" (run.sh accepts both). */
CASE case_double_free_large(void) {
  neighbour(200000);
  void *volatile p = alloc(200000);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  free(test_opaque(p));
}

/* A huge block's mapping is gone after the first free. */
CASE case_double_free_huge(void) {
  neighbour(4u << 20);
  void *volatile p = alloc(4u << 20);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  free(test_opaque(p));
}

/* free(p + 1) of a small block (unaligned). */
CASE case_unaligned_small(void) {
  neighbour(64);
  char *volatile p = alloc(64);
  show(p + 1);
  free(test_opaque(p + 1));
}

/* free(p + 32) of a 64-byte block: 16-aligned, but no slot of a class
 * that serves 64 bytes starts there. */
CASE case_interior_small(void) {
  neighbour(64);
  char *volatile p = alloc(64);
  show(p + 32);
  free(test_opaque(p + 32));
}

/* free(p + 8) of a large block. */
CASE case_unaligned_large(void) {
  neighbour(200000);
  char *volatile p = alloc(200000);
  show(p + 8);
  free(test_opaque(p + 8));
}

/* free(p + 4096) of a large block: page-aligned, so it looks like the
 * start of a page run. */
CASE case_interior_large(void) {
  neighbour(200000);
  char *volatile p = alloc(200000);
  show(p + 4096);
  free(test_opaque(p + 4096));
}

/* free(p + 4096) of a huge block. */
CASE case_interior_huge(void) {
  neighbour(4u << 20);
  char *volatile p = alloc(4u << 20);
  show(p + 4096);
  free(test_opaque(p + 4096));
}

/* free((void *)1), a pointer that was never allocated. */
CASE case_free_one(void) {
  neighbour(16);
  void *volatile p = (void *)(uintptr_t)1;
  show(p);
  free(test_opaque(p));
}

/* free of a wild address 1 GiB above a live small block: likely inside or
 * next to the allocator's own reservations, but not in any chunk. */
CASE case_free_wild(void) {
  char *volatile live = neighbour(16);
  char *volatile p = live + ((size_t)1 << 30);
  show(p);
  free(test_opaque(p));
}

/* free of a page from our own mmap, which the allocator never handed out. */
CASE case_free_mmap(void) {
  neighbour(4096);
  void *volatile p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(p != MAP_FAILED);
  show(p);
  free(test_opaque(p));
}

/* free of a pointer into a stack array. */
CASE case_free_stack(void) {
  neighbour(64);
  char buf[64];
  memset(buf, 1, sizeof buf);
  void *volatile p = test_opaque(buf);
  show(p);
  free(test_opaque(p));
}

/* A block of a pool (sealed when `seal`), which free() and realloc() must
 * name as such: it never came from malloc. */
static void *pool_block(bool seal) {
  hs_pool_t *pool = hs_pool_create(0);
  CHECK(pool != NULL);
  void *p = hs_pool_malloc(pool, 64);
  CHECK(p != NULL);
  memset(p, 0x5a, 64);
  if (seal) CHECK(hs_pool_seal(pool) == 0);
  return test_opaque(p);
}

CASE case_free_pool(void) {
  neighbour(64);
  void *volatile p = pool_block(false);
  show(p);
  free(test_opaque(p));
}

CASE case_free_sealed_pool(void) {
  neighbour(64);
  void *volatile p = pool_block(true);
  show(p);
  free(test_opaque(p));
}

CASE case_realloc_pool(void) {
  neighbour(64);
  void *volatile p = pool_block(false);
  show(p);
  void *q = realloc(test_opaque(p), 128);
  (void)q;
}

/* hs_pool_destroy of something that is not a pool (a zeroed heap block). */
CASE case_destroy_not_pool(void) {
  void *volatile p = test_opaque(calloc(1, 256));
  CHECK(p != NULL);
  show(p);
  hs_pool_destroy(test_opaque(p));
}

/* realloc of a freed small block. The reason may be either wording:
 * realloc cannot tell "freed twice" from "not a live block start" any better
 * than free can, so either one is accepted. */
CASE case_realloc_freed(void) {
  neighbour(48);
  void *volatile p = alloc(48);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  void *volatile r = realloc(test_opaque(p), 96);
  test_opaque(r);
}

/* realloc of a freed page run, to the size it had, while the rest of
 * its chunk is live. The run is the one starting a chunk where possible: a
 * free page's lookup word points at the chunk's first page, whose run record
 * must then say the run is gone. */
CASE case_realloc_freed_large(void) {
  enum { RUNS = 6, RUN = 1 << 20 };
  void *volatile runs[RUNS];
  for (int i = 0; i < RUNS; i++) runs[i] = alloc(RUN);
  void *volatile p = runs[0];
  for (int i = 0; i < RUNS; i++)
    if (((uintptr_t)runs[i] & ((2u << 20) - 1)) == 0) p = runs[i];
  show(p);
  free(p);
  void *volatile r = realloc(test_opaque(p), RUN);
  test_opaque(r);
}

/* realloc of an interior pointer. */
CASE case_realloc_interior(void) {
  neighbour(64);
  char *volatile p = alloc(64);
  show(p + 16);
  void *volatile r = realloc(test_opaque(p + 16), 128);
  test_opaque(r);
}

/* malloc_usable_size of an interior pointer. */
CASE case_usable_interior(void) {
  neighbour(64);
  char *volatile p = alloc(64);
  show(p + 16);
  volatile size_t n = malloc_usable_size(test_opaque(p + 16));
  (void)n;
}

/* Wrong size: free_sized(p, 4096) of a malloc(16) block. */
CASE case_free_sized_wrong(void) {
  CHECK_MSG(free_sized != NULL, "free_sized is not exported");
  neighbour(16);
  void *volatile p = alloc(16);
  show(p);
  free_sized(p, 4096);
}

/* free_sized with one byte more than the block can hold (small). */
CASE case_free_sized_larger_small(void) {
  CHECK_MSG(free_sized != NULL, "free_sized is not exported");
  neighbour(16);
  void *volatile p = alloc(16);
  volatile size_t n = malloc_usable_size(p) + 1;
  show(p);
  free_sized(p, n);
}

/* The same for a large (page-run) block. */
CASE case_free_sized_larger_large(void) {
  CHECK_MSG(free_sized != NULL, "free_sized is not exported");
  neighbour(200000);
  void *volatile p = alloc(200000);
  volatile size_t n = malloc_usable_size(p) + 1;
  show(p);
  free_sized(p, n);
}

/* The abort path must neither allocate nor hold a lock into abort().
 * A SIGABRT handler (like a crash reporter that calls backtrace(), see glibc
 * tst-malloc-backtrace) checks mallinfo2 did not grow since just before the
 * bad free, then mallocs and frees itself. If the abort path allocated, the
 * handler prints a second stderr line (the runner wants exactly one); if it
 * aborted with a lock held, the handler hangs and the runner's timeout fails
 * the case. The handler returns, so abort() then kills with SIGABRT. */
static size_t abort_baseline;

static void abort_handler(int sig) {
  (void)sig;
  struct mallinfo2 mi = mallinfo2();
  if (mi.uordblks > abort_baseline) {
    static const char msg[] = "misuse: the abort path allocated memory\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
  }
  void *q = malloc(100);
  if (!q) {
    static const char msg[] = "misuse: malloc failed in SIGABRT handler\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
  }
  free(test_opaque(q));
}

CASE case_abort_noalloc(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = abort_handler;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGABRT, &sa, NULL) == 0);
  neighbour(48);
  void *volatile p = alloc(48);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  abort_baseline = mallinfo2().uordblks;
  free(test_opaque(p));
}

/* The abort comes promptly while two other threads are busy inside the
 * allocator (it must not wait for locks they cycle through, nor for them). */
static void *busy_thread(void *arg) {
  uint64_t seed = (uintptr_t)arg;
  void *keep[64] = {0};
  for (;;) {
    unsigned i = test_rand(&seed) % 64;
    free(keep[i]);
    size_t size = (size_t)16 << (test_rand(&seed) % 14); /* 16 B .. 128 KiB */
    keep[i] = malloc(size);
    if (keep[i]) ((char *)keep[i])[0] = 1;
  }
  return NULL;
}

CASE case_abort_threads(void) {
  pthread_t t[2];
  for (uintptr_t i = 0; i < 2; i++)
    CHECK(pthread_create(&t[i], NULL, busy_thread, (void *)(i + 1)) == 0);
  usleep(50000);
  neighbour(48);
  void *volatile p = alloc(48);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  free(test_opaque(p));
}

/* The abort path inside fork: the bad free happens in a fork prepare
 * handler registered in a constructor, i.e. before the allocator's first
 * malloc and so before its own handlers (those run first at fork). The
 * allocator's locks may all be held by this thread at that point: detection
 * and the abort path must not need them. */
static void *prefork_victim;

static void prefork_bad_free(void) {
  if (prefork_victim) free(prefork_victim);
}

__attribute__((constructor(101))) static void register_early_handler(void) {
  if (pthread_atfork(prefork_bad_free, NULL, NULL) != 0) abort();
}

CASE case_abort_in_atfork(void) {
  neighbour(48);
  void *volatile p = alloc(48);
  show(p); /* before the first free: printf may allocate its buffer */
  free(p);
  prefork_victim = p;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
}

/* ---- what only hardened mode detects (run.sh runs these with
 * HUGESLAB_CONF=hardened:true) ---- */

/* A write into a freed small block, found when its slot is handed out
 * again: enough allocations of its class follow for the quarantine to let
 * it go and for the slot to be reused. */
static void write_after_free(size_t size, unsigned rounds) {
  neighbour(size);
  unsigned char *volatile p = alloc(size);
  show(p);
  free(p);
  p[size / 2] = 0x11; /* the bug */
  for (unsigned i = 0; i < rounds; i++) free(test_opaque(malloc(size)));
  for (unsigned i = 0; i < rounds; i++) test_opaque(malloc(size));
}
CASE case_write_after_free_small(void) { write_after_free(48, 20000); }
CASE case_write_after_free_large(void) { write_after_free(40000, 6000); }

/* One byte past the end, even where the size fills its class: found by
 * the free, the realloc or the measurement that meets the block next. The
 * bytes written are even: every canary byte is odd (checked.c), so the
 * damage is certain to show (an odd byte matches the canary byte at its
 * place 1 time in 128). */
/* A block of `size` bytes, shown, then `len` bytes of `byte` written from
 * offset `at`: the bug, when the write runs past `size`. */
static unsigned char *overflowed(size_t size, size_t at, size_t len, int byte) {
  unsigned char *volatile p = alloc(size);
  show(p);
  memset(p + at, byte, len);
  return test_opaque(p);
}
CASE case_overflow_small(void) {
  neighbour(48);
  free(overflowed(48, 48, 1, 0)); /* the string's terminator one past the block */
}
CASE case_overflow_large(void) {
  neighbour(20000);
  free(overflowed(20000, 20003, 1, 0x42));
}
CASE case_overflow_huge(void) { free(overflowed(3 << 20, 3 << 20, 1, 0x42)); }
CASE case_overflow_realloc(void) {
  neighbour(100);
  test_opaque(realloc(overflowed(100, 101, 1, 0x42), 200));
}
CASE case_overflow_usable(void) {
  neighbour(30);
  test_opaque_size(malloc_usable_size(overflowed(30, 0, 40, 0x42)));
}
CASE case_overflow_free_sized(void) {
  neighbour(64);
  free_sized(overflowed(64, 64, 1, 0x42), 64);
}

struct misuse_case {
  const char *name;
  void (*run)(void);
};

static const struct misuse_case cases[] = {
    {"double_free", case_double_free},
    {"delayed_double_free", case_delayed_double_free},
    {"double_free_large", case_double_free_large},
    {"double_free_huge", case_double_free_huge},
    {"unaligned_small", case_unaligned_small},
    {"interior_small", case_interior_small},
    {"unaligned_large", case_unaligned_large},
    {"interior_large", case_interior_large},
    {"interior_huge", case_interior_huge},
    {"free_one", case_free_one},
    {"free_wild", case_free_wild},
    {"free_mmap", case_free_mmap},
    {"free_stack", case_free_stack},
    {"realloc_freed", case_realloc_freed},
    {"realloc_freed_large", case_realloc_freed_large},
    {"realloc_interior", case_realloc_interior},
    {"usable_interior", case_usable_interior},
    {"free_sized_wrong", case_free_sized_wrong},
    {"free_sized_larger_small", case_free_sized_larger_small},
    {"free_sized_larger_large", case_free_sized_larger_large},
    {"free_pool", case_free_pool},
    {"free_sealed_pool", case_free_sealed_pool},
    {"realloc_pool", case_realloc_pool},
    {"destroy_not_pool", case_destroy_not_pool},
    {"write_after_free_small", case_write_after_free_small},
    {"write_after_free_large", case_write_after_free_large},
    {"overflow_small", case_overflow_small},
    {"overflow_large", case_overflow_large},
    {"overflow_huge", case_overflow_huge},
    {"overflow_realloc", case_overflow_realloc},
    {"overflow_usable", case_overflow_usable},
    {"overflow_free_sized", case_overflow_free_sized},
    {"abort_noalloc", case_abort_noalloc},
    {"abort_threads", case_abort_threads},
    {"abort_in_atfork", case_abort_in_atfork},
};

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      printf("%s\n", cases[i].name);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s CASE | --list\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (strcmp(argv[1], cases[i].name) == 0) {
      cases[i].run();
      fprintf(stderr, "misuse: case %s returned instead of aborting\n",
              argv[1]);
      return 3;
    }
  }
  fprintf(stderr, "misuse: unknown case %s\n", argv[1]);
  return 2;
}
