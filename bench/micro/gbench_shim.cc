// gbench_shim.cc: the C++ side of bench/micro/gbench.h. Each C call forwards
// to the Google Benchmark member of the same meaning; the opaque C handles
// are the C++ objects themselves.
#include "gbench.h"

#include <benchmark/benchmark.h>

namespace {

benchmark::State &S(gbench_state *st) { return *reinterpret_cast<benchmark::State *>(st); }
benchmark::internal::Benchmark *B(gbench_bench *b) {
  return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}
gbench_bench *H(benchmark::internal::Benchmark *b) { return reinterpret_cast<gbench_bench *>(b); }

}  // namespace

extern "C" {

gbench_bench *gbench_register(const char *name, gbench_fn fn, void *ctx) {
  return H(benchmark::RegisterBenchmark(name, [fn, ctx](benchmark::State &st) {
    fn(reinterpret_cast<gbench_state *>(&st), ctx);
  }));
}

gbench_bench *gbench_arg(gbench_bench *b, int64_t a) { return H(B(b)->Arg(a)); }
gbench_bench *gbench_args2(gbench_bench *b, int64_t a, int64_t c) { return H(B(b)->Args({a, c})); }
gbench_bench *gbench_threads(gbench_bench *b, int n) { return H(B(b)->Threads(n)); }
gbench_bench *gbench_real_time(gbench_bench *b) { return H(B(b)->UseRealTime()); }

int gbench_keep_running(gbench_state *st) { return S(st).KeepRunning(); }
int gbench_keep_running_batch(gbench_state *st, int64_t n) { return S(st).KeepRunningBatch(n); }
int64_t gbench_range(gbench_state *st, int i) { return S(st).range(static_cast<std::size_t>(i)); }
int64_t gbench_iterations(gbench_state *st) { return S(st).iterations(); }
int gbench_thread_index(gbench_state *st) { return S(st).thread_index(); }
int gbench_thread_count(gbench_state *st) { return S(st).threads(); }
void gbench_pause(gbench_state *st) { S(st).PauseTiming(); }
void gbench_resume(gbench_state *st) { S(st).ResumeTiming(); }
void gbench_set_items(gbench_state *st, int64_t items) { S(st).SetItemsProcessed(items); }
void gbench_error(gbench_state *st, const char *msg) { S(st).SkipWithError(msg); }

int gbench_main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 64;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // extern "C"
