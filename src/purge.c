/* purge: see purge.h. */
#include "purge.h"

#include <stdint.h>
#include "arena.h"
#include "config.h"
#include "huge.h"
#include "meta.h"
#include "os.h"

/* Decay passes per decay period: a page goes back between decay_ms and
 * decay_ms * (1 + 1/PURGE_PASSES_PER_DECAY) after it went dirty. */
#define PURGE_PASSES_PER_DECAY 4
/* An arena that shrank holds "excess" dirty memory above its excess minimum
 * and above a sixteenth of its pages in use (is_excess); then it keeps a
 * thirty-second of what is in use, at least PURGE_KEEP_MIN pages (256 KiB).
 * The minimum starts at an eighth of the pages in use, between
 * PURGE_EXCESS_MIN_SMALL (256 KiB) and PURGE_EXCESS_MIN (2 MiB): a small
 * heap that shrank to a few MiB would otherwise keep up to 2 MiB dirty
 * until a decay pass, which a program that sleeps never calls. */
#define PURGE_EXCESS_MIN ((size_t)512)
#define PURGE_EXCESS_MIN_SMALL ((size_t)64)
#define PURGE_KEEP_MIN ((size_t)64)
#define PURGE_EXCESS_RETRY_MS 20
/* An arena that grows back soon after an excess pass (its heap swings, and
 * each pass costs the page faults of the regrowth) raises its own minimum,
 * up to this many pages (64 MiB). */
#define PURGE_EXCESS_MAX ((size_t)16384)
/* Decay passes leave dirty runs shorter than this (64 KiB) in partly used
 * chunks: each run is a system call, and a fragmented chunk would cost one
 * per page per pass. An excess or a trim takes them too. */
#define PURGE_MIN_RUN_PAGES 16
/* Metadata pages freed since the last pass that make a decay pass purge
 * metadata (a trim purges any). */
#define PURGE_META_MIN_PAGES 64

/* The background thread's longest sleep, when decay is at once or long. */
#define PURGE_THREAD_MAX_SLEEP_MS 1000

/* The huge cache's next decay pass (atomic). */
static uint64_t huge_next_ms;
/* The background thread: 0 = not started, 1 = starting or running (atomic).
 * Reset in a forked child, which has no such thread. */
static int background_state;
/* Fork handlers in progress (atomic): no thread starts meanwhile. */
static int starts_blocked;

static uint64_t pass_interval(void) {
  uint64_t step = (uint64_t)hs_conf.decay_ms / PURGE_PASSES_PER_DECAY;
  return step ? step : 1;
}

static size_t load(const size_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* What purge reads of an arena, racily (a pass takes the lock itself). */
struct arena_view {
  size_t used, free, dirty, peak;
  size_t fresh;         /* dirty pages on top of what the last pass left */
  uint64_t excess_next; /* when an excess pass may retry what that pass left */
  size_t excess_min;    /* the arena's excess minimum */
};

/* The excess minimum of an arena that has not raised its own. */
static size_t default_excess_min(size_t used) {
  size_t min = used / 8;
  return min < PURGE_EXCESS_MIN_SMALL ? PURGE_EXCESS_MIN_SMALL : min > PURGE_EXCESS_MIN ? PURGE_EXCESS_MIN : min;
}

static struct arena_view view_of(struct arena *a) {
  struct arena_view v;
  size_t total = load(&a->chunk_pages);
  v.free = load(&a->free_pages);
  v.dirty = load(&a->dirty_pages);
  v.peak = load(&a->used_peak_pages);
  v.used = total > v.free ? total - v.free : 0;
  size_t left = load(&a->purge.left_pages);
  v.fresh = v.dirty > left ? v.dirty - left : 0;
  v.excess_next = __atomic_load_n(&a->purge.retry_ms, __ATOMIC_RELAXED);
  v.excess_min = load(&a->purge.excess_min_pages);
  if (v.excess_min == 0) v.excess_min = default_excess_min(v.used);
  return v;
}

/* An excess: the arena shrank (in use under half its recent peak) and holds
 * more dirty pages than a sixteenth of what it uses. A program whose heap
 * churns at a steady size reuses its dirty pages and is left to decay. What
 * a pass leaves (runs too short, huge pages kept whole) does not make every
 * release after it an excess: only the excess minimum freed on top of it, or
 * PURGE_EXCESS_RETRY_MS later (its runs may have grown by then). */
static bool is_excess(const struct arena_view *v, uint64_t now) {
  return (v->fresh > v->excess_min || (v->dirty > v->excess_min && now >= v->excess_next)) &&
         v->dirty > v->used / 16 && v->used < v->peak / 2;
}

/* The excess minimum adapts (lock-free, racy by design): an arena in use
 * above what an excess pass left plus half of what it took, within
 * decay_ms of it, grew back, and doubles its minimum; a timed pass 4 ×
 * decay_ms after the last excess pass halves it again. */
static void excess_watch(struct arena *a, const struct arena_view *v, uint64_t now) {
  size_t mark = load(&a->purge.regrow_pages);
  if (mark == 0 || v->used <= mark) return;
  __atomic_store_n(&a->purge.regrow_pages, 0, __ATOMIC_RELAXED);
  if (now - __atomic_load_n(&a->purge.excess_ms, __ATOMIC_RELAXED) >= (uint64_t)hs_conf.decay_ms) return;
  size_t min = v->excess_min * 2 < PURGE_EXCESS_MAX ? v->excess_min * 2 : PURGE_EXCESS_MAX;
  __atomic_store_n(&a->purge.excess_min_pages, min, __ATOMIC_RELAXED);
}

static void excess_relax(struct arena *a, const struct arena_view *v, uint64_t now) {
  if (load(&a->purge.excess_min_pages) == 0) return;
  if (now - __atomic_load_n(&a->purge.excess_ms, __ATOMIC_RELAXED) < 4 * (uint64_t)hs_conf.decay_ms) return;
  size_t min = v->excess_min / 2;
  __atomic_store_n(&a->purge.excess_min_pages, min > default_excess_min(v->used) ? min : 0, __ATOMIC_RELAXED);
  __atomic_store_n(&a->purge.excess_ms, now, __ATOMIC_RELAXED);
}

/* An arena's excess pass also empties the huge cache when it holds more
 * than is in use (that arena's pages and every live huge block): a program
 * that dropped its heap, freeing its big tables with it, would otherwise
 * keep them for decay_ms after its last slow-path call, which may be long
 * after (redislike: the 32 MiB table of a server that lost 99% of its keys
 * and whose trickle of requests runs from the thread cache alone). A
 * program that churns big blocks keeps them: its arena does not shrink. */
static size_t huge_excess(size_t used_pages) {
  size_t count, live, cached, peak_count, peak_bytes;
  huge_stats(&count, &live, &cached, &peak_count, &peak_bytes);
  if (cached <= live + (used_pages << HS_PAGE_SHIFT)) return 0;
  return huge_expire(UINT64_MAX);
}

/* One pass over arena a at time `now`, unless one is running already: what
 * has been dirty for decay_ms goes back, and an excess goes back at once. `timed`: the pass was due (not
 * brought forward by an excess), so the peak forgets some of its distance;
 * excess passes, as frequent as the frees, would make it forget at once. */
static size_t purge_arena(struct arena *a, const struct arena_view *view, uint64_t now, bool timed) {
  if (__atomic_exchange_n(&a->purge.busy, 1, __ATOMIC_ACQUIRE)) return 0;
  struct arena_view v = *view;
  bool excess = is_excess(&v, now);
  /* An excess pass that is a retry (little freed since the last pass):
   * the arena has stopped shrinking. */
  bool settled = excess && v.fresh <= v.excess_min;
  size_t keep = v.used / 32 > PURGE_KEEP_MIN ? v.used / 32 : PURGE_KEEP_MIN;
  struct arena_purge_request req = {
      .dirty_before_ms = now >= (uint64_t)hs_conf.decay_ms ? now - (uint64_t)hs_conf.decay_ms + 1 : 0,
      .keep_dirty_pages = excess ? keep : SIZE_MAX,
      /* Mostly free: more pages free than in use. */
      .split_hugepages = excess || v.free > v.used,
      .empty_slabs = true,
      .inside_slabs = false,
      .lazy = hs_conf.purge_lazy,
      /* Short runs wait, but not once the arena settled from a shrink:
       * the excess is what it keeps, whatever the runs' lengths. */
      .min_run_pages = hs_conf.decay_ms == 0 || settled ? 1 : PURGE_MIN_RUN_PAGES,
      /* Not while the arena is still shrinking (in use under half its
       * recent peak): a program tearing its heap down frees the rest of
       * those chunks soon, and they go back whole. */
      .short_runs_later = v.used >= v.peak / 2,
  };
  if (hs_conf.decay_ms == 0) req.dirty_before_ms = UINT64_MAX;
  size_t bytes = arena_purge(a, &req);
  if (excess) {
    __atomic_store_n(&a->purge.regrow_pages, v.used + (bytes >> HS_PAGE_SHIFT) / 2 + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&a->purge.excess_ms, now, __ATOMIC_RELAXED);
    bytes += huge_excess(v.used);
  } else if (timed) {
    excess_relax(a, &v, now);
  }
  __atomic_store_n(&a->purge.left_pages, load(&a->dirty_pages), __ATOMIC_RELAXED);
  __atomic_store_n(&a->purge.retry_ms, now + PURGE_EXCESS_RETRY_MS, __ATOMIC_RELAXED);
  /* The peak forgets half its distance to what is in use at every timed pass. */
  if (timed && v.peak > v.used) __atomic_store_n(&a->used_peak_pages, v.used + (v.peak - v.used) / 2, __ATOMIC_RELAXED);
  __atomic_store_n(&a->purge.busy, 0, __ATOMIC_RELEASE);
  /* Descriptors of the slabs and chunks just released. */
  return bytes + meta_purge(excess || hs_conf.decay_ms == 0 ? 1 : PURGE_META_MIN_PAGES);
}

static void *background_main(void *arg);

/* Start the background thread on the first release after start-up (never
 * during it: a thread created from a constructor or from hs_init would run
 * before the program is ready for one). */
static void background_maybe_start(void) {
  if (!hs_conf.background_thread || __atomic_load_n(&background_state, __ATOMIC_RELAXED)) return;
  if (__atomic_load_n(&starts_blocked, __ATOMIC_RELAXED)) return;
  int expected = 0;
  if (!__atomic_compare_exchange_n(&background_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    return;
  if (!os_start_thread(background_main, NULL)) __atomic_store_n(&background_state, 0, __ATOMIC_RELAXED);
}

static void huge_pass(uint64_t now) {
  if (!huge_cache_nonempty()) return;
  uint64_t decay = (uint64_t)hs_conf.decay_ms;
  huge_expire(hs_conf.decay_ms == 0 ? UINT64_MAX : (now >= decay ? now - decay + 1 : 0));
}

/* The huge cache's pass, when one is due. Run from both hooks: a program
 * that freed its big blocks and now churns only small ones frees no huge
 * block that would expire the cached ones. */
static void huge_pass_if_due(uint64_t now) {
  if (hs_conf.decay_ms > 0 && now < __atomic_load_n(&huge_next_ms, __ATOMIC_RELAXED)) return;
  if (!huge_cache_nonempty()) return;
  __atomic_store_n(&huge_next_ms, now + pass_interval(), __ATOMIC_RELAXED);
  huge_pass(now);
}

/* A pass over arena a (and the huge cache) if one is due or an excess. */
static void arena_pass_if_due(struct arena *a) {
  if (hs_conf.decay_ms < 0) return;
  /* Refills call here whatever the state: nothing to give back costs no clock read. */
  bool dirty = load(&a->dirty_pages) != 0;
  if (!dirty && !huge_cache_nonempty()) return;
  uint64_t now = os_now_ms();
  huge_pass_if_due(now);
  if (!dirty) return;
  struct arena_view v = view_of(a);
  excess_watch(a, &v, now);
  uint64_t due = __atomic_load_n(&a->purge.next_ms, __ATOMIC_RELAXED);
  bool timed = now >= due;
  if (!timed && !is_excess(&v, now)) return;
  if (timed) __atomic_store_n(&a->purge.next_ms, now + pass_interval(), __ATOMIC_RELAXED);
  purge_arena(a, &v, now, timed);
}

/* Refills come in runs (a program building a table refills every few dozen
 * mallocs, batch_random hundreds of times a millisecond), and an arena with
 * dirty pages makes the check read the clock: one refill in
 * PURGE_REFILL_EVERY is often enough for a trigger whose passes run at most
 * four times per decay_ms. */
#define PURGE_REFILL_EVERY 16

static void on_arena_refill(struct arena *a) {
  unsigned n = __atomic_load_n(&a->purge.refills, __ATOMIC_RELAXED) + 1;
  __atomic_store_n(&a->purge.refills, n, __ATOMIC_RELAXED);
  if (n % PURGE_REFILL_EVERY == 0) arena_pass_if_due(a);
}

static void on_arena_release(struct arena *a) {
  background_maybe_start();
  arena_pass_if_due(a);
}

static void on_huge_release(void) {
  background_maybe_start();
  if (hs_conf.decay_ms < 0) return;
  huge_pass_if_due(os_now_ms());
}

static void *background_main(void *arg) {
  (void)arg;
  os_block_signals();
  os_name_thread(PURGE_THREAD_NAME);
  for (;;) {
    uint64_t step = hs_conf.decay_ms > 0 ? pass_interval() : PURGE_THREAD_MAX_SLEEP_MS / 10;
    if (step > PURGE_THREAD_MAX_SLEEP_MS) step = PURGE_THREAD_MAX_SLEEP_MS;
    os_sleep_ms((unsigned)step);
    if (hs_conf.decay_ms < 0) continue;
    uint64_t now = os_now_ms();
    for (unsigned i = 0; i < hs_arena_count; i++) {
      struct arena *a = &hs_arenas[i];
      if (load(&a->dirty_pages) == 0) continue;
      __atomic_store_n(&a->purge.next_ms, now + pass_interval(), __ATOMIC_RELAXED);
      struct arena_view v = view_of(a);
      purge_arena(a, &v, now, true);
    }
    huge_pass(now);
  }
  return NULL;
}

void purge_init(void) {
  arena_release_hook = on_arena_release;
  arena_refill_hook = on_arena_refill;
  arena_memory_hook = purge_for_memory;
  huge_release_hook = on_huge_release;
}

/* Every arena's free pages back at once, run by run whatever their length
 * and huge pages or not; `inside_slabs`: the free pages of partly used slabs
 * too. */
static size_t purge_all_arenas(bool inside_slabs, bool lazy) {
  struct arena_purge_request req = {
      .dirty_before_ms = UINT64_MAX,
      .keep_dirty_pages = 0,
      .split_hugepages = true,
      .empty_slabs = true,
      .inside_slabs = inside_slabs,
      .lazy = lazy,
  };
  size_t bytes = 0;
  for (unsigned i = 0; i < hs_arena_count; i++) bytes += arena_purge(&hs_arenas[i], &req);
  return bytes;
}

size_t purge_trim(void) {
  size_t bytes = huge_trim();
  bytes += purge_all_arenas(true, hs_conf.purge_lazy);
  return bytes + meta_purge(1);
}

size_t purge_for_memory(void) {
  /* Cached huge blocks hold address space and commit charge; dirty pages
   * hold only memory, which the kernel reclaims itself: the cache first,
   * and the arenas only when it had nothing. */
  size_t bytes = huge_trim();
  return bytes ? bytes : purge_all_arenas(false, false);
}

/* The child has no background thread, and no pass in progress: one that a
 * thread of the parent was running at the fork (its madvise runs with the
 * arena lock dropped) would otherwise leave its arena's busy flag set in
 * the child for good, and no pass would ever run there. The pages that pass
 * held stay marked used in the child. */
void purge_prefork(void) { __atomic_add_fetch(&starts_blocked, 1, __ATOMIC_RELAXED); }

void purge_postfork_parent(void) { __atomic_sub_fetch(&starts_blocked, 1, __ATOMIC_RELAXED); }

void purge_postfork_child(void) {
  __atomic_store_n(&starts_blocked, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&background_state, 0, __ATOMIC_RELAXED);
  for (unsigned i = 0; i < hs_arena_count; i++) __atomic_store_n(&hs_arenas[i].purge.busy, 0, __ATOMIC_RELAXED);
}

bool purge_background_running(void) { return __atomic_load_n(&background_state, __ATOMIC_RELAXED) != 0; }
