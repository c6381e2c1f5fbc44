/* phased: a program that works in phases and keeps one phase's data.
 *
 * Allocates ~260 MiB of small blocks (16 to 512 bytes, uniform) in 10
 * phases of equal size, every byte written; then frees 9 of the phases,
 * keeping the 5th (so freed memory lies on both sides of what stays). Then
 * it watches how much of the freed memory the allocator gives back:
 *
 *   RSS right after the frees;
 *   RSS 2.5 s later (a sleep: no allocator call in between, so only a
 *     background thread or the frees themselves can have returned it);
 *   RSS right after malloc_trim(0) (looked up with dlsym: glibc's when the
 *     preloaded allocator has none, which then does nothing for it);
 *   then everything freed, and after another 2.5 s, RSS minus the program's
 *   own footprint (its RSS at start, before any allocation).
 *
 * Each phase's blocks are chained through their first word, so the program
 * keeps no arrays: the live bytes are exactly the surviving blocks.
 * Knobs: -s scales the total size (--quick: a fifth). -t is ignored. */
#include "mem.h"

enum { PHASES = 10, KEEP = 4, MIN_SIZE = 16, MAX_SIZE = 512 };
static const double TOTAL = 260.0 * (1 << 20); /* bytes requested at -s 1 */
static const double WAIT_MS = 2500;

struct blk {
  struct blk *next;
  uint64_t check; /* the block's size in the low 10 bits, a hash of index and phase above */
};

static uint64_t check_of(uint64_t i, size_t size, int phase) {
  return (wl_mix(i * PHASES + (uint64_t)phase, 77) << 10) | size;
}

/* Free a phase's chain (newest first), verifying each block; returns its
 * part of the checksum. */
static uint64_t free_phase(struct blk *b, uint64_t count, int phase) {
  uint64_t sum = 0, i = count;
  while (b) {
    struct blk *next = b->next;
    if (i == 0) wl_die("phase %d has too many blocks", phase);
    i--;
    size_t size = (size_t)(b->check & 1023);
    unsigned char last = size > sizeof *b ? ((unsigned char *)b)[size - 1] : (unsigned char)(i & 0xff);
    if (b->check != check_of(i, size, phase) || last != (unsigned char)(i & 0xff))
      wl_die("block %p of phase %d was clobbered", (void *)b, phase);
    sum += b->check + last;
    free(b);
    b = next;
  }
  if (i != 0) wl_die("phase %d lost blocks", phase);
  return sum;
}

int main(int argc, char **argv) {
  long own = mem_rss_kib(); /* before anything allocates (printf included) */
  struct wl_opts o = wl_parse(argc, argv, "phased: 10 phases of small blocks, 9 freed", 1, 0.2);
  uint64_t s = 0x70a5ed, sum = 0, ops = 0;
  struct blk *head[PHASES] = {0};
  uint64_t count[PHASES] = {0};
  double per_phase = TOTAL * o.scale / PHASES, live = 0;

  for (int ph = 0; ph < PHASES; ph++) {
    double bytes = 0;
    for (uint64_t i = 0; bytes < per_phase; i++) {
      size_t size = (size_t)wl_range(&s, MIN_SIZE, MAX_SIZE);
      struct blk *b = wl_malloc(size);
      memset(b, (int)(i & 0xff), size);
      b->next = head[ph];
      b->check = check_of(i, size, ph);
      head[ph] = b;
      count[ph]++;
      bytes += (double)size;
    }
    if (ph == KEEP) live = bytes;
    ops += count[ph];
  }
  long full = mem_rss_kib();
  for (int ph = 0; ph < PHASES; ph++)
    if (ph != KEEP) {
      sum += free_phase(head[ph], count[ph], ph);
      head[ph] = NULL;
    }
  long after_free = mem_rss_kib();
  mem_sleep_ms(WAIT_MS);
  long after_wait = mem_rss_kib();
  mem_trim();
  long after_trim = mem_rss_kib();
  sum += free_phase(head[KEEP], count[KEEP], KEEP);
  mem_sleep_ms(WAIT_MS);
  long all_freed = mem_rss_kib();

  double live_kib = live / 1024;
  mem_metric("own_footprint", (double)own, "KiB", "own footprint (RSS at start)");
  mem_metric("live", live_kib, "KiB", "live bytes after the frees (1 phase of 10)");
  mem_metric("rss_full", (double)full, "KiB", "RSS with all 10 phases allocated");
  mem_metric("rss_after_free", (double)after_free, "KiB", "RSS right after freeing 9 phases");
  mem_metric("rss_after_2500ms", (double)after_wait, "KiB", "RSS 2.5 s after the frees");
  mem_target("rss_after_2500ms", "<=", 1.1 * live_kib + 4096, "KiB", "1.1 × live + 4 MiB");
  mem_metric("rss_after_trim", (double)after_trim, "KiB", "RSS right after malloc_trim(0)");
  mem_target("rss_after_trim", "<=", live_kib + 3072, "KiB", "live + 3 MiB");
  mem_metric("all_freed_above_own", (double)(all_freed - own), "KiB",
             "everything freed, 2.5 s later: RSS − own footprint");
  mem_target("all_freed_above_own", "<=", 2048, "KiB", "2 MiB");
  mem_trim_info();
  wl_result("phased", sum, ops);
  return 0;
}
