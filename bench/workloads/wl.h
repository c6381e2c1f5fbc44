/* Shared helpers for the benchmark workloads in bench/workloads/.
 *
 * Every workload is one program that links no allocator of its own (the
 * runner picks one with LD_PRELOAD), does a fixed amount of work that depends
 * only on its arguments, and prints one line
 *
 *     NAME checksum=HEX ops=N
 *
 * The checksum covers what the program read back from its blocks, so it must
 * be the same under every allocator; bench/run flags a run whose checksum
 * differs from glibc's. A block whose stamp is wrong (the allocator handed
 * out overlapping or clobbered memory) ends the program with exit status 2.
 *
 * Common options: -t N (threads), -s X (scale factor on the amount of work),
 * --quick (the scale used by `make bench-quick`), -h. */
#ifndef HS_BENCH_WL_H
#define HS_BENCH_WL_H

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wl_opts {
  int threads;  /* -t */
  double scale; /* -s, times the workload's quick factor with --quick */
  int quick;
};

static void wl_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void wl_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("workload error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* Parse -t/-s/--quick. `quick_factor` scales the work down for --quick. */
static inline struct wl_opts wl_parse(int argc, char **argv, const char *usage,
                                      int default_threads, double quick_factor) {
  struct wl_opts o = {default_threads, 1.0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--quick") == 0) {
      o.quick = 1;
    } else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
      o.threads = atoi(argv[++i]);
    } else if (strcmp(a, "-s") == 0 && i + 1 < argc) {
      o.scale = atof(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: %s [-t THREADS] [-s SCALE] [--quick]\n%s\n"
              "  -t THREADS  worker threads (default %d)\n"
              "  -s SCALE    multiply the amount of work (default 1)\n"
              "  --quick     scale %.3g, for make bench-quick\n",
              argv[0], usage, default_threads, quick_factor);
      exit(strcmp(a, "-h") == 0 ? 0 : 64);
    }
  }
  if (o.threads < 1) wl_die("-t must be at least 1");
  if (!(o.scale > 0)) wl_die("-s must be positive");
  if (o.quick) o.scale *= quick_factor;
  return o;
}

/* Scale a base count, at least 1. */
static inline uint64_t wl_scaled(const struct wl_opts *o, uint64_t base) {
  double v = (double)base * o->scale;
  return v < 1 ? 1 : (uint64_t)v;
}

/* splitmix64: small, fast, and the same sequence on every allocator. */
static inline uint64_t wl_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint64_t wl_range(uint64_t *s, uint64_t lo, uint64_t hi) {
  return lo + wl_rand(s) % (hi - lo + 1);
}

/* Log-uniform in [lo, hi]: an octave [2^k, 2^(k+1)) is drawn uniformly, then
 * a size uniformly within it, so every octave is equally likely. With lo and
 * hi powers of two the result lies in [lo, hi); otherwise it is clamped. */
static inline size_t wl_logsize(uint64_t *s, size_t lo, size_t hi) {
  int lb = 63 - __builtin_clzll(lo), hb = 63 - __builtin_clzll(hi - 1);
  uint64_t r = wl_rand(s);
  int k = lb + (int)(r % (uint64_t)(hb - lb + 1));
  size_t base = (size_t)1 << k;
  size_t n = base + (size_t)((r >> 8) % base);
  return n < lo ? lo : n > hi ? hi : n;
}

static inline uint64_t wl_mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xff51afd7ed558ccdULL);
  return wl_rand(&s);
}

/* Keep the compiler from proving a block unused and eliding its malloc. */
static inline void *wl_escape(void *p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

static inline void *wl_malloc(size_t n) {
  void *p = malloc(n);
  if (!p) wl_die("malloc(%zu) returned NULL", n);
  return wl_escape(p);
}

/* Stamp a block of n >= 16 bytes: tag in word 0, size in word 1, and the
 * complement of the tag in the last word. Writing only these words keeps the
 * workload about the allocator, not about memset. */
static inline void wl_stamp(void *p, size_t n, uint64_t tag) {
  uint64_t *w = p;
  w[0] = tag;
  w[1] = n;
  if (n >= 24) memcpy((char *)p + n - 8, &(uint64_t){~tag}, 8);
}

/* Check a stamp and return its tag; exit 2 if the block was clobbered. */
static inline uint64_t wl_check(const void *p) {
  const uint64_t *w = p;
  uint64_t tag = w[0], n = w[1], last;
  if (n >= 24) {
    memcpy(&last, (const char *)p + n - 8, 8);
    if (last != ~tag)
      wl_die("block %p (size %" PRIu64 ") was clobbered: tail %016" PRIx64 " tag %016" PRIx64,
             p, n, last, tag);
  }
  return tag;
}

/* The size a stamped block was allocated with. */
static inline size_t wl_stamped_size(const void *p) { return (size_t)((const uint64_t *)p)[1]; }

/* The cache-thrash / cache-scratch inner loop: `objects` times, allocate a
 * small object, write every byte `writes` times, free it. A cache line
 * shared with another thread's object shows up as time here. */
static inline uint64_t wl_write_objects(uint64_t objects, size_t size, int writes) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < objects; i++) {
    volatile unsigned char *p = wl_malloc(size);
    for (size_t j = 0; j < size; j++) p[j] = 0;
    for (int r = 0; r < writes; r++)
      for (size_t j = 0; j < size; j++) p[j] = (unsigned char)(p[j] + 1 + j);
    for (size_t j = 0; j < size; j++) sum += p[j];
    free((void *)p);
  }
  return sum;
}

static inline void wl_result(const char *name, uint64_t checksum, uint64_t ops) {
  printf("%s checksum=%016" PRIx64 " ops=%" PRIu64 "\n", name, checksum, ops);
  fflush(stdout);
}

/* Run fn on n threads, the i-th with args + i * arg_size, and join them. */
static inline void wl_spawn_join(int n, void *(*fn)(void *), void *args, size_t arg_size) {
  pthread_t *t = wl_malloc(sizeof *t * (size_t)n);
  for (int i = 0; i < n; i++)
    if (pthread_create(&t[i], NULL, fn, (char *)args + arg_size * (size_t)i) != 0)
      wl_die("pthread_create failed");
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  free(t);
}

#endif
