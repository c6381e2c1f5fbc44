/* huge: see huge.h. */
#include "huge.h"

#include <errno.h>
#include "chunkmap.h"
#include "config.h"
#include "lock.h"
#include "meta.h"
#include "os.h"

/* Cache bounds: blocks kept after free, and their committed bytes: at least
 * HUGE_CACHE_MIN_BYTES, and up to half the live huge bytes, so a program
 * that cycles big buffers reuses their faulted pages instead of faulting
 * (and zeroing) fresh ones, while the cache stays below what it holds. */
#define HUGE_CACHE_COUNT 32
#define HUGE_CACHE_MIN_BYTES ((size_t)512 << 20)
/* A reused block more than twice too big keeps up to this much beyond
 * twice the request, resident (see huge_alloc). bench/workloads/bigzero
 * (buffers of 5-25 MiB, replaced one a round), median of 5, against
 * tcmalloc's 0.56 s and 417 MiB: 0 MiB 0.73 s and 415 MiB peak RSS, 8 MiB
 * 0.43 s and 424 MiB, 16 MiB 0.35 s and 473 MiB. */
#define HUGE_TRIM_SLACK ((size_t)8 << 20)

static size_t huge_count, huge_bytes; /* atomics */
static size_t huge_peak_count, huge_peak_bytes; /* atomics: the most ever live at once */
/* Whether the process had an address-space limit when a huge block was last
 * mapped (atomic): read by huge_free, so a free into the cache makes no
 * system call; a limit set later counts from the next fresh mapping on. */
static bool huge_limited;

static void raise_peak(size_t *peak, size_t now) {
  size_t seen = __atomic_load_n(peak, __ATOMIC_RELAXED);
  while (now > seen && !__atomic_compare_exchange_n(peak, &seen, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

/* Freed blocks, most recent first. Protected by huge_lock. */
static hs_lock huge_lock = HS_LOCK_INIT;
static struct huge_block *cache;
static size_t cache_count, cache_bytes; /* cache_count: also read lock-free (HS_RACY_SET) */

/* Room a reservation leaves for growth: as much again, at least 8 MiB. */
static size_t growth_room(size_t usable) {
  size_t room = usable < ((size_t)8 << 20) ? (size_t)8 << 20 : usable;
  return room > ((size_t)1 << 40) ? (size_t)1 << 40 : room;
}

static size_t cache_limit(void) {
  size_t half = __atomic_load_n(&huge_bytes, __ATOMIC_RELAXED) / 2;
  return half > HUGE_CACHE_MIN_BYTES ? half : HUGE_CACHE_MIN_BYTES;
}

void (*huge_release_hook)(void);

static void unmap_block(struct huge_block *h) {
  os_release(h->map_base, h->map_size);
  meta_free(h, sizeof *h);
}

/* Take the block at *link out of the cache (huge_lock held). */
static struct huge_block *cache_unlink(struct huge_block **link) {
  struct huge_block *h = *link;
  *link = h->next;
  HS_RACY_SET(cache_count, cache_count - 1);
  cache_bytes -= h->usable;
  return h;
}

/* The cached block that best serves `usable` bytes at `align`, taken out of
 * the cache, or NULL: the smallest one already that large, else the largest
 * whose reservation can grow to it. Its faulted pages are reused either way. */
static struct huge_block *cache_take(size_t usable, size_t align) {
  struct huge_block **link, *h, **best = NULL;
  hs_lock_acquire(&huge_lock);
  for (link = &cache; (h = *link); link = &h->next) {
    if (((uintptr_t)h->ptr & (align - 1)) != 0 || usable > h->capacity) continue;
    if (!best) {
      best = link;
      continue;
    }
    size_t have = (*best)->usable;
    bool fits = h->usable >= usable, best_fits = have >= usable;
    if (fits ? !best_fits || h->usable < have : !best_fits && h->usable > have) best = link;
  }
  h = best ? cache_unlink(best) : NULL;
  hs_lock_release(&huge_lock);
  return h;
}

/* The cached block with the most committed bytes, taken out, or NULL. */
static struct huge_block *cache_take_largest(void) {
  struct huge_block **link, *h, **best = NULL;
  hs_lock_acquire(&huge_lock);
  for (link = &cache; (h = *link); link = &h->next)
    if (!best || h->usable > (*best)->usable) best = link;
  h = best ? cache_unlink(best) : NULL;
  hs_lock_release(&huge_lock);
  return h;
}

/* Fill the head of a fresh block with a cached block's faulted pages (moved,
 * not copied) so they need not be faulted and zeroed again. Returns whether
 * any pages were moved. */
static bool adopt_cached_pages(struct huge_block *fresh, size_t usable) {
  struct huge_block *donor = cache_take_largest();
  if (!donor) return false;
  size_t move = donor->usable < usable ? donor->usable : usable;
  bool moved = os_move(donor->ptr, move, fresh->ptr);
  if (moved) fresh->usable = move;
  unmap_block(donor);
  return moved;
}

/* A new reservation with `room` bytes of growth space; NULL when the kernel
 * (or RLIMIT_AS) refuses. */
static struct huge_block *map_block(size_t usable, size_t align, size_t room) {
  size_t capacity = usable + room;
  /* [guard][pad < align][capacity][guard] */
  size_t span = capacity + align + HS_PAGE;
  if (capacity < usable || span < capacity) return NULL;
  struct huge_block *h = meta_alloc(sizeof *h);
  if (!h) return NULL;
  char *raw = os_reserve(span, HS_PAGE);
  if (!raw) {
    meta_free(h, sizeof *h);
    return NULL;
  }
  char *start = (char *)HS_ALIGN_UP((uintptr_t)raw + HS_PAGE, align);
  char *map_base = start - HS_PAGE;
  char *map_end = start + capacity + HS_PAGE;
  if (!chunkmap_prepare(start, capacity)) {
    os_release(raw, span);
    meta_free(h, sizeof *h);
    return NULL;
  }
  if (map_base > raw) os_release(raw, (size_t)(map_base - raw));
  if (raw + span > map_end) os_release(map_end, (size_t)(raw + span - map_end));
  h->ptr = start;
  h->usable = 0;
  h->capacity = capacity;
  h->map_base = map_base;
  h->map_size = (size_t)(map_end - map_base);
  return h;
}

/* Commit or give back pages so that exactly `usable` bytes are usable. */
static bool set_usable(struct huge_block *h, size_t usable) {
  char *p = h->ptr;
  if (usable > h->usable) {
    if (!os_commit(p + h->usable, usable - h->usable)) return false;
    os_hugepage(p, usable, usable >= HS_CHUNK && hs_conf.thp != HS_THP_NEVER);
  } else if (usable < h->usable) {
    os_purge(p + usable, h->usable - usable);
    os_guard(p + usable, h->usable - usable);
  }
  h->usable = usable;
  return true;
}

void *huge_alloc(size_t size, size_t align, bool *zeroed) {
  if (align < HS_CHUNK) align = HS_CHUNK;
  if (size == 0) size = 1; /* a unique block of one page */
  size_t usable = HS_ALIGN_UP(size, HS_PAGE);
  if (usable < size || size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  struct huge_block *h = cache_take(usable, align);
  bool fresh = h == NULL;
  /* Under an address-space limit, room reserved for growth is room another
   * block or a thread stack cannot have: none then. */
  if (fresh) {
    bool limited = os_address_space_limited();
    __atomic_store_n(&huge_limited, limited, __ATOMIC_RELAXED);
    h = map_block(usable, align, limited ? 0 : growth_room(usable));
  }
  if (!h) {
    /* Short of address space: no growth room, and the cache's space back. */
    huge_trim();
    h = map_block(usable, align, 0);
  }
  if (fresh && h && adopt_cached_pages(h, usable)) fresh = false;
  /* Grow a fresh or reused block to the request; trim one more than twice
   * too big down to twice the request (its faulted pages are worth keeping),
   * and only when that gives back more than HUGE_TRIM_SLACK: a program that
   * cycles buffers of changing size would otherwise give pages back on one
   * reuse and fault them in again on the next. */
  if (h && (usable > h->usable || (usable * 2 < h->usable && h->usable - usable * 2 > HUGE_TRIM_SLACK))) {
    size_t target = usable > h->usable ? usable : usable * 2;
    if (!set_usable(h, target)) {
      unmap_block(h);
      h = NULL;
    }
  }
  if (!h) {
    errno = ENOMEM;
    return NULL;
  }
  *zeroed = fresh;
  chunkmap_set(h->ptr, h->usable, (uintptr_t)h | CHUNKMAP_HUGE);
  raise_peak(&huge_peak_count, __atomic_add_fetch(&huge_count, 1, __ATOMIC_RELAXED));
  raise_peak(&huge_peak_bytes, __atomic_add_fetch(&huge_bytes, h->usable, __ATOMIC_RELAXED));
  return h->ptr;
}

struct huge_block *huge_lookup(uintptr_t entry, const void *p) {
  if (!(entry & CHUNKMAP_HUGE)) return NULL;
  struct huge_block *h = (struct huge_block *)(entry & ~CHUNKMAP_HUGE);
  return h->ptr == p ? h : NULL;
}

bool huge_resize(struct huge_block *h, size_t size) {
  size_t usable = HS_ALIGN_UP(size, HS_PAGE);
  if (usable < size || usable > h->capacity) return false;
  if (usable <= h->usable && usable > h->usable / 2) return true;
  size_t old = h->usable;
  if (!set_usable(h, usable)) return false;
  if (usable > old) {
    chunkmap_set(h->ptr, usable, (uintptr_t)h | CHUNKMAP_HUGE);
    raise_peak(&huge_peak_bytes, __atomic_add_fetch(&huge_bytes, usable - old, __ATOMIC_RELAXED));
  } else {
    /* ptr is 2 MiB aligned: regions past the last usable one are no longer ours. */
    size_t keep = HS_ALIGN_UP(usable, HS_CHUNK);
    if (old > keep) chunkmap_set((char *)h->ptr + keep, old - keep, 0);
    __atomic_sub_fetch(&huge_bytes, old - usable, __ATOMIC_RELAXED);
  }
  return true;
}

void huge_free(struct huge_block *h) {
  chunkmap_set(h->ptr, h->usable, 0);
  __atomic_sub_fetch(&huge_count, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&huge_bytes, h->usable, __ATOMIC_RELAXED);
  /* Under an address-space limit a cached block holds address space the
   * program's own mappings may need: none is kept. */
  size_t limit = __atomic_load_n(&huge_limited, __ATOMIC_RELAXED) ? 0 : cache_limit();
  if (h->usable > limit) {
    unmap_block(h);
    return;
  }
  struct huge_block *evict = NULL;
  h->freed_ms = os_now_ms();
  hs_lock_acquire(&huge_lock);
  h->next = cache;
  cache = h;
  HS_RACY_SET(cache_count, cache_count + 1);
  cache_bytes += h->usable;
  /* Over a bound: the oldest blocks go (they are at the tail). */
  while (cache_count > HUGE_CACHE_COUNT || cache_bytes > limit) {
    struct huge_block **link = &cache;
    while ((*link)->next) link = &(*link)->next;
    struct huge_block *old = *link;
    *link = NULL;
    HS_RACY_SET(cache_count, cache_count - 1);
    cache_bytes -= old->usable;
    old->next = evict;
    evict = old;
  }
  hs_lock_release(&huge_lock);
  while (evict) {
    struct huge_block *next = evict->next;
    unmap_block(evict);
    evict = next;
  }
  void (*hook)(void) = huge_release_hook;
  if (hook) hook();
}

size_t huge_expire(uint64_t freed_before_ms) {
  struct huge_block *expired = NULL, **link = &cache, *h;
  size_t bytes = 0;
  hs_lock_acquire(&huge_lock);
  while ((h = *link)) {
    if (h->freed_ms < freed_before_ms) {
      cache_unlink(link);
      bytes += h->usable;
      h->next = expired;
      expired = h;
    } else {
      link = &h->next;
    }
  }
  hs_lock_release(&huge_lock);
  while (expired) {
    struct huge_block *next = expired->next;
    unmap_block(expired);
    expired = next;
  }
  return bytes;
}

bool huge_cache_nonempty(void) { return __atomic_load_n(&cache_count, __ATOMIC_RELAXED) != 0; }

size_t huge_trim(void) {
  hs_lock_acquire(&huge_lock);
  struct huge_block *list = cache;
  size_t bytes = cache_bytes;
  cache = NULL;
  HS_RACY_SET(cache_count, 0);
  cache_bytes = 0;
  hs_lock_release(&huge_lock);
  while (list) {
    struct huge_block *next = list->next;
    unmap_block(list);
    list = next;
  }
  return bytes;
}

void huge_stats(size_t *count, size_t *bytes, size_t *cached_bytes, size_t *peak_count, size_t *peak_bytes) {
  *count = __atomic_load_n(&huge_count, __ATOMIC_RELAXED);
  *bytes = __atomic_load_n(&huge_bytes, __ATOMIC_RELAXED);
  *peak_count = __atomic_load_n(&huge_peak_count, __ATOMIC_RELAXED);
  *peak_bytes = __atomic_load_n(&huge_peak_bytes, __ATOMIC_RELAXED);
  hs_lock_acquire(&huge_lock);
  *cached_bytes = cache_bytes;
  hs_lock_release(&huge_lock);
}

size_t huge_live_bytes(void) { return __atomic_load_n(&huge_bytes, __ATOMIC_RELAXED); }

size_t huge_guard_bytes(void) {
  size_t blocks = __atomic_load_n(&huge_count, __ATOMIC_RELAXED) + __atomic_load_n(&cache_count, __ATOMIC_RELAXED);
  return blocks * 2 * HS_PAGE;
}

bool huge_prefork(bool try_only) { return hs_lock_prefork(&huge_lock, try_only); }
void huge_postfork_parent(void) { hs_lock_drop_for_fork(&huge_lock); }
void huge_postfork_child(void) { hs_lock_reset(&huge_lock); }
