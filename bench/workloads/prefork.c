/* prefork: what a forked worker copies of the heap it inherited.
 *
 * Models a prefork server (gunicorn --preload, unicorn, PHP-FPM) and a
 * snapshotting database (Redis BGSAVE). Three phases, each measured in
 * /proc/PID/smaps_rollup:
 *
 *  heap   The parent builds a dataset (a chained hash table of small
 *         entries, DATASET bytes at -s 1) with malloc and forks WORKERS
 *         workers. Each reads every entry, frees one in ten of the entries
 *         it inherited (without unlinking them: the program itself writes
 *         nothing it inherited) and does OWN bytes of its own malloc/free
 *         work, keeping a window of its blocks live. With every worker
 *         alive, each reports its Private_Dirty; the parent adds up the PSS
 *         of all five. A worker's own work costs what it keeps live; every
 *         inherited page the allocator writes (an in-band free list, a hole
 *         it refills) is copied and counts on top.
 *  pool   The same dataset in a sealed hugeslab pool (hs_pool_*, looked up
 *         with dlsym: skipped with an `info` line under other allocators);
 *         the workers only read it. hs_pool_stats reports the pool's
 *         private bytes in each worker.
 *  churn  The parent builds CHURN bytes of small blocks and forks one child
 *         that reads them all; while the child still shares them, the
 *         parent frees a random tenth and allocates as many new blocks. The
 *         child's Private_Dirty growth is what the parent's allocator made
 *         it copy (the parent writing pages both map).
 *
 * Knobs: -s scales DATASET, OWN and CHURN (256 MiB, 50 MiB, 200 MiB at -s 1;
 * -s 4 builds the 1 GiB dataset of a large preloaded server: on glibc its
 * workers then take minutes, copying it). */
#include "mem.h"

#include <stdbool.h>
#include <sys/wait.h>

enum { WORKERS = 4, MIN_VALUE = 16, MAX_VALUE = 100, OWN_WINDOW = 65536 };
static const double DATASET = 256.0 * 1024 * 1024, OWN = 50.0 * 1024 * 1024, CHURN = 200.0 * 1024 * 1024;

struct entry {
  struct entry *next;
  uint64_t hash;
  uint32_t key_len, value_len;
  char data[]; /* key, then value */
};

struct table {
  struct entry **bucket;
  size_t buckets, entries;
  double bytes; /* requested */
};

/* An allocator for the dataset: malloc, or a pool's. */
struct source {
  void *(*alloc)(void *ctx, size_t n);
  void *ctx;
};

static void *heap_alloc(void *ctx, size_t n) {
  (void)ctx;
  return wl_malloc(n);
}

static uint64_t value_byte(uint64_t hash, uint32_t i) { return (hash >> (i % 56)) ^ i; }

static struct table build(const struct source *src, double bytes, uint64_t seed) {
  struct table t = {0};
  size_t expect = (size_t)(bytes / 80) + 16;
  t.buckets = 1;
  while (t.buckets < expect / 2) t.buckets <<= 1;
  t.bucket = src->alloc(src->ctx, t.buckets * sizeof *t.bucket);
  if (!t.bucket) wl_die("could not allocate %zu buckets", t.buckets);
  memset(t.bucket, 0, t.buckets * sizeof *t.bucket);
  t.bytes = (double)(t.buckets * sizeof *t.bucket);
  uint64_t s = seed;
  while (t.bytes < bytes) {
    char key[32];
    int klen = snprintf(key, sizeof key, "key:%zu", t.entries);
    uint32_t vlen = (uint32_t)wl_range(&s, MIN_VALUE, MAX_VALUE);
    size_t n = sizeof(struct entry) + (size_t)klen + vlen;
    struct entry *e = src->alloc(src->ctx, n);
    if (!e) wl_die("could not allocate entry %zu", t.entries);
    e->hash = wl_mix(seed, t.entries);
    e->key_len = (uint32_t)klen;
    e->value_len = vlen;
    memcpy(e->data, key, (size_t)klen);
    for (uint32_t i = 0; i < vlen; i++) e->data[klen + i] = (char)value_byte(e->hash, i);
    size_t b = e->hash & (t.buckets - 1);
    e->next = t.bucket[b];
    t.bucket[b] = e;
    t.entries++;
    t.bytes += (double)n;
  }
  return t;
}

/* Read every entry (checking its value); with `frees`, collect one in ten
 * into frees[] (mapped by the caller outside the heap). Returns a checksum. */
static uint64_t read_all(const struct table *t, struct entry **frees, size_t *nfrees) {
  uint64_t sum = 0;
  size_t k = 0;
  for (size_t b = 0; b < t->buckets; b++)
    for (struct entry *e = t->bucket[b]; e; e = e->next) {
      const char *v = e->data + e->key_len;
      for (uint32_t i = 0; i < e->value_len; i++)
        if (v[i] != (char)value_byte(e->hash, i)) wl_die("entry %p damaged", (void *)e);
      sum += e->hash + (unsigned char)v[e->value_len - 1];
      if (frees && ++k % 10 == 0) frees[(*nfrees)++] = e;
    }
  return sum;
}

static void *map_array(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) wl_die("mmap of %zu bytes failed", bytes);
  return p;
}

/* The worker's own work: OWN bytes of blocks of 16..512 B through a window
 * of OWN_WINDOW live ones. Returns the most bytes it had live at once. */
static double own_work(double total, uint64_t seed) {
  void **window = map_array(OWN_WINDOW * sizeof *window);
  size_t *sizes = map_array(OWN_WINDOW * sizeof *sizes);
  double done = 0, live = 0, peak = 0;
  uint64_t s = seed;
  for (size_t i = 0; done < total; i++) {
    size_t slot = i % OWN_WINDOW;
    if (window[slot]) {
      free(window[slot]);
      live -= (double)sizes[slot];
    }
    size_t n = (size_t)wl_range(&s, 16, 512);
    window[slot] = wl_malloc(n);
    memset(window[slot], (int)i, n);
    sizes[slot] = n;
    live += (double)n;
    done += (double)n;
    if (live > peak) peak = live;
  }
  /* Still live when the worker is measured. */
  return peak;
}

struct report {
  long private_dirty, pss;
  double own_peak;
  long pool_private; /* KiB, -1 when there is no pool */
  uint64_t sum;
};

static long rollup(const char *key) { return mem_proc_field("/proc/self/smaps_rollup", key); }

struct pool_api {
  void *(*create)(size_t);
  void *(*alloc)(void *, size_t);
  int (*seal)(void *);
  int (*stats)(const void *, size_t out[5]);
  void (*destroy)(void *);
};

static bool find_pool_api(struct pool_api *api) {
  void *sym[5] = {dlsym(RTLD_DEFAULT, "hs_pool_create"), dlsym(RTLD_DEFAULT, "hs_pool_malloc"),
                  dlsym(RTLD_DEFAULT, "hs_pool_seal"), dlsym(RTLD_DEFAULT, "hs_pool_stats"),
                  dlsym(RTLD_DEFAULT, "hs_pool_destroy")};
  for (int i = 0; i < 5; i++)
    if (!sym[i]) return false;
  memcpy(&api->create, &sym[0], sizeof sym[0]);
  memcpy(&api->alloc, &sym[1], sizeof sym[1]);
  memcpy(&api->seal, &sym[2], sizeof sym[2]);
  memcpy(&api->stats, &sym[3], sizeof sym[3]);
  memcpy(&api->destroy, &sym[4], sizeof sym[4]);
  return true;
}

static struct pool_api pool;
static void *pool_alloc_cb(void *ctx, size_t n) { return pool.alloc(ctx, n); }

static void write_all(int fd, const void *p, size_t n) {
  if (write(fd, p, n) != (ssize_t)n) wl_die("pipe write failed");
}

static void read_all_bytes(int fd, void *p, size_t n) {
  if (read(fd, p, n) != (ssize_t)n) wl_die("pipe read failed");
}

/* Fork WORKERS workers over table t; prints the phase's metrics. */
static uint64_t run_workers(const char *phase, const struct table *t, bool free_inherited, void *pool_handle,
                            double own_bytes) {
  int done[2], measure[2], results[2], leave[2];
  if (pipe(done) || pipe(measure) || pipe(results) || pipe(leave)) wl_die("pipe failed");
  fflush(stdout);
  pid_t pid[WORKERS];
  for (int w = 0; w < WORKERS; w++) {
    pid[w] = fork();
    if (pid[w] < 0) wl_die("fork failed");
    if (pid[w] > 0) continue;
    struct report r = {.pool_private = -1};
    struct entry **frees = NULL;
    size_t nfrees = 0;
    if (free_inherited) frees = map_array((t->entries / 10 + 1) * sizeof *frees);
    r.sum = read_all(t, frees, &nfrees);
    for (size_t i = 0; i < nfrees; i++) free(frees[i]);
    r.own_peak = own_work(own_bytes, wl_mix(77, (uint64_t)w));
    char c = 1;
    write_all(done[1], &c, 1);
    read_all_bytes(measure[0], &c, 1);
    r.private_dirty = rollup("Private_Dirty:");
    r.pss = rollup("Pss:");
    if (pool_handle) {
      size_t st[5];
      if (pool.stats(pool_handle, st) == 0) r.pool_private = (long)(st[4] / 1024);
    }
    write_all(results[1], &r, sizeof r);
    read_all_bytes(leave[0], &c, 1);
    _exit(0);
  }
  char c;
  for (int w = 0; w < WORKERS; w++) read_all_bytes(done[0], &c, 1);
  for (int w = 0; w < WORKERS; w++) write_all(measure[1], &c, 1);
  struct report r[WORKERS];
  for (int w = 0; w < WORKERS; w++) read_all_bytes(results[0], &r[w], sizeof r[w]);
  long parent_pss = rollup("Pss:");
  for (int w = 0; w < WORKERS; w++) write_all(leave[1], &c, 1);
  for (int w = 0; w < WORKERS; w++) {
    int status;
    if (waitpid(pid[w], &status, 0) != pid[w] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      wl_die("%s worker %d failed", phase, w);
  }
  close(done[0]), close(done[1]), close(measure[0]), close(measure[1]);
  close(results[0]), close(results[1]), close(leave[0]), close(leave[1]);

  long worst = 0, pss = parent_pss, worst_pool = -1;
  double own = 0;
  uint64_t sum = 0;
  for (int w = 0; w < WORKERS; w++) {
    if (r[w].private_dirty > worst) worst = r[w].private_dirty;
    if (r[w].pool_private > worst_pool) worst_pool = r[w].pool_private;
    if (r[w].own_peak > own) own = r[w].own_peak;
    pss += r[w].pss;
    sum += r[w].sum;
  }
  char name[64], label[160];
  double own_kib = own / 1024, data_kib = t->bytes / 1024;
  snprintf(name, sizeof name, "%s_dataset", phase);
  snprintf(label, sizeof label, "%s: dataset built by the parent (bytes requested)", phase);
  mem_metric(name, data_kib, "KiB", label);
  snprintf(name, sizeof name, "%s_worker_own", phase);
  snprintf(label, sizeof label, "%s: a worker's own blocks live at most", phase);
  mem_metric(name, own_kib, "KiB", label);
  snprintf(name, sizeof name, "%s_worker_private", phase);
  snprintf(label, sizeof label, "%s: a worker's Private_Dirty (the largest of %d%s)", phase, WORKERS,
           free_inherited ? ", each freed 10% of what it inherited" : "");
  mem_metric(name, (double)worst, "KiB", label);
  mem_target(name, "<=", own_kib * 1.1 + 4096, "KiB", "own × 1.1 + 4 MiB");
  snprintf(name, sizeof name, "%s_inherited_shared", phase);
  snprintf(label, sizeof label, "%s: share of the dataset no worker copied", phase);
  double copied = (double)worst - own_kib * 1.1 - 4096;
  mem_metric(name, 100.0 * (1 - (copied > 0 ? copied : 0) / data_kib), "%", label);
  mem_target(name, ">=", 95, "%", "95%");
  snprintf(name, sizeof name, "%s_pss_total", phase);
  snprintf(label, sizeof label, "%s: PSS of the parent and its %d workers", phase, WORKERS);
  mem_metric(name, (double)pss, "KiB", label);
  if (worst_pool >= 0) {
    snprintf(name, sizeof name, "%s_pool_private", phase);
    snprintf(label, sizeof label, "%s: the pool's private bytes in a worker (hs_pool_stats, the largest)", phase);
    mem_metric(name, (double)worst_pool, "KiB", label);
    mem_target(name, "<=", 0, "KiB", "none");
  }
  return sum;
}

/* The churn phase; returns a checksum. */
static uint64_t churn(double bytes) {
  size_t n = (size_t)(bytes / 64);
  unsigned char **block = map_array(n * sizeof *block);
  uint64_t s = 0xc4u, sum = 0;
  for (size_t i = 0; i < n; i++) {
    size_t size = (size_t)wl_range(&s, 16, 112);
    block[i] = wl_malloc(size);
    memset(block[i], (int)(i & 0xff), size);
  }
  int ready[2], go[2], result[2];
  if (pipe(ready) || pipe(go) || pipe(result)) wl_die("pipe failed");
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) wl_die("fork failed");
  if (pid == 0) {
    long start = rollup("Private_Dirty:");
    uint64_t local = 0;
    for (size_t i = 0; i < n; i++) local += block[i][0];
    char c = (char)local;
    write_all(ready[1], &c, 1);
    read_all_bytes(go[0], &c, 1);
    long grown = rollup("Private_Dirty:") - start;
    write_all(result[1], &grown, sizeof grown);
    _exit(0);
  }
  char c;
  read_all_bytes(ready[0], &c, 1);
  /* A random tenth freed (the array the child reads is only read here:
   * the new pointers go to a second one), and as many allocated anew. */
  size_t nfree = n / 10;
  unsigned char **fresh = map_array(nfree * sizeof *fresh);
  size_t *freed = map_array(nfree * sizeof *freed);
  for (size_t k = 0; k < nfree; k++) {
    size_t i = (size_t)wl_range(&s, 0, n - 1);
    freed[k] = i;
  }
  /* Each index once: mark in a private byte map. */
  unsigned char *gone = map_array(n);
  size_t nf = 0;
  for (size_t k = 0; k < nfree; k++)
    if (!gone[freed[k]]) {
      gone[freed[k]] = 1;
      free(block[freed[k]]);
      nf++;
    }
  for (size_t k = 0; k < nf; k++) {
    size_t size = (size_t)wl_range(&s, 16, 112);
    fresh[k] = wl_malloc(size);
    memset(fresh[k], (int)k, size);
  }
  write_all(go[1], &c, 1);
  long grown = 0;
  read_all_bytes(result[0], &grown, sizeof grown);
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) wl_die("churn child failed");
  close(ready[0]), close(ready[1]), close(go[0]), close(go[1]), close(result[0]), close(result[1]);
  mem_metric("churn_heap", bytes / 1024, "KiB", "churn: the parent's heap of small blocks the child reads");
  mem_metric("churn_child_private", (double)grown, "KiB",
             "churn: the child's Private_Dirty growth while the parent frees and reallocates a random 10%");
  mem_target("churn_child_private", "<=", 8192, "KiB", "8 MiB");
  for (size_t i = 0; i < n; i++)
    if (!gone[i]) {
      sum += block[i][0];
      free(block[i]);
    }
  for (size_t k = 0; k < nf; k++) free(fresh[k]);
  munmap(gone, n);
  munmap(freed, nfree * sizeof *freed);
  munmap(fresh, nfree * sizeof *fresh);
  munmap(block, n * sizeof *block);
  return sum;
}

static void free_table(struct table *t) {
  for (size_t b = 0; b < t->buckets; b++)
    for (struct entry *e = t->bucket[b], *next; e; e = next) {
      next = e->next;
      free(e);
    }
  free(t->bucket);
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "prefork: what forked workers copy of an inherited heap", 1, 0.2);
  uint64_t sum = 0, ops = 0;
  if (rollup("Private_Dirty:") < 0) {
    printf("info smaps_rollup unavailable: nothing measured\n");
    wl_result("prefork", 0, 1);
    return 0;
  }
  struct source heap = {heap_alloc, NULL};
  struct table t = build(&heap, DATASET * o.scale, 1);
  ops += t.entries;
  uint64_t heap_sum = run_workers("heap", &t, true, NULL, OWN * o.scale);
  sum += heap_sum;
  free_table(&t);

  if (find_pool_api(&pool)) {
    void *p = pool.create((size_t)(DATASET * o.scale * 1.1));
    if (!p) wl_die("hs_pool_create failed");
    struct source in_pool = {pool_alloc_cb, p};
    struct table pt = build(&in_pool, DATASET * o.scale, 1);
    if (pool.seal(p) != 0) wl_die("hs_pool_seal failed");
    /* The same entries as the heap phase's: checked, but left out of the
     * checksum and the count, which every allocator must print alike. */
    if (run_workers("pool", &pt, false, p, OWN * o.scale) != heap_sum) wl_die("the pool's dataset differs");
    pool.destroy(p);
  } else {
    printf("info pool no hs_pool_* in this allocator: pool phase skipped\n");
  }

  sum += churn(CHURN * o.scale);
  ops += (uint64_t)(CHURN * o.scale / 64);
  wl_result("prefork", sum, ops);
  return 0;
}
