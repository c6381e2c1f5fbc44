/* hugeheap: random access over a big heap of small nodes (the TLB test).
 *
 * Allocates a 1 GiB heap (--quick: 512 MiB; -s 4: 4 GiB) of nodes of 64 to
 * 256 bytes (uniform), every byte written, links them into one cycle in a random
 * order (through an array of the node pointers, then freed), and chases
 * the cycle for a fixed number of steps, reading and writing each node. With
 * 4 KiB pages nearly every step misses the TLB; with the heap on 2 MiB pages
 * (transparent huge pages) far fewer do, so the time of the access phase
 * shows what huge pages are worth. It reports that time, and how much of the
 * process's memory is in AnonHugePages (from /proc/self/smaps_rollup, else
 * smaps: AnonHugePages / Rss over all mappings, measured before the access
 * phase), with the machine's THP mode.
 *
 * Skips itself (exit 0, `info skipped ...`, no metrics) when MemAvailable is
 * under twice the heap (2 GiB at the default size, 8 GiB for 4 GiB). The
 * heap is not freed: exit returns it (freeing 6.7 M nodes would add seconds
 * and measure nothing this workload is about).
 * Knobs: -s scales the heap and the steps (--quick: half of both). -t is
 * ignored. */
#include "mem.h"

/* Meant for 4 GiB; on the 2-core VM the suite was written on, a 4 KiB page
 * fault cost ~25 µs, and 2 GiB took 31 to 43 s per allocator (build ~25 s):
 * the default is 1 GiB (-s 4 gives 4 GiB). */
static const double HEAP = 1.0 * (1ULL << 30); /* requested bytes at -s 1 */
static const double STEPS = 8e6;                 /* access steps at -s 1 */

struct node {
  struct node *next;
  uint64_t id;
  uint64_t visits;
  /* 64 to 256 bytes in all; the rest is written once and left */
};

/* A random bijection of [0, n) and its inverse, computed, not stored: a
 * 4-round Feistel network on [0, 4^half) with cycle walking. Node i (in
 * allocation order) is linked to the node after it in the permuted order
 * with one random read of the pointer array, and no shuffle of that array
 * is needed. */
static unsigned half;
static uint64_t half_mask, n_nodes;

static uint64_t round_f(uint64_t x, int k) { return wl_mix(x, 0xfe15 + (uint64_t)k) & half_mask; }

static uint64_t perm(uint64_t x) {
  do {
    uint64_t l = x >> half, r = x & half_mask;
    for (int k = 0; k < 4; k++) {
      uint64_t t = l ^ round_f(r, k);
      l = r;
      r = t;
    }
    x = l << half | r;
  } while (x >= n_nodes);
  return x;
}

static uint64_t perm_inverse(uint64_t x) {
  do {
    uint64_t l = x >> half, r = x & half_mask;
    for (int k = 3; k >= 0; k--) {
      uint64_t t = r ^ round_f(l, k);
      r = l;
      l = t;
    }
    x = l << half | r;
  } while (x >= n_nodes);
  return x;
}

/* AnonHugePages and Rss (KiB) of the whole process. */
static int thp_rss(long *anon_huge, long *rss) {
  static const char *const keys[] = {"AnonHugePages:", "Rss:"};
  long v[2];
  if (mem_proc_fields("/proc/self/smaps_rollup", keys, 2, v) != 0 &&
      mem_proc_fields("/proc/self/smaps", keys, 2, v) != 0)
    return -1;
  *anon_huge = v[0] < 0 ? 0 : v[0];
  *rss = v[1];
  return 0;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "hugeheap: pointer chasing over a 1 GiB heap of small nodes", 1, 0.5);
  char thp_buf[128];
  const char *thp = mem_thp_mode(thp_buf, sizeof thp_buf);
  double heap = HEAP * o.scale;
  uint64_t steps = (uint64_t)(STEPS * o.scale);
  long avail = mem_available_kib();
  printf("info thp_enabled %s\n", thp);
  if (avail >= 0 && (double)avail * 1024 < 2 * heap) {
    printf("info skipped MemAvailable %ld MiB < 2 × the %.0f MiB heap\n", avail / 1024, heap / (1 << 20));
    wl_result("hugeheap", 0, 0);
    return 0;
  }

  uint64_t s = 0x4a9e, n = 0, cap = (uint64_t)(heap / 160 * 1.05) + 1024;
  struct node **nodes = wl_malloc(cap * sizeof *nodes);
  double bytes = 0, t_build = mem_now_ms();
  while (bytes < heap) {
    size_t size = (size_t)wl_range(&s, 64, 256);
    if (n == cap) {
      cap += cap / 8;
      nodes = realloc(nodes, cap * sizeof *nodes);
      if (!nodes) wl_die("realloc of the node array failed");
    }
    struct node *x = wl_malloc(size);
    memset(x, (int)(n & 0xff), size);
    x->id = n;
    x->visits = 0;
    nodes[n++] = x;
    bytes += (double)size;
  }
  /* One random cycle: node perm(k) links to node perm(k + 1). */
  n_nodes = n;
  half = 1;
  while ((uint64_t)1 << (2 * half) < n) half++;
  half_mask = ((uint64_t)1 << half) - 1;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t k = perm_inverse(i);
    nodes[i]->next = nodes[perm(k + 1 == n ? 0 : k + 1)];
  }
  struct node *start = nodes[perm(0)];
  free(nodes);
  double build_ms = mem_now_ms() - t_build;

  long anon_huge = 0, rss = 0;
  if (thp_rss(&anon_huge, &rss) != 0) wl_die("cannot read /proc/self/smaps_rollup or smaps");

  uint64_t sum = 0;
  struct node *x = start;
  double t0 = mem_now_ms();
  for (uint64_t i = 0; i < steps; i++) {
    sum += x->id ^ x->visits;
    x->visits++;
    x = x->next;
  }
  double access_ms = mem_now_ms() - t0;

  mem_metric("heap", bytes / 1024, "KiB", "heap: bytes requested for the nodes");
  mem_metric("rss", (double)rss, "KiB", "RSS (smaps) before the access phase");
  mem_metric("anon_huge", (double)anon_huge, "KiB", "AnonHugePages before the access phase");
  mem_metric("thp_pct", 100.0 * (double)anon_huge / (double)rss, "%", "AnonHugePages / RSS");
  mem_target("thp_pct", ">=", 90, "%", "90% (THP mode of the machine)");
  mem_metric("build_ms", build_ms, "ms", "build: allocate, write, link");
  mem_metric("access_ms", access_ms, "ms", "access phase: random pointer chase");
  mem_metric("access_ns_per_step", access_ms * 1e6 / (double)steps, "ns", "access: ns per step");
  printf("info size %" PRIu64 " nodes, %" PRIu64 " steps\n", n, steps);
  wl_result("hugeheap", sum, steps);
  return 0;
}
