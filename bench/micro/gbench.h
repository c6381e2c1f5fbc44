/* gbench.h: a C interface to Google Benchmark (bench/micro/gbench_shim.cc).
 *
 * Lets the allocator microbenchmarks be written in C, the language of the
 * allocator, while Google Benchmark does the timing, the iteration-count
 * search, threads, filters and JSON output. A benchmark is a C function:
 *
 *     static void bm_pair(gbench_state *st, void *ctx) {
 *       size_t n = (size_t)gbench_range(st, 0);
 *       while (gbench_keep_running_batch(st, 64))
 *         for (int i = 0; i < 64; i++) free(gbench_escape(malloc(n)));
 *     }
 *
 *     int main(int argc, char **argv) {
 *       gbench_threads(gbench_arg(gbench_register("pair", bm_pair, NULL), 16), 2);
 *       return gbench_main(argc, argv);
 *     }
 *
 * Every function here is a thin call into the C++ object of the same
 * meaning; see Google Benchmark's user guide for the semantics. The cost of
 * one gbench_keep_running() call (an out-of-line call) is a few nanoseconds;
 * use gbench_keep_running_batch() around an inner loop for operations that
 * take only a few nanoseconds themselves. */
#ifndef HS_BENCH_GBENCH_H
#define HS_BENCH_GBENCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gbench_state gbench_state; /* a benchmark::State */
typedef struct gbench_bench gbench_bench; /* a benchmark::internal::Benchmark */
typedef void (*gbench_fn)(gbench_state *st, void *ctx);

/* Register fn under name; ctx is passed to every call. Returns the benchmark
 * for the configuration calls below, which return it again for chaining. */
gbench_bench *gbench_register(const char *name, gbench_fn fn, void *ctx);
gbench_bench *gbench_arg(gbench_bench *b, int64_t a);             /* one run per Arg */
gbench_bench *gbench_args2(gbench_bench *b, int64_t a, int64_t c); /* a run with two args */
gbench_bench *gbench_threads(gbench_bench *b, int n);             /* one run with n threads */
gbench_bench *gbench_real_time(gbench_bench *b);                  /* time by wall clock */

/* The timing loop: true while more iterations are wanted. */
int gbench_keep_running(gbench_state *st);
/* The same, n iterations at a time (the last batch may overshoot). */
int gbench_keep_running_batch(gbench_state *st, int64_t n);

int64_t gbench_range(gbench_state *st, int i); /* the i-th argument */
int64_t gbench_iterations(gbench_state *st);   /* iterations done so far */
int gbench_thread_index(gbench_state *st);     /* 0 .. gbench_thread_count()-1 */
int gbench_thread_count(gbench_state *st);
void gbench_pause(gbench_state *st);  /* stop the clock (costly: not per iteration) */
void gbench_resume(gbench_state *st); /* start it again */
void gbench_set_items(gbench_state *st, int64_t items); /* for items_per_second */
void gbench_error(gbench_state *st, const char *msg);   /* mark the run failed */

/* Parse Google Benchmark's --benchmark_* flags, run, report. Returns the exit
 * status for main: 0, or 64 on an unknown flag. */
int gbench_main(int argc, char **argv);

/* Keep the compiler from proving a value unused (and eliding a malloc). */
static inline void *gbench_escape(void *p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

#ifdef __cplusplus
}
#endif

#endif
