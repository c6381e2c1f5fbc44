/* api: every exported symbol, and glibc's aliases for them in this same
 * translation unit (GCC aliases need their target here). Policy lives in the
 * layers below; this file validates arguments and routes by size. */
#include "prefix.h" /* first: a prefixed build renames what the headers declare */

#include "api.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "chunkmap.h"
#include "compiler.h"
#include "config.h"
#include "huge.h"
#include "hugeslab.h"
#include "init.h"
#include "memcheck.h"
#include "os.h"
#include "pool.h"
#include "purge.h"
#include "sizeclass.h"
#include "slab.h"
#include "stats.h"
#include "tcache.h"
#include "checked.h"

/* The target's name is expanded before it is quoted, so that in a prefixed
 * build (src/prefix.h) alias(malloc) names hs_test_malloc. */
#define HS_QUOTE_(name) #name
#define HS_QUOTE(name) HS_QUOTE_(name)
/* copy(): the alias gets its target's attributes (GCC; clang, which builds
 * the fuzzing copy, has no such attribute and needs none). */
#if __has_attribute(copy)
#define HS_COPY_ATTRIBUTES(target) copy(target),
#else
#define HS_COPY_ATTRIBUTES(target)
#endif
#define HS_ALIAS(target) __attribute__((alias(HS_QUOTE(target)), HS_COPY_ATTRIBUTES(target) visibility("default")))
#define HS_INTERNAL_ALIAS(target) \
  __attribute__((alias(HS_QUOTE(target)), HS_COPY_ATTRIBUTES(target) visibility("hidden")))

/* mallinfo is deprecated in glibc's header but still part of the ABI we replace. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* ---- routing helpers ------------------------------------------------------ */

/* Page run or huge mapping for n > small (or an alignment small slots cannot
 * give). NULL + ENOMEM. *zeroed tells whether the memory is known zero. */
static HS_NOINLINE void *alloc_big_zeroed(size_t n, size_t align, bool *zeroed) {
  *zeroed = false;
  if (unlikely(n > PTRDIFF_MAX)) {
    errno = ENOMEM;
    return NULL;
  }
  hs_init();
  if (unlikely(hs_conf.checked)) return checked_alloc(tcache_arena(), n, align, 0, zeroed);
  if (n <= SIZECLASS_LARGE_MAX && align < HS_CHUNK) {
    return arena_alloc_large(tcache_arena(), n, align, zeroed);
  }
  return huge_alloc(n, align, zeroed);
}

static void *alloc_big(size_t n, size_t align) {
  bool zeroed;
  return alloc_big_zeroed(n, align, &zeroed);
}

void *hs_api_alloc_aligned(size_t align, size_t n) {
  if (align <= HS_MIN_ALIGN) return hs_api_malloc(n);
  if (align <= HS_PAGE && n <= SIZECLASS_SMALL_MAX) {
    hs_init();
    unsigned cls = sizeclass_aligned(n, align);
    if (cls < SIZECLASS_SMALL) return tcache_alloc(tcache_tls, cls, n);
  }
  return alloc_big(n, align);
}

/* A pointer handed to us by the caller, resolved. A small slot is resolved
 * from its chunk's page word alone (see chunk_state_lookup), so the slow
 * paths, like the fast ones, do not wait on the slab descriptor. */
struct block {
  void *ptr;
  struct huge_block *huge; /* a huge mapping, or NULL */
  struct slab *run;        /* a page run, or NULL */
  unsigned cls;            /* a small slot's class (SIZECLASS_LARGE for a run) */
  uint8_t *state;          /* a small slot's state byte */
  struct arena *arena;     /* a small slot's owner */
  size_t usable;
};

/* A pointer that is none of ours: a pool's block, or not ours at all. */
static HS_NOINLINE HS_NORETURN void report_unknown(const char *call, const void *p) {
  os_report_pointer(call, pool_owns(p) ? "pointer into a pool" : "invalid pointer", p);
}

/* Resolve p or report `call`(): invalid pointer / double free and abort.
 * `freeing` picks the wording for a block that is already free. */
HS_INLINE void resolve(void *p, const char *call, bool freeing, struct block *b) {
  uintptr_t e = chunkmap_get(p);
  *b = (struct block){.ptr = p};
  if (e & CHUNKMAP_HUGE) {
    b->huge = huge_lookup(e, p);
    if (!b->huge) report_unknown(call, p);
    b->usable = b->huge->usable;
    return;
  }
  if (!e || !chunk_state_lookup((const struct chunk *)e, p, &b->cls, &b->state)) report_unknown(call, p);
  if (*b->state != SLOT_LIVE && *b->state != SLOT_CHECKED)
    os_report_pointer(call, freeing && *b->state == SLOT_FREE ? "double free" : "invalid pointer", p);
  b->arena = ((const struct chunk *)e)->arena;
  if (b->cls == SIZECLASS_LARGE) {
    b->run = chunk_slab_of_entry(e, p);
    b->usable = b->run->size;
  } else {
    b->usable = sizeclass_size(b->cls);
  }
}

static void release_block(const struct block *b) {
  if (b->huge) huge_free(b->huge);
  else if (b->run) arena_free_large(b->run);
  else tcache_free_slow(b->arena, b->cls, b->ptr, b->state);
}

/* A block the program freed with `call`: in a checking mode it is checked,
 * and small slots and page runs wait in the quarantine (checked.h). */
static void release_freed(const struct block *b, const char *call) {
  if (unlikely(hs_conf.checked)) {
    checked_block_free(b->ptr, b->usable, b->huge != NULL, call);
    if (!b->huge) {
      struct slot_ref slot = {b->ptr, b->state};
      checked_quarantine(b->run ? NULL : &slot, b->run, b->usable, b->arena, b->cls);
      return;
    }
  }
  release_block(b);
}

/* Resolve p, which the program frees with `call`. Under memcheck, memcheck
 * is told first, so that it reports a bad free before we abort on it. */
static void resolve_freed(void *p, const char *call, struct block *b) {
  if (unlikely(hs_conf.memcheck)) memcheck_block_free(p);
  resolve(p, call, true, b);
}

static HS_NOINLINE void free_slow(void *p, const char *call) {
  if (!p) return;
  int saved = errno;
  struct block b;
  resolve_freed(p, call, &b);
  release_freed(&b, call);
  errno = saved;
}

/* A block free() resolved and found LIVE (so no checking mode owns it:
 * theirs are SLOT_CHECKED) that the fast path could not push: a page run
 * (its class has no stack), or a small slot meeting a full stack, another
 * arena's block (a remote free, which xmalloc's and cross_thread's consumers
 * make on every block) or no live cache, which needs nothing resolved
 * again. */
static HS_NOINLINE void free_live_slow(struct arena *owner, unsigned cls, void *p, uint8_t *state) {
  if (cls == SIZECLASS_LARGE) {
    free_slow(p, "free");
    return;
  }
  int saved = errno;
  tcache_free_slow(owner, cls, p, state);
  errno = saved;
}

/* Whether a slot of small class cls is the right home for n bytes: n fits,
 * and cls is no bigger than the class of n + n/4, the headroom a growing
 * realloc gives (realloc_slow). So a block realloc grew stays put while its
 * buffer fills, and shrinking by more than about a fifth moves it to a
 * smaller class. */
HS_INLINE bool small_fits(unsigned cls, size_t n) {
  return n >= sizeclass_keep_min[cls] && n <= sizeclass_size(cls);
}

/* Whether a block can have been allocated with size n (and no alignment). */
static bool size_matches(const struct block *b, size_t n, size_t align) {
  if (n > b->usable) return false;
  if (align > HS_MIN_ALIGN) return true;
  if (b->huge) return n > SIZECLASS_LARGE_MAX;
  /* A page run may carry realloc's growth headroom: any size it can hold. */
  if (b->run) return b->run->aligned_run || n > SIZECLASS_SMALL_MAX;
  return small_fits(b->cls, n);
}

void hs_api_free_sized(void *p, size_t size, size_t align, const char *call) {
  if (!p) return;
  int saved = errno;
  struct block b;
  resolve_freed(p, call, &b);
  /* In a checking mode the block was placed for a padded size: the claim
   * is checked against the size asked for, which the block records. */
  bool matches = hs_conf.checked ? size == checked_block_size(p, b.usable, call) : size_matches(&b, size, align);
  if (!matches) os_report_pointer(call, "size mismatch", p);
  release_freed(&b, call);
  errno = saved;
}

/* ---- the C family --------------------------------------------------------- */

HS_EXPORT void *malloc(size_t n) {
  if (likely(n <= SIZECLASS_SMALL_MAX)) return tcache_alloc(tcache_tls, sizeclass_of(n), n);
  return alloc_big(n, HS_MIN_ALIGN);
}

HS_EXPORT void free(void *p) {
  uintptr_t e = chunkmap_get(p);
  if (likely(e && !(e & CHUNKMAP_HUGE))) {
    const struct chunk *c = (const struct chunk *)e;
    unsigned cls;
    uint8_t *state;
    if (likely(chunk_state_lookup(c, p, &cls, &state) && *state == SLOT_LIVE)) {
      if (likely(tcache_free(tcache_tls, c->arena, cls, p, state))) return;
      free_live_slow(c->arena, cls, p, state);
      return;
    }
  }
  free_slow(p, "free");
}

HS_EXPORT void *calloc(size_t count, size_t size) {
  size_t n;
  if (unlikely(__builtin_mul_overflow(count, size, &n))) {
    errno = ENOMEM;
    return NULL;
  }
  if (n <= SIZECLASS_SMALL_MAX) {
    void *p = tcache_alloc(tcache_tls, sizeclass_of(n), n);
    if (likely(p)) memset(p, 0, n);
    return p;
  }
  bool zeroed;
  void *p = alloc_big_zeroed(n, HS_MIN_ALIGN, &zeroed);
  if (p && !zeroed) memset(p, 0, n);
  return p;
}

/* In a checking mode: under memcheck every resize moves, as Valgrind's own
 * realloc does, so memcheck sees the old block freed and any stale pointer
 * to it used; in hardened mode a size that fits the slot stays, and a block
 * that grows out of it gets the default mode's 25% headroom (a string
 * grown a byte at a time is copied O(log n) times, not n). */
static void *realloc_checked(void *p, size_t n, const struct block *b) {
  size_t old = checked_block_size(p, b->usable, "realloc");
  if (checked_resize(p, b->usable, n)) return p;
  size_t room = hs_conf.hardened && n > old && !b->huge ? b->usable + b->usable / 4 : 0;
  bool zeroed;
  void *q = checked_alloc(tcache_arena(), n, HS_MIN_ALIGN, room, &zeroed);
  if (!q) return NULL;
  memcpy(q, p, n < old ? n : old);
  int saved = errno;
  if (hs_conf.memcheck) memcheck_block_free(p);
  release_freed(b, "realloc");
  errno = saved;
  return q;
}

static HS_NOINLINE void *realloc_slow(void *p, size_t n) {
  if (!p) return malloc(n);
  if (n == 0) {
    free_slow(p, "realloc");
    return NULL;
  }
  struct block b;
  resolve(p, "realloc", false, &b);
  if (unlikely(hs_conf.checked)) return realloc_checked(p, n, &b);
  if (unlikely(n > PTRDIFF_MAX)) {
    errno = ENOMEM;
    return NULL;
  }
  bool keep;
  if (b.huge) keep = n > SIZECLASS_LARGE_MAX && huge_resize(b.huge, n);
  else if (b.run)
    keep = n > SIZECLASS_SMALL_MAX && n <= SIZECLASS_LARGE_MAX &&
           (((n + HS_PAGE - 1) >> HS_PAGE_SHIFT) == b.run->pages || arena_resize_large(b.run, n));
  else keep = small_fits(b.cls, n);
  if (keep) return p;
  /* A small block or page run that has to grow gets 25% headroom, so a
   * buffer grown a little at a time is copied every other class or so, and
   * O(log n) times as a page run, not once per class or page. */
  void *q = NULL;
  if (!b.huge && n > b.usable && n <= SIZECLASS_LARGE_MAX) {
    size_t roomy = b.usable + b.usable / 4;
    if (roomy > n && roomy <= SIZECLASS_LARGE_MAX) q = malloc(roomy);
  }
  if (!q) q = malloc(n);
  if (!q) return NULL;
  memcpy(q, p, n < b.usable ? n : b.usable);
  int saved = errno;
  release_block(&b);
  errno = saved;
  return q;
}

/* The common case first: the block stays where it is (a small block in its
 * class, a page run keeping its page count); everything else, including
 * every error, goes through realloc_slow. */
HS_EXPORT void *realloc(void *p, size_t n) {
  uintptr_t e = chunkmap_get(p);
  if (likely(e && !(e & CHUNKMAP_HUGE) && n - 1 < SIZECLASS_LARGE_MAX)) {
    const struct chunk *c = (const struct chunk *)e;
    unsigned cls;
    uint8_t *state;
    bool slot = chunk_state_lookup(c, p, &cls, &state);
    /* The sizes p keeps, [lo, hi]: small_fits' range for a small slot; for
     * a page run (which starts at p's page, so its record loads beside the
     * word) the sizes of its page count. Selected without a branch: which
     * kind of block comes next is as random as the program's data. A run
     * of a class-sized alignment may keep a small n (it is still aligned). */
    size_t run_pages = c->run[((uintptr_t)p >> HS_PAGE_SHIFT) & (HS_CHUNK_PAGES - 1)].pages;
    size_t run = (size_t)0 - (cls == SIZECLASS_LARGE); /* all ones for a run */
    size_t hi = ((run_pages << HS_PAGE_SHIFT) & run) | (sizeclass_size(cls) & ~run);
    size_t lo = ((((run_pages - 1) << HS_PAGE_SHIFT) + 1) & run) | (sizeclass_keep_min[cls] & ~run);
    if (likely(slot && *state == SLOT_LIVE && n - lo <= hi - lo)) return p;
  }
  return realloc_slow(p, n);
}

HS_EXPORT void *reallocarray(void *p, size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

static inline bool is_pow2(size_t a) { return a && !(a & (a - 1)); }

HS_EXPORT void *aligned_alloc(size_t align, size_t n) {
  if (!is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  return hs_api_alloc_aligned(align, n);
}

HS_EXPORT void *memalign(size_t align, size_t n) {
  if (align <= HS_MIN_ALIGN) return malloc(n);
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!is_pow2(align)) align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  return hs_api_alloc_aligned(align, n);
}

HS_EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (!is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = hs_api_alloc_aligned(align, n);
  /* As glibc: errno is ENOMEM on exhaustion, untouched otherwise. */
  if (!p) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}

HS_EXPORT void *valloc(size_t n) { return hs_api_alloc_aligned(HS_PAGE, n); }

HS_EXPORT void *pvalloc(size_t n) {
  size_t rounded;
  if (__builtin_add_overflow(n, HS_PAGE - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded &= ~(HS_PAGE - 1);
  return hs_api_alloc_aligned(HS_PAGE, rounded ? rounded : HS_PAGE);
}

HS_EXPORT size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  struct block b;
  resolve(p, "malloc_usable_size", false, &b);
  return hs_conf.checked ? checked_block_size(p, b.usable, "malloc_usable_size") : b.usable;
}

HS_EXPORT void free_sized(void *p, size_t size) { hs_api_free_sized(p, size, 0, "free_sized"); }

HS_EXPORT void free_aligned_sized(void *p, size_t align, size_t size) {
  hs_api_free_sized(p, size, align > HS_MIN_ALIGN ? align : HS_MIN_ALIGN + 1, "free_aligned_sized");
}

/* ---- glibc extras ----------------------------------------------------------- */

HS_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  hs_init();
  tcache_flush_current();
  return purge_trim() > 0;
}

HS_EXPORT struct mallinfo2 mallinfo2(void) {
  struct mallinfo2 mi;
  struct stats_totals t;
  memset(&mi, 0, sizeof mi);
  hs_init();
  tcache_flush_current();
  stats_totals(&t);
  /* The report's figures: uordblks is stats.allocated (huge mappings
   * included, also reported alone in hblkhd), arena is stats.heap. */
  mi.arena = t.heap;
  mi.ordblks = 1;
  mi.hblks = t.huge_count;
  mi.hblkhd = t.huge_bytes;
  mi.uordblks = t.allocated;
  mi.fordblks = mi.arena > mi.uordblks ? mi.arena - mi.uordblks : 0;
  return mi;
}

static int clamp_int(size_t v) { return v > INT32_MAX ? INT32_MAX : (int)v; }

HS_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = clamp_int(m2.arena);
  mi.ordblks = clamp_int(m2.ordblks);
  mi.hblks = clamp_int(m2.hblks);
  mi.hblkhd = clamp_int(m2.hblkhd);
  mi.uordblks = clamp_int(m2.uordblks);
  mi.fordblks = clamp_int(m2.fordblks);
  return mi;
}

HS_EXPORT int mallopt(int param, int value) {
  (void)value;
  switch (param) {
    /* glibc's tunables are accepted and have no effect here (COMPAT.md). */
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD:
    case M_MMAP_MAX: case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_ARENA_MAX:
      return 1;
    default:
      return 0;
  }
}

HS_EXPORT void malloc_stats(void) {
  hs_init();
  stats_print(false);
}

static void write_file(void *opaque, const char *s, size_t n) {
  struct {
    FILE *fp;
    bool failed;
  } *f = opaque;
  if (!f->failed && fwrite(s, 1, n, f->fp) != n) f->failed = true;
}

/* Writes to the caller's FILE with no allocator lock held: stdio may
 * allocate its buffer, which re-enters malloc safely. Not cancellable
 * partway: fwrite may write, a cancellation point. */
HS_EXPORT int malloc_info(int options, FILE *fp) {
  if (options != 0 || !fp) {
    errno = EINVAL;
    return -1;
  }
  struct {
    FILE *fp;
    bool failed;
  } f = {fp, false};
  hs_init();
  int cancel = os_cancel_off();
  stats_report_xml(write_file, &f);
  os_cancel_restore(cancel);
  return f.failed ? -1 : 0;
}

HS_EXPORT int hs_stats_print(void (*write)(void *opaque, const char *s, size_t n), void *opaque, const char *format) {
  if (!write) {
    errno = EINVAL;
    return -1;
  }
  hs_init();
  int cancel = os_cancel_off();
  bool ok = stats_report(write, opaque, format);
  os_cancel_restore(cancel);
  return ok ? 0 : -1;
}

HS_EXPORT int hs_ctl_get(const char *name, void *out, size_t *len) {
  hs_init();
  return stats_ctl_get(name, out, len);
}

HS_EXPORT const char *hs_version(void) { return PACKAGE_VERSION; }

HS_EXPORT void hs_thread_flush(void) { tcache_flush_current(); }

_Static_assert(sizeof(struct hs_fork_stats) == sizeof(struct stats_fork), "hs_fork_stats mirrors stats_fork");

HS_EXPORT int hs_fork_stats(struct hs_fork_stats *out) {
  if (!out) {
    errno = EINVAL;
    return -1;
  }
  hs_init();
  return stats_fork((struct stats_fork *)out) ? 0 : -1;
}

HS_EXPORT void hs_fork_settle(void) {
  hs_init();
  arena_settle_all();
}

/* ---- pools ------------------------------------------------------------------ */

_Static_assert(sizeof(struct hs_pool_stats) == sizeof(struct pool_stats), "hs_pool_stats mirrors pool_stats");

HS_EXPORT hs_pool_t *hs_pool_create(size_t size_hint) {
  hs_init();
  return pool_create(size_hint);
}

HS_EXPORT void *hs_pool_malloc(hs_pool_t *pool, size_t n) { return pool_alloc(pool, n); }

HS_EXPORT void *hs_pool_calloc(hs_pool_t *pool, size_t count, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(count, n, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  /* Pool memory is fresh from the kernel and never handed out twice. */
  return pool_alloc(pool, total);
}

HS_EXPORT char *hs_pool_strdup(hs_pool_t *pool, const char *s) {
  if (!s) {
    errno = EINVAL;
    return NULL;
  }
  size_t len = strlen(s) + 1;
  char *copy = pool_alloc(pool, len);
  if (copy) memcpy(copy, s, len);
  return copy;
}

HS_EXPORT int hs_pool_seal(hs_pool_t *pool) { return pool_seal(pool); }

HS_EXPORT void hs_pool_destroy(hs_pool_t *pool) { pool_destroy(pool); }

HS_EXPORT int hs_pool_stats(const hs_pool_t *pool, struct hs_pool_stats *out) {
  return pool_stats(pool, (struct pool_stats *)out);
}

/* stats_print reports at exit, also for a process that never allocated
 * (one that runs no C++ runtime start-up may well not): the options are
 * read then, and the report says the process ran on hugeslab. */
static __attribute__((destructor)) void hs_exit_report(void) {
  if (!hs_initialized) config_init();
  if (hs_conf.stats_print == HS_STATS_OFF) return;
  hs_init();
  stats_print_exit(hs_conf.stats_print == HS_STATS_JSON);
}

/* ---- aliases ---------------------------------------------------------------- */

extern __typeof(malloc) hs_api_malloc HS_INTERNAL_ALIAS(malloc);
extern __typeof(free) hs_api_free HS_INTERNAL_ALIAS(free);

HS_EXPORT void cfree(void *p) HS_ALIAS(free);
/* glibc's own entry points, which a prefixed build must leave to libc. */
#ifndef HS_SYMBOL_PREFIX
extern __typeof(malloc) __libc_malloc HS_ALIAS(malloc);
extern __typeof(free) __libc_free HS_ALIAS(free);
extern __typeof(calloc) __libc_calloc HS_ALIAS(calloc);
extern __typeof(realloc) __libc_realloc HS_ALIAS(realloc);
extern __typeof(memalign) __libc_memalign HS_ALIAS(memalign);
extern __typeof(valloc) __libc_valloc HS_ALIAS(valloc);
extern __typeof(pvalloc) __libc_pvalloc HS_ALIAS(pvalloc);
extern __typeof(mallinfo) __libc_mallinfo HS_ALIAS(mallinfo);
extern __typeof(mallopt) __libc_mallopt HS_ALIAS(mallopt);
#endif
