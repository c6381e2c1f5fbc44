/* Giving memory back: decay after decay_ms (and never with -1), an excess of
 * free memory back at once, malloc_trim(0) down to the floor (a page of a
 * partly used slab is resident exactly when it holds a live block), calloc
 * zeroed from purged and recycled pages under MADV_DONTNEED and MADV_FREE
 * and fresh pages not touched by it, huge pages kept when little is freed,
 * none at all with thp:never, a chunk whose huge pages a purge broke asking
 * for none (khugepaged would fill the purged pages back in) until it is full
 * again, cached huge blocks expiring while the program allocates only small
 * blocks, a cached huge block reused for a smaller request keeping its pages
 * or trimmed, refills from the lowest slab with free slots, freed resident pages
 * reused before clean ones, a heap that shrank to 1% and then churns a few
 * blocks giving back every chunk but the few its live blocks need (and its
 * big cached blocks with them), and the background thread purging an idle
 * process and a forked child. Residency is read page by page with mincore,
 * so the checks do not depend on the rest of the process's RSS.
 *
 * Each case runs in a child process with its own HUGESLAB_CONF (the program
 * re-executes itself), so the linked and the preloaded run both see it. */
#include <inttypes.h>
#include <stdbool.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "hugeslab.h"
#include "testutil.h"

TEST_WEAK(hs_thread_flush)
TEST_WEAK(hs_ctl_get)

static void flush(void) {
  if (hs_thread_flush) hs_thread_flush();
}

/* Resident pages among those spanned by [p, p + len). */
static size_t resident_pages(const void *p, size_t len) {
  uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095, hi = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
  size_t n = (hi - lo) / 4096, count = 0;
  unsigned char vec[256];
  for (size_t done = 0; done < n; done += sizeof vec) {
    size_t k = n - done < sizeof vec ? n - done : sizeof vec;
    CHECK(mincore((void *)(lo + done * 4096), k * 4096, vec) == 0);
    for (size_t i = 0; i < k; i++) count += vec[i] & 1;
  }
  return count;
}

static bool page_resident(uintptr_t page) {
  unsigned char v;
  CHECK(mincore((void *)page, 4096, &v) == 0);
  return v & 1;
}

/* A set of blocks of one size, written so their pages are resident. */
struct set {
  char **blocks;
  size_t n, size;
};

static struct set set_make(size_t bytes, size_t size) {
  struct set s = {.n = bytes / size, .size = size};
  s.blocks = mmap(NULL, s.n * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(s.blocks != MAP_FAILED);
  for (size_t i = 0; i < s.n; i++) {
    s.blocks[i] = malloc(size);
    CHECK(s.blocks[i] != NULL);
    memset(s.blocks[i], 0x5a, size);
  }
  return s;
}

/* Resident pages of s's blocks (each page counted once: blocks are
 * allocated in address order within their slabs, so pages repeat only
 * between neighbours). */
static size_t set_resident(const struct set *s, size_t *pages) {
  size_t count = 0, total = 0;
  uintptr_t last = 0;
  for (size_t i = 0; i < s->n; i++) {
    uintptr_t a = (uintptr_t)s->blocks[i] & ~(uintptr_t)4095;
    uintptr_t b = ((uintptr_t)s->blocks[i] + s->size - 1) & ~(uintptr_t)4095;
    for (uintptr_t pg = a; pg <= b; pg += 4096) {
      if (pg == last) continue;
      last = pg;
      total++;
      count += page_resident(pg);
    }
  }
  *pages = total;
  return count;
}

static void set_free(struct set *s) {
  for (size_t i = 0; i < s->n; i++) free(s->blocks[i]);
  flush();
}

/* Run a slow path that ends in a purge pass: a page run freed. */
static void poke(void) {
  void *p = test_opaque(malloc(100 << 10));
  CHECK(p != NULL);
  free(p);
}

static double percent(size_t part, size_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0; }

/* decay_ms:300 (argv "decay") or -1 ("never"): freed memory below the
 * excess threshold stays resident until the decay time has passed, then a
 * slow path gives it back; with -1 it never goes. */
static int case_decay(bool never) {
  /* Less freed than a quarter of what stays: not an excess. */
  struct set live = set_make(40 << 20, 256), gone = set_make(8 << 20, 256);
  size_t pages;
  set_resident(&gone, &pages);
  set_free(&gone);
  /* Kept the pointers: their pages are what we measure. */
  size_t before = set_resident(&gone, &pages);
  printf("  freed 8 MiB: %.1f%% of its %zu pages resident at once\n", percent(before, pages), pages);
  CHECK_MSG(percent(before, pages) >= 80, "decay: freed pages went back before decay_ms");
  usleep(700 * 1000);
  poke();
  size_t after = set_resident(&gone, &pages);
  printf("  after 700 ms and a slow path: %.1f%% resident\n", percent(after, pages));
  if (never) CHECK_MSG(percent(after, pages) >= 80, "decay_ms:-1 gave memory back");
  else CHECK_MSG(percent(after, pages) <= 5, "decay: freed pages still resident after decay_ms");
  set_resident(&live, &pages);
  CHECK(set_resident(&live, &pages) == pages);
  return 0;
}

/* Default decay: freeing 90% of the heap gives the excess back at once,
 * without waiting and without malloc_trim. */
static int case_excess(void) {
  struct set gone = set_make(36 << 20, 256), live = set_make(4 << 20, 256);
  size_t pages;
  set_free(&gone);
  size_t left = set_resident(&gone, &pages);
  printf("  freed 36 MiB of 40: %zu of %zu pages (%.1f%%) resident at once\n", left, pages, percent(left, pages));
  /* Kept: an eighth of what is in use or 2 MiB, and the chunk shared with
   * the live blocks. */
  CHECK_MSG(left * 4096 <= (size_t)5 << 20, "excess not given back: %zu KiB resident", left * 4);
  set_resident(&live, &pages);
  return 0;
}

static void set_range(const struct set *s, uintptr_t *lo, uintptr_t *hi);

static int compare_tags(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* smaps' field `name` (in KiB) summed over the mappings overlapping [lo, hi). */
static long smaps_kib(uintptr_t lo, uintptr_t hi, const char *name) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  size_t len = strlen(name);
  long total = 0;
  bool in = false;
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f)) {
    uintptr_t a, b;
    char *dash = strchr(line, '-'), *space = strchr(line, ' ');
    if (dash && space && dash < space && sscanf(line, "%lx-%lx ", &a, &b) == 2) in = a < hi && b > lo;
    else if (in && strncmp(line, name, len) == 0 && line[len] == ':') total += atol(line + len + 1);
  }
  fclose(f);
  return total;
}

/* malloc_trim(0) down to the floor: 64-byte blocks, a random 99.5% freed;
 * then a page of theirs is resident exactly when it holds a live block
 * (with purge:free, the pages without one are all LazyFree instead). */
static int case_trim(void) {
  struct set s = set_make(32 << 20, 64);
  uint64_t seed = 42;
  bool *live = calloc(s.n, 1);
  CHECK(live != NULL);
  for (size_t i = 0; i < s.n; i++) {
    live[i] = test_rand(&seed) % 200 == 0;
    if (!live[i]) free(s.blocks[i]);
  }
  CHECK(malloc_trim(0) == 1);
  CHECK_MSG(malloc_trim(0) == 0, "a second malloc_trim released something");
  const char *conf = getenv("HUGESLAB_CONF");
  bool lazy = conf && strstr(conf, "purge:free");
  /* Every page a block touches, tagged live in bit 0, sorted by page. */
  uintptr_t *tag = malloc(s.n * sizeof *tag);
  CHECK(tag != NULL);
  for (size_t i = 0; i < s.n; i++) tag[i] = ((uintptr_t)s.blocks[i] & ~(uintptr_t)4095) | live[i];
  qsort(tag, s.n, sizeof *tag, compare_tags);
  size_t pages = 0, wrong = 0, floor = 0;
  for (size_t i = 0; i < s.n;) {
    uintptr_t pg = tag[i] & ~(uintptr_t)4095;
    bool any = false;
    for (; i < s.n && (tag[i] & ~(uintptr_t)4095) == pg; i++) any |= tag[i] & 1;
    pages++;
    floor += any;
    if (!lazy && page_resident(pg) != any) wrong++;
  }
  if (lazy) {
    uintptr_t lo, hi;
    set_range(&s, &lo, &hi);
    long lazy_kib = smaps_kib(lo, hi, "LazyFree");
    printf("  %zu pages, floor %zu, %ld KiB LazyFree\n", pages, floor, lazy_kib);
    /* A page or two the kernel has already taken or split off does not count. */
    CHECK_MSG((size_t)lazy_kib * 100 >= (pages - floor) * 4 * 99, "purge:free: only %ld KiB LazyFree", lazy_kib);
  } else {
    printf("  %zu pages, floor %zu, %zu resident against the floor\n", pages, floor, wrong);
  }
  CHECK_MSG(wrong == 0, "trim: %zu pages off the floor", wrong);
  free(tag);
  for (size_t i = 0; i < s.n; i++)
    if (live[i]) CHECK(s.blocks[i][0] == 0x5a && s.blocks[i][63] == 0x5a);
  return 0;
}

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* calloc: a large block from fresh pages is not written (no page becomes
 * resident); from recycled dirty pages and from purged ones it is zero. */
static int case_calloc(void) {
  /* MADV_FREE pages stay resident until the kernel needs them. */
  const char *conf = getenv("HUGESLAB_CONF");
  bool lazy = conf && strstr(conf, "purge:free");
  size_t n = 1 << 20;
  unsigned char *p = calloc(1, n);
  CHECK(p != NULL);
  size_t touched = resident_pages(p, n);
  printf("  fresh 1 MiB calloc: %zu pages resident\n", touched);
  CHECK_MSG(touched == 0, "calloc zeroed fresh pages again (%zu resident)", touched);
  CHECK(all_zero(p, n));
  for (int round = 0; round < 3; round++) {
    memset(p, 0xa5, n);
    free(p);
    if (round == 1) {
      /* Purged by the free's own excess pass or by the trim: either way
       * gone from RSS, and read back as zero. */
      malloc_trim(0);
      CHECK_MSG(lazy || resident_pages(p, n) == 0, "a freed and trimmed page run still resident");
    }
    p = calloc(1, n);
    CHECK(p != NULL);
    CHECK_MSG(all_zero(p, n), "calloc round %d not zero", round);
  }
  free(p);
  /* Small blocks from purged slab pages. */
  struct set s = set_make(8 << 20, 48);
  set_free(&s);
  malloc_trim(0);
  size_t left, pages;
  left = set_resident(&s, &pages);
  CHECK_MSG(lazy || left * 10 <= pages, "%zu of %zu freed slab pages resident after malloc_trim", left, pages);
  for (size_t i = 0; i < s.n; i++) {
    unsigned char *q = calloc(1, 48);
    CHECK(q != NULL && all_zero(q, 48));
    s.blocks[i] = (char *)q;
  }
  set_free(&s);
  return 0;
}

static void set_range(const struct set *s, uintptr_t *lo, uintptr_t *hi) {
  *lo = UINTPTR_MAX;
  *hi = 0;
  for (size_t i = 0; i < s->n; i++) {
    uintptr_t a = (uintptr_t)s->blocks[i];
    if (a < *lo) *lo = a;
    if (a + s->size > *hi) *hi = a + s->size;
  }
}

/* thp:never: not one huge page in the heap. Default: a mostly live heap
 * keeps the huge pages it has when a tenth of it is freed and purged. */
static int case_thp(bool never) {
  struct set s = set_make(128 << 20, 64);
  uintptr_t lo, hi;
  set_range(&s, &lo, &hi);
  long before = smaps_kib(lo, hi, "AnonHugePages");
  printf("  128 MiB heap: %ld KiB in AnonHugePages\n", before);
  if (never) {
    CHECK_MSG(before == 0, "thp:never heap has %ld KiB of huge pages", before);
    return 0;
  }
  uint64_t seed = 7;
  for (size_t i = 0; i < s.n; i++)
    if (test_rand(&seed) % 10 == 0) {
      free(s.blocks[i]);
      s.blocks[i] = NULL;
    }
  flush();
  usleep(400 * 1000);
  poke();
  long after = smaps_kib(lo, hi, "AnonHugePages");
  printf("  10%% freed and a purge pass later: %ld KiB\n", after);
  CHECK_MSG(after * 10 >= before * 9, "purging broke huge pages: %ld KiB -> %ld KiB", before, after);
  return 0;
}

/* Resident pages of [p, p + len), 0 where nothing is mapped any more. */
static size_t mapped_resident(const void *p, size_t len) {
  size_t count = 0;
  for (uintptr_t pg = (uintptr_t)p & ~(uintptr_t)4095; pg < (uintptr_t)p + len; pg += 4096) {
    unsigned char v;
    if (mincore((void *)pg, 4096, &v) == 0) count += v & 1;
    else CHECK(errno == ENOMEM);
  }
  return count;
}

/* decay_ms:200: a freed huge block waits in the cache, then goes back while
 * the program only frees page runs (no huge block is freed again). */
static int case_huge_decay(void) {
  size_t n = 16 << 20;
  char *big = malloc(n);
  CHECK(big != NULL);
  memset(big, 0x5a, n);
  free(big);
  size_t cached = mapped_resident(big, n);
  printf("  freed 16 MiB block: %zu pages resident at once\n", cached);
  CHECK_MSG(cached * 4096 >= n / 2, "the freed block was not kept for reuse (%zu pages)", cached);
  usleep(400 * 1000);
  poke();
  poke();
  size_t after = mapped_resident(big, n);
  printf("  after 400 ms and page runs freed: %zu pages resident\n", after);
  CHECK_MSG(after == 0, "cached huge block still resident after decay_ms (%zu pages)", after);
  return 0;
}

/* decay_ms:-1: a cached huge block reused for a smaller request keeps its
 * faulted pages unless it is more than twice too big by over 8 MiB (then
 * it is trimmed to twice the request): a 20 MiB block serving 9 MiB stays
 * resident whole, and serving 4 MiB next gives back what lies past 8 MiB. */
static int case_huge_reuse(void) {
  size_t n = 20 << 20;
  char *big = malloc(n);
  CHECK(big != NULL);
  memset(big, 0x5a, n);
  free(big);
  char *p = malloc(9 << 20);
  CHECK_MSG(p == big, "the cached 20 MiB block did not serve 9 MiB (%p, was %p)", (void *)p, (void *)big);
  size_t tail = mapped_resident(p + (12 << 20), 8 << 20);
  printf("  20 MiB block serving 9 MiB: %zu of its last 2048 pages resident\n", tail);
  CHECK_MSG(tail == 2048, "a block 2 MiB more than twice too big gave pages back (%zu of 2048 left)", tail);
  free(p);
  char *q = malloc(4 << 20);
  CHECK_MSG(q == big, "the cached 20 MiB block did not serve 4 MiB (%p, was %p)", (void *)q, (void *)big);
  tail = mapped_resident(q + (12 << 20), 8 << 20);
  printf("  serving 4 MiB: %zu of its last 2048 pages resident\n", tail);
  CHECK_MSG(tail == 0, "a block 12 MiB more than twice too big was not trimmed (%zu pages left)", tail);
  free(q);
  return 0;
}

/* Whether the mapping holding address p has `flag` among its VmFlags. */
static bool vm_flag(uintptr_t p, const char *flag) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  bool in = false, found = false;
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f)) {
    uintptr_t a, b;
    char *dash = strchr(line, '-'), *space = strchr(line, ' ');
    if (dash && space && dash < space && sscanf(line, "%lx-%lx ", &a, &b) == 2) {
      in = a <= p && p < b;
    } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
      for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n")) found |= !strcmp(t, flag);
      break;
    }
  }
  fclose(f);
  return found;
}

static bool thp_available(void) {
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char line[128] = "";
  if (!f) return false;
  bool ok = fgets(line, sizeof line, f) && !strstr(line, "[never]");
  fclose(f);
  return ok;
}

/* Default THP, decay_ms:100: a 64 MiB heap of which one block in 4096
 * stays (8 pages per chunk). The purge breaks the chunks' huge pages, and
 * they stop asking for any (VmFlags nh), so khugepaged cannot fill them
 * back in; filled up again, they ask again (hg). */
static int case_thp_split(void) {
  if (!thp_available()) {
    printf("  no transparent huge pages here: nothing to check\n");
    return 0;
  }
  struct set s = set_make(64 << 20, 64);
  uintptr_t last_live = 0;
  size_t nlive = 0;
  for (size_t i = 0; i < s.n; i++)
    if (i % 4096 == 100) last_live = (uintptr_t)s.blocks[i]; /* the last: chunks past thp_min_mb */
  CHECK_MSG(vm_flag(last_live, "hg"), "a 64 MiB heap did not ask for huge pages");
  for (size_t i = 0; i < s.n; i++) {
    if (i % 4096 == 100) {
      nlive++;
      continue;
    }
    free(s.blocks[i]);
    s.blocks[i] = NULL;
  }
  flush();
  usleep(300 * 1000);
  poke();
  bool nh = vm_flag(last_live, "nh"), hg = vm_flag(last_live, "hg");
  printf("  %zu blocks live in 64 MiB, after a purge: VmFlags %s%s\n", nlive, nh ? "nh " : "", hg ? "hg" : "");
  CHECK_MSG(nh && !hg, "a chunk whose huge pages were purged still asks for them");
  for (size_t i = 0; i < s.n; i++)
    if (!s.blocks[i]) {
      s.blocks[i] = malloc(64);
      CHECK(s.blocks[i] != NULL);
    }
  hg = vm_flag(last_live, "hg");
  printf("  filled again: VmFlags %s\n", hg ? "hg" : "without hg");
  CHECK_MSG(hg, "a chunk filled again does not ask for huge pages");
  set_free(&s);
  return 0;
}

static int compare_ptrs(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
  return x < y ? -1 : x > y;
}

/* Placement that packs: one 64-byte block freed in each of 8 slabs, the
 * highest slab first, and the thread cache flushed; the next 8 blocks are
 * exactly those 8, lowest address first (refills take the lowest slab with
 * free slots, not the slab that regained one first or the one being filled). */
static int case_lowest(void) {
  enum { N = 8192, FREED = 8, STRIDE = 1000 };
  char **b = malloc(N * sizeof *b);
  CHECK(b != NULL);
  for (size_t i = 0; i < N; i++) CHECK((b[i] = malloc(64)) != NULL);
  qsort(b, N, sizeof *b, compare_ptrs);
  char *freed[FREED];
  for (int k = 0; k < FREED; k++) {
    freed[FREED - 1 - k] = b[N - 1 - (size_t)k * STRIDE];
    free(freed[FREED - 1 - k]);
  }
  flush();
  int wrong = 0;
  for (int k = 0; k < FREED; k++) {
    char *p = malloc(64);
    CHECK(p != NULL);
    if (p != freed[k]) {
      printf("  block %d: %p, expected %p\n", k, (void *)p, (void *)freed[k]);
      wrong++;
    }
    memset(p, 1, 64);
  }
  printf("  %d of %d blocks from the lowest slabs, in address order\n", FREED - wrong, FREED);
  CHECK_MSG(wrong == 0, "refill did not take the lowest slabs first");
  return 0;
}

/* Freed pages still resident are reused before clean ones, even when the
 * clean ones lie lower: 8 page runs are freed and trimmed (clean), 8 above
 * them freed with decay off (dirty); 8 new runs must land on resident pages. */
static int case_dirty_first(void) {
  enum { RUNS = 8, RUN = 64 << 10 };
  char *low[RUNS], *high[RUNS], *again[RUNS];
  char *anchor = malloc(RUN); /* keeps the chunk in use through the trim */
  CHECK(anchor != NULL);
  memset(anchor, 1, RUN);
  for (int i = 0; i < RUNS; i++) CHECK((low[i] = malloc(RUN)) != NULL);
  for (int i = 0; i < RUNS; i++) CHECK((high[i] = malloc(RUN)) != NULL);
  for (int i = 0; i < RUNS; i++) {
    memset(low[i], 2, RUN);
    memset(high[i], 3, RUN);
  }
  for (int i = 0; i < RUNS; i++) free(low[i]);
  malloc_trim(0);
  size_t low_left = 0;
  for (int i = 0; i < RUNS; i++) low_left += resident_pages(low[i], RUN);
  for (int i = 0; i < RUNS; i++) free(high[i]);
  size_t resident = 0, pages = 0;
  for (int i = 0; i < RUNS; i++) {
    CHECK((again[i] = malloc(RUN)) != NULL);
    resident += resident_pages(again[i], RUN);
    pages += RUN / 4096;
  }
  printf("  trimmed runs: %zu pages still resident; new runs: %zu of %zu pages resident before first use\n", low_left,
         resident, pages);
  CHECK_MSG(low_left == 0, "malloc_trim left freed runs resident");
  CHECK_MSG(resident == pages, "new runs took clean pages while freed resident ones were left");
  for (int i = 0; i < RUNS; i++) free(again[i]);
  free(anchor);
  return 0;
}

/* Threads of this process, and of those how many are hugeslab's purger
 * (by the name it gives itself). */
static int threads_now(int *purgers) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  *purgers = 0;
  CHECK(d != NULL);
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    n++;
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f && fgets(comm, sizeof comm, f) && strcmp(comm, "hugeslab-purge\n") == 0) (*purgers)++;
    if (f) fclose(f);
  }
  closedir(d);
  return n;
}

/* background_thread:1 with decay_ms:100: memory freed before the program
 * goes idle comes back while it sleeps; in a forked child that frees memory
 * a thread of its own does the same. Exactly one purger runs (a sanitizer
 * may run threads of its own beside it). */
static int idle_purge(const char *who) {
  struct set live = set_make(40 << 20, 256), gone = set_make(8 << 20, 256);
  size_t pages;
  set_free(&gone);
  usleep(800 * 1000); /* no allocator call */
  size_t left = set_resident(&gone, &pages);
  int purgers, threads = threads_now(&purgers);
  printf("  %s: %.1f%% of the freed pages resident after 800 ms idle, %d threads, %d purger\n", who,
         percent(left, pages), threads, purgers);
  CHECK_MSG(purgers == 1, "%s: %d threads named hugeslab-purge, expected 1", who, purgers);
  CHECK_MSG(percent(left, pages) <= 5, "%s: idle memory not given back", who);
  set_resident(&live, &pages);
  fflush(stdout);
  return 0;
}

static int case_background(void) {
  int purgers;
  threads_now(&purgers);
  CHECK_MSG(purgers == 0, "a purger before the first free");
  idle_purge("parent");
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    threads_now(&purgers);
    CHECK_MSG(purgers == 0, "the parent's purger in the child");
    _exit(idle_purge("child"));
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
  return 0;
}

/* The purger thread starts on the first release, from inside the thread
 * cache's flush: pthread_create allocates there (glibc's TLS vector, about
 * 300 bytes), re-entering the cache that is flushing. Here the first release
 * is the cache's garbage collection shedding an idle stack (64 bytes), and
 * the class pthread_create asks for is empty, so its allocation takes the
 * slow path too, and counts as one more slow-path event: a cache that was
 * not consistent while it called down (a stack whose top moved only after
 * the flush, events reset only after the collection) flushed the same slots
 * twice ("slot already free") or handed one out twice. */
static int case_background_start(void) {
  enum { SMALL = 200000 };
  static void *small[SMALL];
  void *idle[3];
  for (int i = 0; i < 3; i++) idle[i] = malloc(64);
  for (int i = 0; i < 3; i++) free(idle[i]);
  /* Refills only (no release) until two collections ran; the second sheds
   * the idle 64-byte stack. */
  for (int i = 0; i < SMALL; i++) CHECK((small[i] = malloc(16)) != NULL);
  int purgers = 0;
  for (int waited = 0; waited < 100 && purgers == 0; waited++) {
    threads_now(&purgers);
    if (!purgers) usleep(10 * 1000); /* the thread names itself */
  }
  CHECK_MSG(purgers == 1, "%d purger threads after the first release, expected 1", purgers);
  /* Every block handed out now is distinct from every other live one. */
  enum { MORE = 64 };
  void *more[MORE];
  for (int i = 0; i < MORE; i++) {
    CHECK((more[i] = malloc(64)) != NULL);
    memset(more[i], 0x5a, 64);
  }
  static void *all[MORE + SMALL];
  memcpy(all, more, sizeof more);
  memcpy(all + MORE, small, sizeof small);
  qsort(all, MORE + SMALL, sizeof all[0], compare_ptrs);
  for (int i = 1; i < MORE + SMALL; i++) CHECK_MSG(all[i] != all[i - 1], "block %p handed out twice", all[i]);
  for (int i = 0; i < MORE; i++) free(more[i]);
  for (int i = 0; i < SMALL; i++) free(small[i]);
  return 0;
}

static uint64_t ctl(const char *name) {
  uint64_t v = 0;
  size_t len = sizeof v;
  CHECK_MSG(hs_ctl_get != NULL, "hs_ctl_get is not there");
  CHECK_MSG(hs_ctl_get(name, &v, &len) == 0, "hs_ctl_get(%s): %s", name, strerror(errno));
  return v;
}

/* A server that lost 99% of its keys, then serves a trickle of requests
 * (decay_ms:200): it built 48 MiB of records (four blocks of 32 to 112
 * bytes each) and a 16 MiB table, keeps the oldest 1%, frees the rest in
 * random order with the table, then for 1.5 s replaces a few records every
 * 10 ms, of sizes that vary a little, and every 100 ms builds a reply in
 * 200 buffers of 256 bytes. Its resident heap must come down to the slabs
 * that hold live blocks. It did not when the slots the last frees left in
 * the thread cache pinned an otherwise empty slab each, the trickle's
 * records went there and held their chunks, and the table stayed cached
 * while the program allocated from its cache. The replies outgrow their
 * stack, so the cache calls down every 100 ms whatever the records' random
 * walk does (an earlier version relied on the records' stacks reaching an
 * end, which TSan's slowdown, moving the purges that reset them, made
 * rare enough to fail). */
enum { PACK_PARTS = 4, PACK_RING = 256, PACK_REPLY = 200, PACK_REPLY_TICKS = 10 };
static const size_t pack_sizes[PACK_PARTS] = {32, 48, 80, 112};

/* A record; `vary`: each part 16 bytes longer or not, at random. */
static void pack_make(char **rec, uint64_t *vary) {
  for (int k = 0; k < PACK_PARTS; k++) {
    size_t size = pack_sizes[k] + (vary && test_rand(vary) >> 63 ? 16 : 0);
    rec[k] = malloc(size);
    CHECK(rec[k] != NULL);
    memset(rec[k], k + 1, size);
  }
}

static void pack_reply(void) {
  static char *bufs[PACK_REPLY];
  for (int i = 0; i < PACK_REPLY; i++) {
    CHECK((bufs[i] = malloc(256)) != NULL);
    memset(bufs[i], 'r', 256);
  }
  for (int i = 0; i < PACK_REPLY; i++) free(bufs[i]);
}

static int case_shrink_pack(void) {
  size_t n = (48u << 20) / (32 + 48 + 80 + 112), keep = n / 100;
  char **recs = mmap(NULL, n * PACK_PARTS * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(recs != MAP_FAILED);
  size_t *order = mmap(NULL, n * sizeof(size_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(order != MAP_FAILED);
  char *table = malloc(16 << 20);
  CHECK(table != NULL);
  memset(table, 1, 16 << 20);
  for (size_t i = 0; i < n; i++) pack_make(&recs[i * PACK_PARTS], NULL);
  uint64_t built = ctl("stats.chunk_bytes");
  for (size_t i = 0; i < n - keep; i++) order[i] = keep + i;
  uint64_t rng = 1;
  for (size_t i = n - keep - 1; i > 0; i--) {
    size_t j = (size_t)(test_rand(&rng) % (i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n - keep; i++)
    for (int k = 0; k < PACK_PARTS; k++) free(recs[order[i] * PACK_PARTS + k]);
  free(table);
  char *ring[PACK_RING][PACK_PARTS] = {{0}};
  size_t at = 0;
  for (int tick = 0; tick < 150; tick++) {
    usleep(10 * 1000);
    if (tick % PACK_REPLY_TICKS == PACK_REPLY_TICKS - 1) pack_reply();
    for (int op = 0; op < 100; op++, at = (at + 1) % PACK_RING) {
      for (int k = 0; k < PACK_PARTS; k++) free(ring[at][k]);
      pack_make(ring[at], &rng);
    }
  }
  uint64_t chunks = ctl("stats.chunk_bytes"), resident = ctl("stats.heap_resident");
  uint64_t cached_huge = ctl("stats.cached_huge_bytes"), live = ctl("stats.allocated");
  printf("  %zu records built (%" PRIu64 " MiB of chunks), %zu kept; after 1.5 s of trickle: %" PRIu64
         " KiB allocated, %" PRIu64 " KiB of the heap resident, %" PRIu64 " MiB of chunks, %" PRIu64
         " MiB of cached huge blocks\n",
         n, built >> 20, keep, live >> 10, resident >> 10, chunks >> 20, cached_huge >> 20);
  for (size_t i = 0; i < keep; i++)
    for (int k = 0; k < PACK_PARTS; k++) {
      const char *b = recs[i * PACK_PARTS + k];
      CHECK_MSG(b[0] == k + 1 && b[pack_sizes[k] - 1] == k + 1, "kept record %zu part %d was overwritten", i, k);
      free(recs[i * PACK_PARTS + k]);
    }
  for (size_t i = 0; i < PACK_RING; i++)
    for (int k = 0; k < PACK_PARTS; k++) free(ring[i][k]);
  /* What stays resident is the slabs of the live records and the few the
   * trickle is draining: under 1 MiB over what the program holds. */
  CHECK_MSG(resident <= live + (1u << 20), "%" PRIu64 " KiB of the heap resident for %" PRIu64 " KiB allocated",
            resident >> 10, live >> 10);
  CHECK_MSG(cached_huge == 0, "the freed table is still cached (%" PRIu64 " MiB)", cached_huge >> 20);
  return 0;
}

/* A program that freed a big block and from then on only allocates
 * (decay_ms:200), in batches the thread cache's stack can not hold: no free
 * reaches the arena, so only its refills can expire the cached block. They
 * did not while they ran the decay check only for an arena with dirty pages
 * (this one has none). */
static int case_refill_expires(void) {
  enum { TICKS = 60, BATCH = 500 };
  static char *blocks[TICKS * BATCH];
  char *big = malloc(16 << 20);
  CHECK(big != NULL);
  memset(big, 1, 16 << 20);
  free(big);
  uint64_t cached = ctl("stats.cached_huge_bytes");
  CHECK_MSG(cached >= 16u << 20, "the freed 16 MiB block is not cached (%" PRIu64 " bytes)", cached);
  for (int tick = 0; tick < TICKS; tick++) {
    usleep(10 * 1000);
    for (int i = 0; i < BATCH; i++) CHECK((blocks[tick * BATCH + i] = malloc(64)) != NULL);
  }
  cached = ctl("stats.cached_huge_bytes");
  printf("  %d allocations over 600 ms after the free: %" PRIu64 " MiB of cached huge blocks\n", TICKS * BATCH,
         cached >> 20);
  for (int i = 0; i < TICKS * BATCH; i++) free(blocks[i]);
  CHECK_MSG(cached == 0, "the freed block is still cached (%" PRIu64 " MiB)", cached >> 20);
  return 0;
}

static const struct {
  const char *name, *conf;
} cases[] = {
    {"decay", "decay_ms:300,thp:never"},
    {"never", "decay_ms:-1,thp:never"},
    {"excess", "thp:never"},
    {"trim", ""},
    {"trim", "purge:free"},
    {"calloc", ""},
    {"calloc", "purge:free"},
    {"thp", ""},
    {"thp-never", "thp:never"},
    {"thp-split", "decay_ms:100"},
    {"huge-decay", "decay_ms:200"},
    {"huge-reuse", "decay_ms:-1"},
    {"lowest", ""},
    {"dirty-first", "decay_ms:-1,thp:never"},
    {"shrink-pack", "decay_ms:200"},
    {"refill-expires", "decay_ms:200"},
    {"background", "background_thread:1,decay_ms:100,thp:never"},
    {"background-start", "background_thread:1"},
};

static int run_case(const char *name) {
  if (!strcmp(name, "decay")) return case_decay(false);
  if (!strcmp(name, "never")) return case_decay(true);
  if (!strcmp(name, "excess")) return case_excess();
  if (!strcmp(name, "trim")) return case_trim();
  if (!strcmp(name, "calloc")) return case_calloc();
  if (!strcmp(name, "thp")) return case_thp(false);
  if (!strcmp(name, "thp-never")) return case_thp(true);
  if (!strcmp(name, "thp-split")) return case_thp_split();
  if (!strcmp(name, "huge-decay")) return case_huge_decay();
  if (!strcmp(name, "huge-reuse")) return case_huge_reuse();
  if (!strcmp(name, "lowest")) return case_lowest();
  if (!strcmp(name, "dirty-first")) return case_dirty_first();
  if (!strcmp(name, "shrink-pack")) return case_shrink_pack();
  if (!strcmp(name, "refill-expires")) return case_refill_expires();
  if (!strcmp(name, "background")) return case_background();
  if (!strcmp(name, "background-start")) return case_background_start();
  fprintf(stderr, "unknown case %s\n", name);
  return 2;
}

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (argc == 2) return run_case(argv[1]);
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    printf("%s (HUGESLAB_CONF=%s)\n", cases[i].name, cases[i].conf);
    bool ok = test_run_case(argv[0], cases[i].name, cases[i].conf);
    printf("%s: %s\n", cases[i].name, ok ? "ok" : "FAILED");
    failed += !ok;
  }
  return failed ? 1 : 0;
}
