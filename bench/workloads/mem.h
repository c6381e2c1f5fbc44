/* Shared helpers for the memory-return workloads (phased, survivors,
 * redislike, hugeheap), on top of wl.h.
 *
 * These programs measure how much memory the allocator gives back to the
 * kernel, so nothing here calls malloc: /proc files are read with read(2)
 * into a buffer on the stack, and the scratch space of the page-floor count
 * comes from mmap. Besides wl.h's `NAME checksum=HEX ops=N` line, each
 * program prints result lines that bench/run collects into metrics.csv and
 * bench/report.py turns into the "Memory given back" table:
 *
 *     metric NAME VALUE UNIT LABEL...     UNIT: KiB, ms, ns, %, x (a ratio)
 *     target NAME OP LIMIT UNIT LABEL...  OP: <= or >=; hugeslab's goal for metric NAME
 *     info NAME TEXT...                   a fact of the run (THP mode, where malloc_trim came from)
 *
 * NAME has no spaces; LABEL is the row's text in the report. A target's
 * LIMIT is computed by the program from what it measured (live bytes, its
 * own footprint), so the report only compares. */
#ifndef HS_BENCH_MEM_H
#define HS_BENCH_MEM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "wl.h"

enum { MEM_PAGE = 4096 };

/* Sum the values (in kB) of every line of `path` that starts with one of
 * keys[0..n-1] (e.g. "VmRSS:", "AnonHugePages:") into out[]; a key never seen
 * gives -1. Returns 0, or -1 when the file cannot be read. Reads in chunks
 * into a stack buffer, so smaps of any length works without allocating. */
static inline int mem_proc_fields(const char *path, const char *const *keys, int n, long *out) {
  char buf[8192];
  size_t have = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (int i = 0; i < n; i++) out[i] = -1;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      close(fd);
      return -1;
    }
    have += (size_t)r;
    buf[have] = '\0';
    /* Every complete line in the buffer; at end of file the last one too. */
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL || (r == 0 && *line)) {
      if (nl) *nl = '\0';
      for (int i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (strncmp(line, keys[i], kl) == 0) {
          long v = strtol(line + kl, NULL, 10);
          out[i] = (out[i] < 0 ? 0 : out[i]) + v;
        }
      }
      line = nl ? nl + 1 : line + strlen(line);
    }
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
    if (r == 0) break;
    if (have == sizeof buf - 1) have = 0; /* a line longer than the buffer: drop it */
  }
  close(fd);
  return 0;
}

static inline long mem_proc_field(const char *path, const char *key) {
  long v;
  if (mem_proc_fields(path, &key, 1, &v) != 0) return -1;
  return v;
}

/* VmRSS of this process in KiB. */
static inline long mem_rss_kib(void) {
  long v = mem_proc_field("/proc/self/status", "VmRSS:");
  if (v < 0) wl_die("cannot read VmRSS from /proc/self/status");
  return v;
}

/* VmHWM (peak RSS so far) in KiB. */
static inline long mem_hwm_kib(void) { return mem_proc_field("/proc/self/status", "VmHWM:"); }

/* MemAvailable of the machine in KiB, -1 if unknown. */
static inline long mem_available_kib(void) { return mem_proc_field("/proc/meminfo", "MemAvailable:"); }

static inline double mem_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sleep ms milliseconds (no allocator call). */
static inline void mem_sleep_ms(double ms) {
  struct timespec ts;
  if (ms <= 0) return;
  ts.tv_sec = (time_t)(ms / 1e3);
  ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Sleep until mem_now_ms() reaches t. */
static inline void mem_sleep_until(double t) {
  double now = mem_now_ms();
  if (t > now) mem_sleep_ms(t - now);
}

/* The library a symbol address lies in, as its file name without the
 * directory ("libc.so.6"), or "?" */
static inline const char *mem_lib_of(const void *addr) {
  Dl_info info;
  if (!dladdr(addr, &info) || !info.dli_fname) return "?";
  const char *slash = strrchr(info.dli_fname, '/');
  return slash ? slash + 1 : info.dli_fname;
}

/* malloc_trim(0) of whichever library the process resolves it to: the
 * preloaded allocator's if it has one, else glibc's (which then trims only
 * glibc's own, unused, heap). mem_trim_from() names that library afterwards
 * (printing it here would allocate stdout's buffer mid-measurement). */
static const char *mem_trim_lib = "(not called)";
static inline void mem_trim(void) {
  static int (*trim)(size_t);
  static int looked;
  if (!looked) {
    void *sym = dlsym(RTLD_DEFAULT, "malloc_trim");
    looked = 1;
    if (sym) memcpy(&trim, &sym, sizeof trim);
    mem_trim_lib = sym ? mem_lib_of(sym) : "(none)";
  }
  if (trim) trim(0);
}

static inline void mem_trim_info(void) { printf("info malloc_trim %s\n", mem_trim_lib); }

static inline void mem_metric(const char *name, double value, const char *unit, const char *label) {
  if (strcmp(unit, "KiB") == 0)
    printf("metric %s %.0f %s %s\n", name, value, unit, label);
  else
    printf("metric %s %.3f %s %s\n", name, value, unit, label);
}

static inline void mem_target(const char *name, const char *op, double limit, const char *unit,
                              const char *label) {
  if (strcmp(unit, "KiB") == 0)
    printf("target %s %s %.0f %s %s\n", name, op, limit, unit, label);
  else
    printf("target %s %s %.3f %s %s\n", name, op, limit, unit, label);
}

/* The machine's THP mode: the bracketed word of
 * /sys/kernel/mm/transparent_hugepage/enabled, or "unknown". */
static inline const char *mem_thp_mode(char *buf, size_t size) {
  int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) return "unknown";
  buf[n] = '\0';
  char *open_br = strchr(buf, '['), *close_br = open_br ? strchr(open_br, ']') : NULL;
  if (!close_br) return "unknown";
  *close_br = '\0';
  return open_br + 1;
}

/* ---- the page floor: distinct 4 KiB pages touched by a set of blocks ---- */

/* Page numbers, in an mmap'd array that grows by remapping. */
struct mem_pages {
  uint64_t *page;
  size_t n, cap;
};

static inline void mem_pages_add(struct mem_pages *pp, const void *p, size_t size) {
  uint64_t first = (uint64_t)(uintptr_t)p / MEM_PAGE;
  uint64_t last = ((uint64_t)(uintptr_t)p + (size ? size : 1) - 1) / MEM_PAGE;
  for (uint64_t pg = first; pg <= last; pg++) {
    if (pp->n == pp->cap) {
      size_t cap = pp->cap ? pp->cap * 2 : (size_t)1 << 16;
      void *q = pp->page ? mremap(pp->page, pp->cap * 8, cap * 8, MREMAP_MAYMOVE)
                         : mmap(NULL, cap * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (q == MAP_FAILED) wl_die("mmap for the page list failed");
      pp->page = q;
      pp->cap = cap;
    }
    pp->page[pp->n++] = pg;
  }
}

static inline void mem_sift(uint64_t *a, size_t root, size_t n) {
  for (;;) {
    size_t c = 2 * root + 1;
    if (c >= n) return;
    if (c + 1 < n && a[c + 1] > a[c]) c++;
    if (a[root] >= a[c]) return;
    uint64_t t = a[root];
    a[root] = a[c];
    a[c] = t;
    root = c;
  }
}

/* The number of distinct pages added; frees the array. (Heapsort: qsort may
 * call malloc.) */
static inline uint64_t mem_pages_count(struct mem_pages *pp) {
  uint64_t *a = pp->page;
  size_t n = pp->n;
  uint64_t distinct = 0;
  for (size_t i = n / 2; i-- > 0;) mem_sift(a, i, n);
  for (size_t end = n; end > 1; end--) {
    uint64_t t = a[0];
    a[0] = a[end - 1];
    a[end - 1] = t;
    mem_sift(a, 0, end - 1);
  }
  for (size_t i = 0; i < n; i++)
    if (i == 0 || a[i] != a[i - 1]) distinct++;
  if (a) munmap(a, pp->cap * 8);
  pp->page = NULL;
  pp->n = pp->cap = 0;
  return distinct;
}

/* Pull `--NAME VALUE` out of argv (so wl_parse does not see it); returns the
 * value or `def`. */
static inline const char *mem_take_opt(int *argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i < *argc; i++)
    if (strcmp(argv[i], name) == 0 && i + 1 < *argc) {
      const char *v = argv[i + 1];
      for (int j = i; j + 2 <= *argc; j++) argv[j] = argv[j + 2];
      *argc -= 2;
      return v;
    }
  return def;
}

#endif
