/* meta: a bump allocator over guarded regions with per-size free lists.
 *
 * Freed descriptors are reused for the same rounded size, lowest address
 * first, so live descriptors pack into the fewest pages and the pages above
 * them empty out (LIFO reuse scattered the descriptors of a heap that shrank
 * over every page it had used). The free lists are binary min-heaps by
 * address in arrays kept outside the regions (their own mappings), never
 * links stored in the freed blocks, and every page of a region counts the
 * live blocks that touch it: so a page with no live block holds nothing
 * anyone needs, and meta_purge can give it back without unlinking anything.
 * A block reused from a purged page reads as zero. */
#include "meta.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "lock.h"
#include "memcheck.h"
#include "os.h"

#define META_GRAIN 64
#define META_CLASSES (META_MAX / META_GRAIN + 1)
/* Regions grow with the metadata: the first is META_REGION_MIN usable bytes,
 * each next one twice the last up to META_REGION_MAX (all META_REGION_MIN
 * under an address-space limit), halving (down to what the request needs)
 * when the kernel refuses. */
#define META_REGION_MIN ((size_t)1 << 20)
#define META_REGION_MAX ((size_t)256 << 20)
#define META_COMMIT_STEP ((size_t)64 << 10)
/* Regions the allocator can hold (at least 64 GiB of metadata, or 1 GiB
 * under an address-space limit); past that, meta_alloc fails with ENOMEM. */
#define META_REGIONS 1024
/* A free list's first capacity, in entries. */
#define META_FREE_MIN 512

struct meta_region {
  char *start, *limit;   /* usable bytes (guard pages on each side) */
  char *end;             /* end of what was handed out, once the region is left */
  uint16_t *live;        /* per page: live blocks touching it (own mapping) */
  uint64_t *clean;       /* per page: 1 = purged and not reused since */
  size_t pages;
};

/* Free blocks of one size, a min-heap by address: items[0] is the lowest. */
struct meta_free_heap {
  void **items;  /* own mapping */
  size_t count, cap;
};

/* All fields protected by meta_state.lock. */
static struct {
  hs_lock lock;
  char *cur;       /* next unused byte of the current region */
  char *committed; /* end of the read-write part of the current region */
  char *limit;     /* end of the usable part (a guard page follows) */
  size_t mapped;
  size_t next_region;  /* usable size of the next region to try; 0 = META_REGION_MIN */
  size_t nregions;
  size_t pending;      /* pages whose live count fell to 0 since the last purge */
  struct meta_region regions[META_REGIONS];
  struct meta_free_heap free[META_CLASSES];
} meta_state = {.lock = HS_LOCK_INIT}; /* all zero: .bss, not 90 KiB of .data */

/* Start a new region: [guard page][usable][guard page], all PROT_NONE until
 * committed, with its page counts. The old region's tail is abandoned (at
 * most one step). */
static int meta_new_region(size_t need) {
  if (meta_state.nregions == META_REGIONS) return -1;
  if (meta_state.nregions) meta_state.regions[meta_state.nregions - 1].end = meta_state.cur;
  need = HS_ALIGN_UP(need, META_COMMIT_STEP);
  size_t want = os_address_space_limited() || !meta_state.next_region ? META_REGION_MIN : meta_state.next_region;
  size_t usable = want > need ? want : need;
  for (;;) {
    char *base = os_reserve(usable + 2 * HS_PAGE, HS_PAGE);
    if (base) {
      size_t pages = usable >> HS_PAGE_SHIFT;
      size_t side = HS_ALIGN_UP(pages * sizeof(uint16_t) + (pages + 63) / 64 * sizeof(uint64_t), HS_PAGE);
      char *counts = os_map(side);
      if (!counts) {
        os_release(base, usable + 2 * HS_PAGE);
        return -1;
      }
      struct meta_region *r = &meta_state.regions[meta_state.nregions++];
      r->start = base + HS_PAGE;
      r->limit = r->start + usable;
      r->end = r->start;
      r->live = (uint16_t *)counts;
      r->clean = (uint64_t *)(counts + pages * sizeof(uint16_t));
      r->pages = pages;
      HS_RACY_SET(meta_state.mapped, meta_state.mapped + side);
      meta_state.cur = r->start;
      meta_state.committed = meta_state.cur;
      meta_state.limit = r->limit;
      meta_state.next_region = usable < META_REGION_MAX ? usable * 2 : META_REGION_MAX;
      return 0;
    }
    if (usable == need) return -1;
    usable = usable / 2 > need ? HS_ALIGN_UP(usable / 2, HS_PAGE) : need;
  }
}

static void *meta_bump(size_t size) {
  if (!meta_state.cur || meta_state.cur + size > meta_state.limit) {
    if (meta_new_region(size) != 0) return NULL;
  }
  while (meta_state.cur + size > meta_state.committed) {
    size_t step = META_COMMIT_STEP;
    if ((size_t)(meta_state.limit - meta_state.committed) < step)
      step = (size_t)(meta_state.limit - meta_state.committed);
    if (!os_commit(meta_state.committed, step)) return NULL;
    /* Under Valgrind descriptors are not the program's memory: their
     * pointers to slabs must not keep leaked blocks reachable. */
    if (memcheck_running()) memcheck_hide_metadata(meta_state.committed, step);
    meta_state.committed += step;
    HS_RACY_SET(meta_state.mapped, meta_state.mapped + step);
  }
  void *p = meta_state.cur;
  meta_state.cur += size;
  return p;
}

static struct meta_region *region_of(const void *p) {
  for (size_t i = meta_state.nregions; i-- > 0;) {
    struct meta_region *r = &meta_state.regions[i];
    if ((const char *)p >= r->start && (const char *)p < r->limit) return r;
  }
  os_fatal("internal error: metadata block outside every region");
}

/* Count block [p, p+size) live (+1) or free (-1) on every page it touches. */
static void count_pages(void *p, size_t size, int delta) {
  struct meta_region *r = region_of(p);
  size_t first = (size_t)((char *)p - r->start) >> HS_PAGE_SHIFT;
  size_t last = (size_t)((char *)p + size - 1 - r->start) >> HS_PAGE_SHIFT;
  for (size_t i = first; i <= last; i++) {
    if (delta > 0) {
      r->live[i]++;
      r->clean[i >> 6] &= ~((uint64_t)1 << (i & 63));
    } else if (--r->live[i] == 0) {
      HS_RACY_SET(meta_state.pending, meta_state.pending + 1);
    }
  }
}

static bool free_heap_push(struct meta_free_heap *st, void *p) {
  if (st->count == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : META_FREE_MIN;
    void **items = os_map(cap * sizeof(void *));
    if (!items) return false;
    if (st->items) {
      memcpy(items, st->items, st->count * sizeof(void *));
      os_release(st->items, st->cap * sizeof(void *));
    }
    HS_RACY_SET(meta_state.mapped, meta_state.mapped + (cap - st->cap) * sizeof(void *));
    st->items = items;
    st->cap = cap;
  }
  size_t i = st->count++;
  while (i > 0 && (char *)st->items[(i - 1) / 2] > (char *)p) {
    st->items[i] = st->items[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  st->items[i] = p;
  return true;
}

static void *free_heap_pop_lowest(struct meta_free_heap *st) {
  void *lowest = st->items[0], *last = st->items[--st->count];
  size_t i = 0, n = st->count;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && (char *)st->items[child + 1] < (char *)st->items[child]) child++;
    if ((char *)st->items[child] >= (char *)last) break;
    st->items[i] = st->items[child];
    i = child;
  }
  if (n) st->items[i] = last;
  return lowest;
}

/* A block of `size` rounded up to the grain; *recycled says whether it may
 * hold old data (fresh pages are zero). NULL + ENOMEM. */
static void *meta_take(size_t size, bool *recycled) {
  size = HS_ALIGN_UP(size, META_GRAIN);
  *recycled = false;
  if (size == 0 || size > META_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  struct meta_free_heap *st = &meta_state.free[size / META_GRAIN];
  hs_lock_acquire(&meta_state.lock);
  void *p;
  if (st->count) {
    p = free_heap_pop_lowest(st);
    *recycled = true;
  } else {
    p = meta_bump(size);
  }
  if (p) count_pages(p, size, +1);
  hs_lock_release(&meta_state.lock);
  if (!p) errno = ENOMEM;
  return p;
}

void *meta_alloc_uninit(size_t size) {
  bool recycled;
  return meta_take(size, &recycled);
}

void *meta_alloc(size_t size) {
  bool recycled;
  void *p = meta_take(size, &recycled);
  if (recycled) memset(p, 0, HS_ALIGN_UP(size, META_GRAIN));
  return p;
}

void meta_free(void *p, size_t size) {
  if (!p) return;
  size = HS_ALIGN_UP(size, META_GRAIN);
  hs_lock_acquire(&meta_state.lock);
  count_pages(p, size, -1);
  /* No room to remember it: the block is lost, its pages still counted free. */
  (void)free_heap_push(&meta_state.free[size / META_GRAIN], p);
  hs_lock_release(&meta_state.lock);
}

size_t meta_purge(size_t min_pending) {
  size_t bytes = 0;
  size_t pending = __atomic_load_n(&meta_state.pending, __ATOMIC_RELAXED);
  if (!pending || pending < min_pending) return 0;
  hs_lock_acquire(&meta_state.lock);
  HS_RACY_SET(meta_state.pending, 0);
  for (size_t k = 0; k < meta_state.nregions; k++) {
    struct meta_region *r = &meta_state.regions[k];
    /* Only pages below the bump pointer were ever handed out. */
    char *end = k + 1 == meta_state.nregions ? meta_state.cur : r->end;
    size_t used = (size_t)(end - r->start) >> HS_PAGE_SHIFT, run = 0;
    for (size_t i = 0; i <= used; i++) {
      bool idle = i < used && r->live[i] == 0 && !((r->clean[i >> 6] >> (i & 63)) & 1);
      if (idle) {
        r->clean[i >> 6] |= (uint64_t)1 << (i & 63);
        run++;
        continue;
      }
      if (run) {
        os_purge(r->start + ((i - run) << HS_PAGE_SHIFT), run << HS_PAGE_SHIFT);
        bytes += run << HS_PAGE_SHIFT;
        run = 0;
      }
    }
  }
  hs_lock_release(&meta_state.lock);
  return bytes;
}

void meta_usage(size_t *resident, size_t *guard) {
  *resident = *guard = 0;
  hs_lock_acquire(&meta_state.lock);
  size_t n = meta_state.nregions;
  hs_lock_release(&meta_state.lock);
  /* Regions are never unmapped: each one's bounds are read under the lock,
   * its pages outside it. */
  for (size_t k = 0; k < n; k++) {
    hs_lock_acquire(&meta_state.lock);
    const struct meta_region *r = &meta_state.regions[k];
    char *start = r->start, *end = k + 1 == meta_state.nregions ? meta_state.committed : r->end;
    char *side = (char *)r->live;
    size_t side_size = HS_ALIGN_UP(r->pages * sizeof(uint16_t) + (r->pages + 63) / 64 * sizeof(uint64_t), HS_PAGE);
    hs_lock_release(&meta_state.lock);
    size_t res, shared;
    end = (char *)HS_ALIGN_UP((uintptr_t)end, HS_PAGE);
    if (end > start && os_page_sharing(start, (size_t)(end - start), &res, &shared)) *resident += res << HS_PAGE_SHIFT;
    if (os_page_sharing(side, side_size, &res, &shared)) *resident += res << HS_PAGE_SHIFT;
    *guard += 2 * HS_PAGE;
  }
}

size_t meta_mapped_bytes(void) { return __atomic_load_n(&meta_state.mapped, __ATOMIC_RELAXED); }

bool meta_prefork(bool try_only) { return hs_lock_prefork(&meta_state.lock, try_only); }
void meta_postfork_parent(void) { hs_lock_drop_for_fork(&meta_state.lock); }
void meta_postfork_child(void) { hs_lock_reset(&meta_state.lock); }
