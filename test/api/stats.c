/* The stats report and hs_ctl_get: the figures add up and follow the
 * program's allocations.
 *  - after four threads allocate blocks of one class, that class's
 *    allocated bytes rose by exactly what they hold, and fall back once
 *    they and the main thread (across arenas) freed them all (in a checking
 *    mode, down to what the quarantine holds);
 *  - per class and arena, (nmalloc - nfree) * size = allocated + tcache;
 *    the arenas' classes sum to the totals' classes; the arenas' allocated
 *    plus the huge blocks, less what a checking mode holds back, is
 *    stats.allocated;
 *  - while the threads hold their blocks, the arenas' resident bytes
 *    cover the pages the blocks touched and stay within the heap's, and
 *    their huge-page bytes within their resident ones and within the
 *    whole heap's (smaps);
 *  - mallinfo2 gives the report's numbers (uordblks = stats.allocated,
 *    arena = stats.heap, hblkhd = stats.huge_bytes);
 *  - hs_ctl_get: unknown names ENOENT, a wrong size EINVAL with the right
 *    one in *len, out NULL asks the size; options read as configured
 *    (`stats options` under decay_ms:250,tcache:false,thp:never);
 *  - hs_stats_print streams through a callback that may itself allocate,
 *    and refuses an unknown format (EINVAL). `stats json` prints the JSON
 *    report on stdout (test/api/stats_report.sh parses it). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hugeslab.h"
#include "testutil.h"

/* The -plain twin finds these in the preloaded library. */
TEST_WEAK(hs_ctl_get)
TEST_WEAK(hs_stats_print)
TEST_WEAK(hs_thread_flush)
TEST_WEAK(hs_version)

static uint64_t get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static uint64_t get(const char *fmt, ...) {
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  uint64_t v = 0;
  size_t len = sizeof v;
  CHECK_MSG(hs_ctl_get(name, &v, &len) == 0, "hs_ctl_get(%s): %s", name, strerror(errno));
  return v;
}

enum { THREADS = 4, BLOCKS = 3000, SIZE = 1500 };
static void *blocks[THREADS][BLOCKS];
static pthread_barrier_t allocated, checked, freed;

static void *worker(void *arg) {
  long t = (long)arg;
  for (int i = 0; i < BLOCKS; i++) {
    blocks[t][i] = malloc(SIZE);
    CHECK(blocks[t][i] != NULL);
    memset(blocks[t][i], (int)t, 16);
  }
  hs_thread_flush();
  pthread_barrier_wait(&allocated);
  pthread_barrier_wait(&checked); /* the main thread frees the odd blocks */
  for (int i = 0; i < BLOCKS; i += 2) free(blocks[t][i]);
  hs_thread_flush();
  pthread_barrier_wait(&freed);
  return NULL;
}

/* The identities that hold whenever no thread is inside the allocator and
 * every cache that matters was flushed. */
static void check_sums(void) {
  unsigned arenas = (unsigned)get("stats.arenas");
  uint64_t arena_allocated = 0;
  for (unsigned c = 0;; c++) {
    uint64_t v;
    size_t len = sizeof v;
    char name[64];
    snprintf(name, sizeof name, "class.%u.size", c);
    if (hs_ctl_get(name, &v, &len) != 0) {
      CHECK_MSG(errno == ENOENT && c > 30, "class %u: %s", c, strerror(errno));
      break;
    }
    uint64_t size = v, sum_alloc = 0, sum_cache = 0, sum_nmalloc = 0, sum_nfree = 0;
    for (unsigned a = 0; a < arenas; a++) {
      uint64_t alloc = get("arena.%u.class.%u.allocated", a, c), cache = get("arena.%u.class.%u.tcache", a, c);
      uint64_t nmalloc = get("arena.%u.class.%u.nmalloc", a, c), nfree = get("arena.%u.class.%u.nfree", a, c);
      CHECK_MSG((nmalloc - nfree) * size == alloc + cache,
                "arena %u class %u: nmalloc %llu - nfree %llu slots of %llu B, but allocated %llu + tcache %llu", a, c,
                (unsigned long long)nmalloc, (unsigned long long)nfree, (unsigned long long)size,
                (unsigned long long)alloc, (unsigned long long)cache);
      sum_alloc += alloc;
      sum_cache += cache;
      sum_nmalloc += nmalloc;
      sum_nfree += nfree;
    }
    CHECK_MSG(sum_alloc == get("class.%u.allocated", c), "class %u: arenas sum to %llu allocated, total says %llu", c,
              (unsigned long long)sum_alloc, (unsigned long long)get("class.%u.allocated", c));
    CHECK(sum_cache == get("class.%u.tcache", c));
    CHECK(sum_nmalloc == get("class.%u.nmalloc", c));
    CHECK(sum_nfree == get("class.%u.nfree", c));
  }
  for (unsigned a = 0; a < arenas; a++) arena_allocated += get("arena.%u.allocated", a);
  uint64_t total = get("stats.allocated"), huge = get("stats.huge_bytes"), held = get("stats.quarantined");
  CHECK_MSG(arena_allocated + huge - held == total, "arenas %llu + huge %llu - quarantined %llu != allocated %llu",
            (unsigned long long)arena_allocated, (unsigned long long)huge, (unsigned long long)held,
            (unsigned long long)total);
  CHECK(get("stats.active") >= get("stats.allocated") - held);
  CHECK(get("stats.mapped") >= get("stats.heap"));
  CHECK(get("stats.resident") > 0);
}

static void check_resident(uint64_t touched) {
  uint64_t resident = 0, hugepage = 0, arenas = get("stats.arenas");
  for (unsigned a = 0; a < arenas; a++) {
    uint64_t r = get("arena.%u.resident", a), h = get("arena.%u.hugepage", a);
    CHECK_MSG(h <= r, "arena %u: %llu bytes on huge pages, %llu resident", a, (unsigned long long)h,
              (unsigned long long)r);
    resident += r;
    hugepage += h;
  }
  uint64_t heap = get("stats.heap_resident"), smaps = get("stats.hugepage");
  CHECK_MSG(resident >= touched && resident <= heap, "arenas resident %llu, touched %llu, heap resident %llu",
            (unsigned long long)resident, (unsigned long long)touched, (unsigned long long)heap);
  CHECK_MSG(hugepage <= smaps, "arenas on huge pages %llu, smaps says %llu", (unsigned long long)hugepage,
            (unsigned long long)smaps);
}

static void check_mallinfo(void) {
  struct mallinfo2 mi = mallinfo2(); /* flushes this thread's cache first */
  CHECK_MSG(mi.uordblks == get("stats.allocated"), "uordblks %zu, stats.allocated %llu", mi.uordblks,
            (unsigned long long)get("stats.allocated"));
  CHECK(mi.arena == get("stats.heap"));
  CHECK(mi.hblkhd == get("stats.huge_bytes"));
  CHECK(mi.hblks == get("stats.huge_count"));
}

static unsigned class_count(void) {
  unsigned n = 0;
  uint64_t v;
  size_t len = sizeof v;
  char name[64];
  for (;; n++) {
    snprintf(name, sizeof name, "class.%u.size", n);
    if (hs_ctl_get(name, &v, &len) != 0) return n;
  }
}

static void test_threads(void) {
  enum { MAX_CLASSES = 64 };
  unsigned classes = class_count();
  CHECK(classes > 30 && classes <= MAX_CLASSES);
  uint64_t before[MAX_CLASSES];
  void *huge = test_opaque(malloc((size_t)8 << 20));
  hs_thread_flush();
  for (unsigned c = 0; c < classes; c++) before[c] = get("class.%u.allocated", c);
  pthread_t th[THREADS];
  pthread_barrier_init(&allocated, NULL, THREADS + 1);
  pthread_barrier_init(&checked, NULL, THREADS + 1);
  pthread_barrier_init(&freed, NULL, THREADS + 1);
  for (long t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, worker, (void *)t) == 0);
  pthread_barrier_wait(&allocated);
  /* The class the blocks went to (1536 B; another with hardened mode's
   * canaries) is the one that grew most, by exactly what the threads hold. */
  unsigned cls = 0;
  uint64_t grew = 0;
  for (unsigned c = 0; c < classes; c++) {
    uint64_t d = get("class.%u.allocated", c) - before[c];
    if (d > grew) grew = d, cls = c;
  }
  uint64_t slot = get("class.%u.size", cls);
  CHECK_MSG(slot >= SIZE && grew == (uint64_t)THREADS * BLOCKS * slot,
            "class %u (%llu B) grew by %llu bytes, expected %llu", cls, (unsigned long long)slot,
            (unsigned long long)grew, (unsigned long long)THREADS * BLOCKS * slot);
  check_sums();
  check_mallinfo();
  check_resident((uint64_t)THREADS * BLOCKS * SIZE * 3 / 4);
  /* Frees of blocks other threads allocated: remote, returned in batches. */
  for (int t = 0; t < THREADS; t++)
    for (int i = 1; i < BLOCKS; i += 2) free(blocks[t][i]);
  hs_thread_flush();
  pthread_barrier_wait(&checked);
  pthread_barrier_wait(&freed);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  /* A checking mode's quarantine (hardened, memcheck) still holds some of
   * the freed slots. */
  uint64_t after = get("class.%u.allocated", cls), held = get("stats.quarantined");
  CHECK_MSG(after == before[cls] || (held && after - before[cls] <= held + slot),
            "class %u: %llu bytes before the threads, %llu after they freed everything", cls,
            (unsigned long long)before[cls], (unsigned long long)after);
  check_sums();
  check_mallinfo();
  free(huge);
}

static void test_ctl_errors(void) {
  uint64_t v;
  size_t len = sizeof v;
  errno = 0;
  CHECK(hs_ctl_get("stats.no_such_figure", &v, &len) == -1 && errno == ENOENT);
  CHECK(hs_ctl_get("arena.9999.allocated", &v, &len) == -1 && errno == ENOENT);
  CHECK(hs_ctl_get("stats", &v, &len) == -1 && errno == ENOENT);
  len = 4;
  CHECK(hs_ctl_get("stats.allocated", &v, &len) == -1 && errno == EINVAL && len == 8);
  len = 0;
  CHECK(hs_ctl_get("stats.allocated", NULL, &len) == 0 && len == 8);
  CHECK(hs_ctl_get("opt.tcache", NULL, &len) == 0 && len == sizeof(bool));
  CHECK(hs_ctl_get("opt.thp", NULL, &len) == 0 && len == sizeof(char *));
  CHECK(hs_ctl_get(NULL, &v, &len) == -1 && errno == EINVAL);
  const char *version;
  len = sizeof version;
  CHECK(hs_ctl_get("version", &version, &len) == 0 && strcmp(version, hs_version()) == 0);
  CHECK(get("schema") >= 1);
}

/* `stats options`, run by stats_report.sh with
 * HUGESLAB_CONF=decay_ms:250,tcache:false,thp:never. */
static void case_options(void) {
  int64_t decay;
  bool tcache = true;
  const char *thp;
  size_t len = sizeof decay;
  CHECK(hs_ctl_get("opt.decay_ms", &decay, &len) == 0 && decay == 250);
  len = sizeof tcache;
  CHECK(hs_ctl_get("opt.tcache", &tcache, &len) == 0 && !tcache);
  len = sizeof thp;
  CHECK(hs_ctl_get("opt.thp", &thp, &len) == 0 && strcmp(thp, "never") == 0);
}

struct growing {
  char *buf;
  size_t len;
};

/* Allocates while the report is written: no allocator lock may be held. */
static void append(void *opaque, const char *s, size_t n) {
  struct growing *g = opaque;
  g->buf = realloc(g->buf, g->len + n + 1);
  CHECK(g->buf != NULL);
  memcpy(g->buf + g->len, s, n);
  g->len += n;
  g->buf[g->len] = 0;
}

static void test_print(void) {
  struct growing g = {NULL, 0};
  CHECK(hs_stats_print(append, &g, "text") == 0);
  CHECK_MSG(strncmp(g.buf, "hugeslab ", 9) == 0, "text report starts with [%.40s]", g.buf);
  CHECK(strstr(g.buf, "\n  allocated = ") && strstr(g.buf, "\nopt:\n") && strstr(g.buf, "\narena 0:"));
  CHECK(strstr(g.buf, "\nTotal (incl. mmap):\nsystem bytes     = "));
  free(g.buf);
  g = (struct growing){NULL, 0};
  CHECK(hs_stats_print(append, &g, "json") == 0);
  CHECK(g.buf[0] == '{' && strstr(g.buf, "\"schema\": ") && strstr(g.buf, "\"arena\": ["));
  free(g.buf);
  errno = 0;
  CHECK(hs_stats_print(append, &g, "yaml") == -1 && errno == EINVAL);
  CHECK(hs_stats_print(NULL, &g, "text") == -1 && errno == EINVAL);
}

static void write_stdout(void *opaque, const char *s, size_t n) {
  (void)opaque;
  fwrite(s, 1, n, stdout);
}

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (argc > 1 && strcmp(argv[1], "options") == 0) {
    case_options();
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "json") == 0) {
    for (int i = 0; i < 1000; i++) test_opaque(malloc((size_t)i * 40)); /* something in many classes */
    return hs_stats_print(write_stdout, NULL, "json") == 0 ? 0 : 1;
  }
  test_ctl_errors();
  test_threads();
  test_print();
  printf("stats: all cases passed\n");
  return 0;
}
