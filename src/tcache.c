/* tcache: see tcache.h. */
#include "tcache.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "chunkmap.h"
#include "config.h"
#include "init.h"
#include "meta.h"
#include "os.h"
#include "checked.h"

/* Every stack empty with capacity 0: the fast paths fail over to the slow
 * ones. BOOT: the thread has no cache yet. DEAD: its cache is gone. */
static struct tcache tcache_boot = {.mode = TCACHE_BOOT};
static struct tcache tcache_dead = {.mode = TCACHE_DEAD};

HS_TLS struct tcache *tcache_tls = &tcache_boot;

static pthread_key_t tcache_key;
static int tcache_key_ready;

/* A bin's fill before its first refill, in quarter slots: a refill takes
 * fill / 4 slots (at least one, at most the class batch) and doubles fill,
 * so refills take 1, 1, 1, 2, 4 ... and a thread that uses a class for a
 * few blocks holds few it does not use. */
#define TCACHE_FIRST_FILL 1
/* Slow-path calls between two garbage-collection passes of a cache. */
#define TCACHE_GC_EVENTS 256

/* Every live cache, for the forked child's cleanup. */
static hs_lock list_lock = HS_LOCK_INIT;
static struct tcache *tcache_list;
static unsigned next_arena;

static void tcache_destroy(void *arg);
static struct arena *arena_least_loaded(void);

void tcache_init(void) {
  /* pthread_key_create takes no memory from malloc in glibc. */
  tcache_key_ready = pthread_key_create(&tcache_key, tcache_destroy) == 0;
}

/* A class's stack in the descriptor itself: a thread that caches a few blocks
 * of each class costs two pages of metadata, not eleven. */
static inline unsigned inline_cap(unsigned cls) {
  /* A checking mode's cache caches nothing (every call must reach checked.c);
   * it only binds the thread to an arena of its own. */
  if (hs_conf.checked) return 0;
  unsigned cap = sizeclass_table[cls].cache_cap;
  return cap < TCACHE_INLINE_CAP ? cap : TCACHE_INLINE_CAP;
}

/* Move class cls's stack out of the descriptor into one of the class's full
 * capacity (tc->grown[cls]). False when it is there already or meta has no
 * memory: the stack then keeps working at its present capacity. */
static bool grow_bin(struct tcache *tc, unsigned cls) {
  struct tcache_bin *b = &tc->bins[cls];
  unsigned cap = sizeclass_table[cls].cache_cap;
  if (tc->grown[cls] || b->cap >= cap) return false;
  struct slot_ref *stack = meta_alloc_uninit(cap * sizeof *stack);
  if (!stack) return false;
  unsigned count = tcache_bin_count(b);
  memcpy(stack, b->top - count, count * sizeof *stack);
  tc->grown[cls] = stack;
  b->top = stack + count;
  b->empty_low = (uint16_t)(uintptr_t)stack;
  b->full_low = (uint16_t)(uintptr_t)(stack + cap);
  b->cap = (uint16_t)cap;
  return true;
}

/* The grown stacks of a cache that is going away (their slots are handled
 * by the caller). */
static void free_grown(struct tcache *tc) {
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++)
    if (tc->grown[c]) meta_free(tc->grown[c], sizeclass_table[c].cache_cap * sizeof(struct slot_ref));
}

/* The address below which a stack keeps `keep` of its `count` entries: the
 * keep-th lowest slot address (quickselect over a copy). */
static uintptr_t keep_threshold(const struct slot_ref *base, unsigned count, unsigned keep) {
  uintptr_t a[SIZECLASS_CACHE_MAX];
  for (unsigned i = 0; i < count; i++) a[i] = (uintptr_t)base[i].ptr;
  unsigned lo = 0, hi = count - 1, k = keep - 1;
  while (lo < hi) {
    uintptr_t pivot = a[lo + (hi - lo) / 2];
    unsigned i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        uintptr_t t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        if (j == 0) break;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/* The flushes keep this invariant: a cache is consistent whenever it calls
 * down. What goes back is taken off its stack first, because the layers
 * below run the purge layer's hooks after a release, and those may
 * allocate on this very thread (pthread_create, starting the background
 * purger, asks for glibc's TLS vector), popping or pushing this stack. */
/* Give n of a stack's entries back. A partial flush keeps the lowest
 * addresses (in their stack order) and returns the rest: after a burst of
 * frees in random order, what stays cached converges on a few slabs at the
 * bottom of the heap instead of pinning one slot in each of a hundred
 * otherwise empty slabs (which then could not be purged, and whose holes
 * the next allocations would fill). Refills come from the fullest slab at
 * the lowest address, so both ends pack towards low addresses. */
static void flush_bin(struct tcache_bin *b, unsigned n) {
  struct slot_ref out[SIZECLASS_CACHE_MAX];
  unsigned count = tcache_bin_count(b);
  struct slot_ref *base = b->top - count;
  if (n == count) {
    memcpy(out, base, n * sizeof *base);
    b->top = base;
  } else {
    uintptr_t last_kept = keep_threshold(base, count, count - n);
    unsigned kept = 0, gone = 0;
    for (unsigned i = 0; i < count; i++) {
      if ((uintptr_t)base[i].ptr <= last_kept) base[kept++] = base[i];
      else out[gone++] = base[i];
    }
    b->top = base + kept;
  }
  arena_flush_batch(out, n);
}

static void flush_remote(struct tcache *tc) {
  struct slot_ref out[TCACHE_REMOTE_CAP];
  unsigned n = tc->nremote;
  memcpy(out, tc->remote, n * sizeof *out);
  tc->nremote = 0;
  arena_flush_batch(out, n);
}

static void flush_all(struct tcache *tc) {
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    unsigned count = tcache_bin_count(&tc->bins[c]);
    if (count) flush_bin(&tc->bins[c], count);
  }
  if (tc->nremote) flush_remote(tc);
}

/* Give the calling thread a live cache; on failure it keeps the boot or dead
 * cache and allocations go straight to an arena. */
static struct tcache *tcache_create(void) {
  hs_init();
  struct tcache *old = tcache_tls;
  if (!hs_conf.tcache) {
    /* No caches: a dead cache bound to arena 0 serves every call directly. */
    tcache_tls = &tcache_dead;
    return &tcache_dead;
  }
  size_t slots = 0;
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) slots += inline_cap(c);
  size_t size = sizeof(struct tcache) + slots * sizeof(struct slot_ref);
  /* The stacks are written before they are read: only the header is zeroed,
   * so a recycled descriptor does not touch pages it will not use. */
  struct tcache *tc = meta_alloc_uninit(size);
  if (tc) memset(tc, 0, sizeof *tc);
  if (!tc) {
    tcache_tls = old == &tcache_boot ? &tcache_dead : old;
    return tcache_tls;
  }
  tc->desc_size = size;
  struct slot_ref *next = tc->storage;
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    tc->bins[c].top = next;
    tc->bins[c].cap = (uint16_t)inline_cap(c);
    tc->bins[c].empty_low = (uint16_t)(uintptr_t)next;
    tc->bins[c].full_low = (uint16_t)(uintptr_t)(next + tc->bins[c].cap);
    tc->bins[c].fill = TCACHE_FIRST_FILL;
    next += tc->bins[c].cap;
  }
  tc->mode = TCACHE_LIVE;
  hs_lock_acquire(&list_lock);
  tc->arena = arena_least_loaded();
  tc->arena->threads++;
  tc->purge_epoch = __atomic_load_n(&tc->arena->purge_epoch, __ATOMIC_RELAXED);
  tc->next = tcache_list;
  if (tcache_list) tcache_list->prev = tc;
  tcache_list = tc;
  hs_lock_release(&list_lock);
  tcache_tls = tc;
  /* May allocate (keys beyond glibc's first block): tc is already live. */
  if (tcache_key_ready) pthread_setspecific(tcache_key, tc);
  return tc;
}

/* The arena with the fewest live threads (list lock held): threads that
 * share an arena share slabs, and so cache lines. Ties go round-robin. */
static struct arena *arena_least_loaded(void) {
  unsigned start = next_arena++ % hs_arena_count, best = start;
  for (unsigned k = 1; k < hs_arena_count; k++) {
    unsigned i = (start + k) % hs_arena_count;
    if (hs_arenas[i].threads < hs_arenas[best].threads) best = i;
  }
  return &hs_arenas[best];
}

/* Unlink a cache from the list (list lock held). */
static void tcache_unlist(struct tcache *tc) {
  tc->arena->threads--;
  if (tc->prev) tc->prev->next = tc->next;
  else tcache_list = tc->next;
  if (tc->next) tc->next->prev = tc->prev;
}

/* Thread exit (pthread key destructor): everything cached goes back. */
static void tcache_destroy(void *arg) {
  struct tcache *tc = arg;
  if (!tc || tc->mode != TCACHE_LIVE) return;
  if (hs_conf.checked) checked_thread_exit();
  tcache_tls = &tcache_dead;
  flush_all(tc);
  hs_lock_acquire(&list_lock);
  tcache_unlist(tc);
  hs_lock_release(&list_lock);
  free_grown(tc);
  meta_free(tc, tc->desc_size);
}

void tcache_cached(const struct arena *a, size_t slots[SIZECLASS_SMALL], size_t *remote, size_t *caches) {
  *remote = *caches = 0;
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) slots[c] = 0;
  hs_lock_acquire(&list_lock);
  for (struct tcache *tc = tcache_list; tc; tc = tc->next) {
    if (a && tc->arena != a) continue;
    for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
      const struct tcache_bin *b = &tc->bins[c];
      uint16_t top = (uint16_t)(uintptr_t)__atomic_load_n(&b->top, __ATOMIC_RELAXED);
      uint16_t empty = __atomic_load_n(&b->empty_low, __ATOMIC_RELAXED);
      size_t n = (uint16_t)(top - empty) / sizeof(struct slot_ref);
      /* A stack moving to its grown storage may read as anything for an
       * instant: never more than its capacity. */
      if (n <= SIZECLASS_CACHE_MAX) slots[c] += n;
    }
    *remote += __atomic_load_n(&tc->nremote, __ATOMIC_RELAXED);
    (*caches)++;
  }
  hs_lock_release(&list_lock);
}

_Static_assert(SIZECLASS_SMALL <= 64, "busy_classes has a bit per class");

/* Shed half of every idle stack (see tcache.h). */
static void tcache_gc(struct tcache *tc) {
  /* Reset first: a slow path re-entered from a flush (see flush_bin) counts
   * towards the next pass, not into this one. */
  uint64_t busy = tc->busy_classes;
  tc->busy_classes = 0;
  tc->slow_events = 0;
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    struct tcache_bin *b = &tc->bins[c];
    unsigned count = tcache_bin_count(b);
    if (!count || (busy >> c) & 1) continue;
    b->fill = TCACHE_FIRST_FILL;
    flush_bin(b, (count + 1) / 2);
  }
  if (tc->nremote) flush_remote(tc);
}

/* The arena gave pages back since the cache last looked: every slot goes
 * back (see tcache.h), and the refills start small again. */
static void tcache_after_purge(struct tcache *tc, uint32_t epoch) {
  /* Set first: a slow path re-entered from a flush must not flush again. */
  tc->purge_epoch = epoch;
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) tc->bins[c].fill = TCACHE_FIRST_FILL;
  flush_all(tc);
}

/* A slow-path call on class cls of a live cache. */
static inline void note_slow(struct tcache *tc, unsigned cls) {
  tc->busy_classes |= (uint64_t)1 << cls;
  uint32_t epoch = __atomic_load_n(&tc->arena->purge_epoch, __ATOMIC_RELAXED);
  if (unlikely(epoch != tc->purge_epoch)) tcache_after_purge(tc, epoch);
  if (unlikely(++tc->slow_events >= TCACHE_GC_EVENTS)) tcache_gc(tc);
}

static struct arena *arena_for_uncached(void) {
  hs_init();
  return &hs_arenas[0];
}

void *tcache_alloc_slow(unsigned cls, size_t n) {
  struct tcache *tc = tcache_tls;
  if (tc->mode == TCACHE_BOOT) tc = tcache_create();
  if (unlikely(hs_conf.checked)) {
    bool zeroed;
    struct arena *a = tc->mode == TCACHE_LIVE ? tc->arena : arena_for_uncached();
    return checked_alloc(a, n, checked_class_align(cls), 0, &zeroed);
  }
  if (tc->mode == TCACHE_DEAD) {
    struct slot_ref r;
    if (arena_refill(arena_for_uncached(), cls, &r, 1) == 0) return NULL;
    *r.state = SLOT_LIVE;
    return r.ptr;
  }
  struct tcache_bin *b = &tc->bins[cls];
  note_slow(tc, cls);
  if (tcache_bin_count(b) == 0) {
    unsigned batch = sizeclass_table[cls].batch;
    unsigned want = b->fill / 4u < batch ? b->fill / 4u : batch;
    if (want == 0) want = 1;
    if (want > b->cap) grow_bin(tc, cls);
    if (want > b->cap) want = b->cap;
    unsigned got = arena_refill(tc->arena, cls, b->top, want);
    if (got == 0) return NULL;
    /* The refill comes lowest address first; the stack pops from its top,
     * so turn it over: blocks go out in address order. */
    for (unsigned i = 0, j = got - 1; i < j; i++, j--) {
      struct slot_ref t = b->top[i];
      b->top[i] = b->top[j];
      b->top[j] = t;
    }
    b->top += got;
    if (b->fill / 4u < batch) b->fill = (uint16_t)(b->fill * 2);
  }
  return tcache_alloc(tc, cls, n);
}

void tcache_free_slow(struct arena *owner, unsigned cls, void *p, uint8_t *state) {
  struct tcache *tc = tcache_tls;
  if (tc->mode == TCACHE_BOOT) tc = tcache_create();
  if (tc->mode == TCACHE_DEAD) {
    *state = SLOT_FREE;
    struct slot_ref r = {p, state};
    arena_flush_batch(&r, 1);
    return;
  }
  note_slow(tc, cls);
  if (owner != tc->arena) {
    *state = SLOT_FREE;
    tc->remote[tc->nremote].ptr = p;
    tc->remote[tc->nremote].state = state;
    if (++tc->nremote == TCACHE_REMOTE_CAP) flush_remote(tc);
    return;
  }
  struct tcache_bin *b = &tc->bins[cls];
  unsigned count = tcache_bin_count(b);
  if (count >= b->cap && !grow_bin(tc, cls)) flush_bin(b, count - b->cap / 2);
  /* Full again only if the flush's hooks freed into this very stack. */
  if (!tcache_free(tc, owner, cls, p, state)) {
    *state = SLOT_FREE;
    arena_flush_batch(&(struct slot_ref){p, state}, 1);
  }
}

struct arena *tcache_arena(void) {
  struct tcache *tc = tcache_tls;
  if (tc->mode == TCACHE_BOOT) tc = tcache_create();
  return tc->mode == TCACHE_LIVE ? tc->arena : arena_for_uncached();
}

void tcache_flush_current(void) {
  struct tcache *tc = tcache_tls;
  if (hs_conf.checked) checked_thread_flush();
  if (tc->mode == TCACHE_LIVE) flush_all(tc);
}

bool tcache_prefork(bool try_only) { return hs_lock_prefork(&list_lock, try_only); }

void tcache_postfork_parent(void) { hs_lock_drop_for_fork(&list_lock); }

/* Empty every stack of tc without returning its slots: they stay out of
 * their slabs (counted as in use) for the child's lifetime. Safe whatever
 * the thread was doing when a signal handler forked over it: code it
 * resumes in the child may re-store a stack's top from its local copy, and
 * the entries that brings back are still free, unowned slots; returning
 * them to their slabs instead would let a resumed push or flush hand the
 * same slot out twice. */
static void forget_all(struct tcache *tc) {
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) tc->bins[c].top -= tcache_bin_count(&tc->bins[c]);
  tc->nremote = 0;
}

void tcache_postfork_child(bool own_consistent) {
  hs_lock_reset(&list_lock);
  /* The other threads' caches may have been caught mid-update by fork()
   * (a flush whose slots are back in their slabs but still counted on the
   * stack), so their slots cannot be trusted: they stay out of their slabs
   * for the child's lifetime (counted as in use) and only the descriptors
   * are reclaimed. The forking thread's own cache is consistent when fork()
   * was called from ordinary code: its slots go back, so the child does not
   * fill holes in the parent's pages. In a single-threaded process the fork
   * may come from a signal handler that interrupted this very cache (glibc's
   * tst-mallocfork2 caught a slot returned twice, the child aborting): then
   * its contents are forgotten instead. */
  struct tcache *self = tcache_tls;
  struct tcache *tc = tcache_list;
  while (tc) {
    struct tcache *next = tc->next;
    if (tc == self && own_consistent) {
      flush_all(tc);
    } else if (tc == self) {
      forget_all(tc);
    } else {
      tcache_unlist(tc);
      free_grown(tc);
      meta_free(tc, tc->desc_size);
    }
    tc = next;
  }
}
