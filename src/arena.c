/* arena: see arena.h. */
#include "arena.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "config.h"
#include "meta.h"
#include "os.h"

/* Chunk reservations grow with the heap: the first is RESERVATION_MIN, each
 * next one twice the last, up to RESERVATION_MAX; when the kernel refuses
 * one, halving down to a single chunk. So a small process holds a few MiB of
 * address space, not a GiB. Under an address-space limit every reservation
 * is one chunk, and a chunk the arenas give back is unmapped rather than
 * kept: address space we hold unused is what the program's next mmap
 * (a huge block, a thread stack) needs. */
#define RESERVATION_MIN ((size_t)4 << 20)
#define RESERVATION_MAX ((size_t)1 << 30)
/* Fully free slabs each class keeps between two purge passes (at most
 * ARENA_KEEP_EMPTY_SLABS of them, in at most ARENA_KEEP_EMPTY_PAGES pages:
 * always one, since a slab spans at most 32), so a class that empties and
 * refills its slabs does not rebuild their descriptors and page maps every
 * time: a program that allocates a thousand blocks of mixed sizes and frees
 * them all (batch_random/1000) emptied and rebuilt two or three slabs of
 * each large class per round when one was kept (its time 18.7 -> 16.4 us;
 * four of any size: 14.5 us, but strbuild's peak RSS grew 7%, 20.3 -> 21.8
 * MiB, which the page bound brings back). The purge passes give kept
 * slabs back after decay_ms. */
#define ARENA_KEEP_EMPTY_SLABS 4
#define ARENA_KEEP_EMPTY_PAGES 64
/* The most page runs one purge step takes out of an arena before dropping
 * its lock to madvise them. */
#define PURGE_BATCH 32

struct arena hs_arenas[ARENA_MAX];
unsigned hs_arena_count;
void (*arena_release_hook)(struct arena *a);
void (*arena_refill_hook)(struct arena *a);
size_t (*arena_memory_hook)(void);

/* A purged chunk waiting in the source: a small node, so that its 10 KiB
 * descriptor goes back to meta (and its pages to the kernel) meanwhile. */
struct source_chunk {
  uintptr_t base;
  bool lazy_purged;          /* purged with MADV_FREE: not known zero */
  struct source_chunk *next;
};

/* The global chunk source. Protected by its lock; taken after arena locks. */
static struct {
  hs_lock lock;
  char *next;               /* next uncarved chunk of the reservation */
  char *end;                /* end of the reservation */
  struct source_chunk *free_list; /* purged chunks ready for reuse */
  size_t free_count;
  size_t chunks_in_use;     /* chunks owned by arenas */
  size_t next_reservation;  /* size of the next reservation to try */
  bool limited;             /* an address-space limit when the source last grew */
} source = {.lock = HS_LOCK_INIT, .next_reservation = RESERVATION_MIN};

/* ---- the chunk source ---------------------------------------------------- */

/* Whether a chunk handed out now should be backed by huge pages. */
static bool chunk_wants_hugepages(void) {
  /* Hardened mode's guard pages split every chunk's mapping. */
  if (hs_conf.hardened) return false;
  switch (hs_conf.thp) {
    case HS_THP_ALWAYS: return true;
    case HS_THP_NEVER: return false;
    case HS_THP_AUTO: break;
  }
  return source.chunks_in_use * HS_CHUNK >= hs_conf.thp_min_heap;
}

/* A new reservation for the source (lock held), its chunk-map leaves ready;
 * false + ENOMEM when not even one chunk's worth can be had. */
static bool source_grow(void) {
  HS_RACY_SET(source.limited, os_address_space_limited());
  size_t first = source.limited ? HS_CHUNK : source.next_reservation;
  for (size_t size = first; size >= HS_CHUNK; size /= 2) {
    char *r = os_reserve(size, HS_CHUNK);
    if (!r) continue;
    if (!chunkmap_prepare(r, size)) {
      os_release(r, size);
      return false;
    }
    source.next = r;
    source.end = r + size;
    source.next_reservation = size < RESERVATION_MAX ? size * 2 : RESERVATION_MAX;
    return true;
  }
  errno = ENOMEM;
  return false;
}

/* A committed chunk whose pages are all clean (fresh or purged), with its
 * descriptor, or NULL + ENOMEM. */
static struct chunk *chunk_obtain(void) {
  struct chunk *c = meta_alloc(sizeof *c);
  if (!c) return NULL;
  hs_lock_acquire(&source.lock);
  struct source_chunk *node = source.free_list;
  uintptr_t base;
  bool unzeroed = false;
  if (node) {
    source.free_list = node->next;
    source.free_count--;
    base = node->base;
    unzeroed = node->lazy_purged;
  } else {
    if (source.next == source.end && !source_grow()) goto fail;
    if (!os_commit(source.next, HS_CHUNK)) goto fail;
    base = (uintptr_t)source.next;
    source.next += HS_CHUNK;
  }
  source.chunks_in_use++;
  bool huge = chunk_wants_hugepages();
  hs_lock_release(&source.lock);
  meta_free(node, sizeof *node);
  chunk_init(c, base, unzeroed);
  c->hugepage = huge;
  c->hugepage_split = 0;
  os_hugepage((void *)base, HS_CHUNK, huge);
  return c;
fail:
  hs_lock_release(&source.lock);
  meta_free(c, sizeof *c);
  errno = ENOMEM;
  return NULL;
}

/* Give back a chunk that is out of the chunk map and already purged (lazily
 * with MADV_FREE when `lazy`): its address to the source's free list, or,
 * under an address-space limit or without memory for the list node,
 * unmapped. Its descriptor is freed either way. */
static void chunk_return(struct chunk *c, bool lazy) {
  uintptr_t base = c->base;
  meta_free(c, sizeof *c);
  struct source_chunk *node = __atomic_load_n(&source.limited, __ATOMIC_RELAXED) ? NULL : meta_alloc(sizeof *node);
  hs_lock_acquire(&source.lock);
  source.chunks_in_use--;
  if (!node) {
    hs_lock_release(&source.lock);
    os_release((void *)base, HS_CHUNK);
    return;
  }
  node->base = base;
  node->lazy_purged = lazy;
  node->next = source.free_list;
  source.free_list = node;
  source.free_count++;
  hs_lock_release(&source.lock);
}

size_t arena_source_cached_bytes(void) {
  hs_lock_acquire(&source.lock);
  size_t n = source.free_count * HS_CHUNK;
  hs_lock_release(&source.lock);
  return n;
}

/* ---- the run index and the decay queue (arena lock held) ------------------ */

static unsigned bucket_of(unsigned longest) {
  return longest ? 32 - (unsigned)__builtin_clz(longest) : 0;
}

static void bucket_insert(struct arena *a, struct chunk *c) {
  c->bucket = (uint8_t)bucket_of(c->longest);
  struct chunk **link = &a->bucket[c->bucket], *prev = NULL;
  while (*link && (*link)->base < c->base) {
    prev = *link;
    link = &(*link)->next;
  }
  c->prev = prev;
  c->next = *link;
  if (*link) (*link)->prev = c;
  *link = c;
}

static void bucket_remove(struct arena *a, struct chunk *c) {
  if (c->prev) c->prev->next = c->next;
  else a->bucket[c->bucket] = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void dirty_remove(struct arena *a, struct chunk *c) {
  if (c->dirty_prev) c->dirty_prev->dirty_next = c->dirty_next;
  else a->dirty_head = c->dirty_next;
  if (c->dirty_next) c->dirty_next->dirty_prev = c->dirty_prev;
  else a->dirty_tail = c->dirty_prev;
  c->dirty_prev = c->dirty_next = NULL;
}

static void dirty_append(struct arena *a, struct chunk *c, uint64_t now) {
  c->dirty_since_ms = now;
  c->dirty_next = NULL;
  c->dirty_prev = a->dirty_tail;
  if (a->dirty_tail) a->dirty_tail->dirty_next = c;
  else a->dirty_head = c;
  a->dirty_tail = c;
}

static void set_dirty_pages(struct arena *a, size_t n) {
  HS_RACY_SET(a->dirty_pages, n);
}

/* After c's pages changed state from `was_dirty`/`was_bucket`: keep the
 * run index and the decay queue in step. */
static void chunk_changed(struct arena *a, struct chunk *c, unsigned was_dirty, unsigned was_bucket) {
  if (bucket_of(c->longest) != was_bucket) {
    bucket_remove(a, c);
    bucket_insert(a, c);
  }
  if (!was_dirty && c->ndirty) dirty_append(a, c, os_now_ms());
  else if (was_dirty && !c->ndirty) {
    dirty_remove(a, c);
    c->short_waited = 0;
  }
  set_dirty_pages(a, a->dirty_pages + c->ndirty - was_dirty);
}

/* Mark pages of c used; returns whether they all read as zero. */
static bool take_from(struct arena *a, struct chunk *c, unsigned first, unsigned count) {
  unsigned was_dirty = c->ndirty, was_bucket = c->bucket;
  bool zero;
  chunk_take(c, first, count, &zero);
  if (unlikely(c->hugepage_split) && c->nfree == 0) {
    /* Full again: huge pages are worth asking for (one call per split). */
    c->hugepage_split = 0;
    c->hugepage = 1;
    os_hugepage((void *)c->base, HS_CHUNK, true);
  }
  HS_RACY_SET(a->free_pages, a->free_pages - count);
  size_t used = a->chunk_pages - a->free_pages;
  if (used > __atomic_load_n(&a->used_peak_pages, __ATOMIC_RELAXED))
    __atomic_store_n(&a->used_peak_pages, used, __ATOMIC_RELAXED);
  chunk_changed(a, c, was_dirty, was_bucket);
  return zero;
}

static void give_to(struct arena *a, struct chunk *c, unsigned first, unsigned count, enum chunk_give_as as) {
  unsigned was_dirty = c->ndirty, was_bucket = c->bucket;
  chunk_give(c, first, count, as);
  HS_RACY_SET(a->free_pages, a->free_pages + count);
  chunk_changed(a, c, was_dirty, was_bucket);
}

/* Chunks of the decay queue (oldest dirty first) a run request looks at for
 * dirty pages before taking clean ones anywhere. */
#define DIRTY_PROBE 4

/* The first chunk of a bucket's list (address order) with a free run of
 * `count` pages aligned to `align_pages`, and the run's first page in *at;
 * NULL when none has one. */
static struct chunk *bucket_first_fit(struct chunk *list, unsigned count, unsigned align_pages, int *at) {
  for (struct chunk *c = list; c; c = c->next)
    if ((*at = chunk_find_run(c, count, align_pages)) >= 0) return c;
  return NULL;
}

/* Take `count` pages aligned to `align_pages`, preferring chunks that hold
 * something: dirty pages of a chunk in use first (the lowest fitting run
 * among the DIRTY_PROBE oldest dirty chunks), else the lowest chunk in use
 * that has the run, else a chunk with nothing in use (a dirty one first,
 * unless a chunk in use lies below it), else a new chunk. Reusing resident
 * pages keeps RSS at what is in use, where address order alone left the
 * dirty pages of a program's last round beside the clean ones its next
 * round faulted in (threads100: a megabyte); keeping off empty chunks lets
 * a heap that shrank give them back whole, where one slab carved from each
 * kept every one of them (redislike: the trickle after the frees held 120
 * chunks and their metadata). Returns the chunk and sets *first and *zero
 * (whether the run reads as zero); NULL + ENOMEM. */
static struct chunk *take_pages(struct arena *a, unsigned count, unsigned align_pages, unsigned *first,
                                bool *zero) {
  struct chunk *best = NULL, *empty_dirty = NULL;
  int best_at = -1, empty_at = -1;
  unsigned probed = 0;
  for (struct chunk *c = a->dirty_head; c && probed < DIRTY_PROBE; c = c->dirty_next, probed++) {
    bool empty = chunk_is_empty(c);
    struct chunk *held = empty ? empty_dirty : best;
    if (held && c->base > held->base) continue;
    int at = chunk_find_dirty_run(c, count, align_pages);
    if (at < 0) continue;
    if (empty) {
      empty_dirty = c;
      empty_at = at;
    } else {
      best = c;
      best_at = at;
    }
  }
  /* Chunks in use with a run, lowest first: every bucket but the last (a
   * chunk whose longest run is the whole chunk has nothing in use). */
  for (unsigned b = bucket_of(count); !best && b < ARENA_BUCKETS - 1; b++)
    best = bucket_first_fit(a->bucket[b], count, align_pages, &best_at);
  if (empty_dirty && (!best || empty_dirty->base < best->base)) {
    best = empty_dirty;
    best_at = empty_at;
  }
  if (!best) best = bucket_first_fit(a->bucket[ARENA_BUCKETS - 1], count, align_pages, &best_at);
  if (!best) {
    best = chunk_obtain();
    if (!best) return NULL;
    best->arena = a;
    chunkmap_set((void *)best->base, HS_CHUNK, (uintptr_t)best);
    bucket_insert(a, best);
    HS_RACY_SET(a->chunk_pages, a->chunk_pages + HS_CHUNK_PAGES);
    HS_RACY_SET(a->free_pages, a->free_pages + HS_CHUNK_PAGES);
    a->stats.chunk_bytes += HS_CHUNK;
    best_at = 0;
  }
  *zero = take_from(a, best, (unsigned)best_at, count);
  *first = (unsigned)best_at;
  return best;
}

/* Take a chunk with nothing in use out of the arena (lock held): out of the
 * index, the queue and the chunk map. */
static void detach_empty(struct arena *a, struct chunk *c) {
  bucket_remove(a, c);
  if (c->ndirty) dirty_remove(a, c);
  set_dirty_pages(a, a->dirty_pages - c->ndirty);
  HS_RACY_SET(a->chunk_pages, a->chunk_pages - HS_CHUNK_PAGES);
  HS_RACY_SET(a->free_pages, a->free_pages - HS_CHUNK_PAGES);
  a->stats.chunk_bytes -= HS_CHUNK;
  chunkmap_set((void *)c->base, HS_CHUNK, 0);
  c->arena = NULL;
}

/* Pages [first, first+count) of c are no longer in any slab or run: they
 * stay dirty in the chunk until the purge layer asks for them. */
static void release_pages(struct arena *a, struct chunk *c, unsigned first, unsigned count) {
  chunk_map_pages(c, first, count, NULL);
  give_to(a, c, first, count, CHUNK_DIRTY);
  /* Under an address-space limit a chunk with nothing in it goes back at
   * once: the program's own mappings may need its address space. */
  if (chunk_is_empty(c) && __atomic_load_n(&source.limited, __ATOMIC_RELAXED)) {
    detach_empty(a, c);
    chunk_return(c, false);
  }
}

/* ---- slab lists (arena lock held) ----------------------------------------- */

static void list_push_tail(struct slab **head, struct slab *s) {
  if (!*head) {
    s->prev = s->next = s;
    *head = s;
    return;
  }
  struct slab *tail = (*head)->prev;
  s->prev = tail;
  s->next = *head;
  tail->next = s;
  (*head)->prev = s;
}

static void list_remove(struct slab **head, struct slab *s) {
  if (s->next == s) {
    *head = NULL;
  } else {
    s->prev->next = s->next;
    s->next->prev = s->prev;
    if (*head == s) *head = s->next;
  }
  s->prev = s->next = NULL;
}

/* A slab with free slots sits in its class's retired heap when it was made
 * before the last fork and the arena has not settled since, else in the
 * partial heap (both SLAB_LIST_PARTIAL: the generation tells them apart, so
 * a fork moves every slab from one heap to the other without writing any
 * descriptor but the two roots). */
static struct slab **partial_heap_of(struct arena *a, const struct slab *s) {
  struct arena_class *ac = &a->cls[s->cls];
  return s->generation < a->fresh_from ? &ac->retired : &ac->partial;
}

static void slab_unlist(struct arena *a, struct slab *s) {
  struct arena_class *ac = &a->cls[s->cls];
  if (s->list == SLAB_LIST_PARTIAL) slab_heap_remove(partial_heap_of(a, s), s);
  else if (s->list == SLAB_LIST_EMPTY) {
    list_remove(&ac->empty, s);
    ac->nempty--;
  }
  s->list = SLAB_LIST_NONE;
}

/* Hardened mode's guard pages, all arenas together, and how many there may
 * be: each splits a mapping in three, and a process whose guards took most
 * of vm.max_map_count would see its own mmap calls fail. An eighth of it
 * (8191 guards, 16382 mappings, by default) is the budget; slabs and runs
 * made beyond it have no guard. Set by arena_init_all. */
static size_t guards_in_use; /* atomic */
static size_t guard_budget;

/* The guard pages a new slab or run takes after its own (0 or 1). */
static unsigned guard_wanted(void) {
  return hs_conf.hardened && __atomic_load_n(&guards_in_use, __ATOMIC_RELAXED) < guard_budget;
}

/* The page right after slab or run s: its guard, when s->guard is set. */
HS_INLINE void *guard_page(const struct slab *s) { return (void *)(s->base + ((uintptr_t)s->pages << HS_PAGE_SHIFT)); }

/* The page after a new slab or run of s->pages pages, taken with it for
 * that, becomes a guard (lock held). A kernel that cannot split the mapping
 * leaves it an unguarded spacer. */
static void guard_after(struct arena *a, struct slab *s) {
  s->guard = 1;
  s->guarded = os_guard(guard_page(s), HS_PAGE);
  if (!s->guarded) return;
  a->stats.guard_pages++;
  __atomic_add_fetch(&guards_in_use, 1, __ATOMIC_RELAXED);
}

static void slab_release(struct arena *a, struct slab *s) {
  slab_unlist(a, s);
  unsigned span = s->pages;
  if (s->guard) {
    /* A guard that cannot be made writable again stays taken (one page). */
    if (!s->guarded) {
      span++;
    } else if (os_protect(guard_page(s), HS_PAGE, false)) {
      span++;
      a->stats.guard_pages--;
      __atomic_sub_fetch(&guards_in_use, 1, __ATOMIC_RELAXED);
    }
  }
  release_pages(a, s->chunk, s->first_page, span);
  a->stats.slabs--;
  if (s->cls < SIZECLASS_SMALL) a->cls[s->cls].slabs--;
  meta_free(s, slab_desc_size(s->slots));
}

/* The retired slabs of every class go back to their partial heaps (lock held). */
static void settle(struct arena *a) {
  HS_RACY_SET(a->fresh_from, 0);
  a->settle_ms = 0;
  for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++) slab_heap_merge(&a->cls[cls].partial, &a->cls[cls].retired);
}

/* A fork happened: every slab with holes retires until the arena settles
 * (lock held, or the only thread running). The slab descriptors are not
 * written (each write would copy a metadata page for both processes): only
 * the heap roots and the kept empty slabs. */
static void retire_all(struct arena *a) {
  HS_RACY_SET(a->generation, a->generation + 1);
  HS_RACY_SET(a->fresh_from, a->generation);
  for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++) {
    struct arena_class *ac = &a->cls[cls];
    slab_heap_merge(&ac->retired, &ac->partial);
    /* Empty slabs hold no live data: they stay reusable. */
    if (ac->empty) {
      struct slab *s = ac->empty;
      do {
        s->generation = a->generation;
        s = s->next;
      } while (s != ac->empty);
    }
  }
}

/* A slab of class cls with free slots, not on any list; NULL + ENOMEM. */
static struct slab *slab_create(struct arena *a, unsigned cls) {
  struct arena_class *ac = &a->cls[cls];
  if (unlikely(a->settle_ms) && os_now_ms() >= a->settle_ms) {
    settle(a);
    if (ac->partial) {
      struct slab *s = ac->partial;
      slab_unlist(a, s);
      return s;
    }
  }
  if (ac->empty) {
    struct slab *s = ac->empty;
    slab_unlist(a, s);
    return s;
  }
  const struct sizeclass_info *ci = &sizeclass_table[cls];
  struct slab *s = meta_alloc(slab_desc_size(ci->slots));
  if (!s) return NULL;
  unsigned first;
  bool zero;
  unsigned guard = guard_wanted();
  struct chunk *c = take_pages(a, ci->pages + guard, 1, &first, &zero);
  if (!c) {
    meta_free(s, slab_desc_size(ci->slots));
    return NULL;
  }
  slab_init(s, c, c->base + ((uintptr_t)first << HS_PAGE_SHIFT), first, ci->pages, cls, ci->size, ci->magic,
            ci->slots, NULL);
  if (guard) guard_after(a, s);
  s->arena = a;
  s->generation = a->generation;
  chunk_map_pages(c, first, ci->pages, s);
  a->stats.slabs++;
  ac->slabs++;
  return s;
}

/* ---- public entry points -------------------------------------------------- */

void arena_init_all(unsigned count) {
  if (count == 0) count = 1;
  if (count > ARENA_MAX) count = ARENA_MAX;
  for (unsigned i = 0; i < count; i++) {
    hs_lock_reset(&hs_arenas[i].lock);
    hs_arenas[i].index = i;
  }
  hs_arena_count = count;
  if (hs_conf.hardened) guard_budget = os_max_map_count() / 8;
}

static void released(struct arena *a) {
  void (*hook)(struct arena *) = arena_release_hook;
  if (hook) hook(a);
}

/* Out of memory: whether the memory hook gave something back to retry with. */
static bool memory_given_back(void) {
  size_t (*hook)(void) = arena_memory_hook;
  return hook && hook() > 0;
}

static unsigned refill(struct arena *a, unsigned cls, struct slot_ref *out, unsigned want) {
  struct arena_class *ac = &a->cls[cls];
  unsigned n = 0;
  hs_lock_acquire(&a->lock);
  while (n < want) {
    struct slab *s = ac->partial;
    if (!s) {
      s = slab_create(a, cls);
      if (!s) break;
      slab_heap_insert(&ac->partial, s);
      s->list = SLAB_LIST_PARTIAL;
    }
    n += slab_take(s, out + n, want - n);
    s->trimmed = 0;
    if (s->nfree == 0) slab_unlist(a, s);
  }
  ac->nmalloc += n;
  hs_lock_release(&a->lock);
  return n;
}

unsigned arena_refill(struct arena *a, unsigned cls, struct slot_ref *out, unsigned want) {
  unsigned n = refill(a, cls, out, want);
  if (n == 0 && memory_given_back()) n = refill(a, cls, out, want);
  if (n == 0) errno = ENOMEM;
  else if (arena_refill_hook) arena_refill_hook(a);
  return n;
}

/* Put slot idx of s back (arena lock held). */
static void put_slot(struct arena *a, struct slab *s, uint32_t idx) {
  if (unlikely(slab_bit_free(s, idx))) os_fatal("internal error: slot already free in its slab");
  slab_put(s, idx);
  s->trimmed = 0;
  bool retired = s->generation < a->fresh_from;
  struct arena_class *ac = &a->cls[s->cls];
  ac->nfree++;
  if (s->nfree == s->slots) {
    if (!retired && ac->nempty < ARENA_KEEP_EMPTY_SLABS && (ac->nempty + 1u) * s->pages <= ARENA_KEEP_EMPTY_PAGES) {
      slab_unlist(a, s);
      list_push_tail(&ac->empty, s);
      s->list = SLAB_LIST_EMPTY;
      ac->nempty++;
    } else {
      slab_release(a, s);
    }
  } else if (s->list == SLAB_LIST_NONE) {
    slab_heap_insert(retired ? &ac->retired : &ac->partial, s);
    s->list = SLAB_LIST_PARTIAL;
  }
}

void arena_flush_batch(const struct slot_ref *refs, unsigned n) {
  struct arena *held = NULL;
  for (unsigned i = 0; i < n; i++) {
    struct slab *s = chunk_slab_of(refs[i].ptr);
    struct arena *a = s->arena;
    if (a != held) {
      if (held) {
        hs_lock_release(&held->lock);
        released(held);
      }
      hs_lock_acquire(&a->lock);
      held = a;
    }
    put_slot(a, s, (uint32_t)(refs[i].state - s->state));
  }
  if (held) {
    hs_lock_release(&held->lock);
    released(held);
  }
}

/* A run of `pages` aligned to `align_pages` (they fit in a chunk). */
static void *alloc_large(struct arena *a, size_t pages, size_t align_pages, bool *zeroed) {
  struct slab *s = meta_alloc(slab_desc_size(1));
  if (!s) return NULL;
  hs_lock_acquire(&a->lock);
  unsigned first;
  bool zero;
  unsigned guard = guard_wanted();
  struct chunk *c = take_pages(a, (unsigned)pages + guard, (unsigned)align_pages, &first, &zero);
  if (!c) {
    hs_lock_release(&a->lock);
    meta_free(s, slab_desc_size(1));
    errno = ENOMEM;
    return NULL;
  }
  slab_init(s, c, c->base + ((uintptr_t)first << HS_PAGE_SHIFT), first, (unsigned)pages, SIZECLASS_LARGE,
            (uint32_t)(pages << HS_PAGE_SHIFT), 0, 1, chunk_run_state(c, first));
  if (guard) guard_after(a, s);
  s->arena = a;
  s->generation = a->generation;
  s->aligned_run = align_pages > 1;
  struct slot_ref ref;
  slab_take(s, &ref, 1);
  *ref.state = SLOT_LIVE;
  chunk_map_pages(c, first, (unsigned)pages, s);
  a->stats.large_bytes += s->size;
  a->stats.large_count++;
  a->stats.slabs++;
  hs_lock_release(&a->lock);
  *zeroed = zero;
  return ref.ptr;
}

void *arena_alloc_large(struct arena *a, size_t size, size_t align, bool *zeroed) {
  size_t pages = size ? (size + HS_PAGE - 1) >> HS_PAGE_SHIFT : 1;
  size_t align_pages = align > HS_PAGE ? align >> HS_PAGE_SHIFT : 1;
  *zeroed = false;
  if (pages + (hs_conf.hardened ? 1 : 0) + align_pages - 1 > HS_CHUNK_PAGES) { /* + a guard page */
    errno = ENOMEM;
    return NULL;
  }
  void *p = alloc_large(a, pages, align_pages, zeroed);
  if (!p && memory_given_back()) p = alloc_large(a, pages, align_pages, zeroed);
  if (!p) errno = ENOMEM;
  return p;
}

bool arena_resize_large(struct slab *s, size_t size) {
  if (s->guard) return false; /* hardened mode moves instead: the guard stays put */
  unsigned pages = (unsigned)((size + HS_PAGE - 1) >> HS_PAGE_SHIFT);
  struct arena *a = s->arena;
  struct chunk *c = s->chunk;
  unsigned first = s->first_page, end = first + s->pages;
  bool ok = true;
  hs_lock_acquire(&a->lock);
  if (pages < s->pages) {
    chunk_map_pages(c, first + pages, end - (first + pages), NULL);
    give_to(a, c, first + pages, end - (first + pages), CHUNK_DIRTY);
  } else if (pages > s->pages) {
    ok = first + pages <= HS_CHUNK_PAGES;
    for (unsigned i = end; ok && i < first + pages; i++) ok = (c->free_bits[i >> 6] >> (i & 63)) & 1;
    if (ok) {
      take_from(a, c, end, first + pages - end);
      chunk_map_pages(c, end, first + pages - end, s);
    }
  }
  if (ok && pages != s->pages) {
    size_t old = s->size;
    s->pages = (uint16_t)pages;
    c->run[first].pages = (uint16_t)pages;
    s->size = (uint32_t)((size_t)pages << HS_PAGE_SHIFT);
    a->stats.large_bytes = a->stats.large_bytes - old + s->size;
  }
  hs_lock_release(&a->lock);
  if (pages < end - first) released(a);
  return ok;
}

void arena_free_large(struct slab *s) {
  struct arena *a = s->arena;
  hs_lock_acquire(&a->lock);
  a->stats.large_bytes -= s->size;
  a->stats.large_count--;
  /* The chunk's run record outlives the run: realloc trusts it only while
   * a live run starts at its page. */
  *s->state = SLOT_FREE;
  slab_release(a, s);
  hs_lock_release(&a->lock);
  released(a);
}

/* ---- purging --------------------------------------------------------------- */

struct purge_range {
  struct chunk *chunk;
  unsigned first, count; /* count == HS_CHUNK_PAGES with first 0: the whole chunk, detached */
  unsigned dirty;        /* of those, pages dirty (the others were clean already) */
  bool split;            /* the chunk's first partial purge: huge pages off first */
};

/* A partial purge of chunk c is about to break its huge pages (lock held):
 * from now on it asks for none (see struct chunk.hugepage_split). Returns
 * whether the caller must tell the kernel. */
static bool split_hugepages(struct chunk *c) {
  if (!c->hugepage) return false;
  c->hugepage = 0;
  c->hugepage_split = 1;
  return true;
}

static void advise(struct arena *a, const struct arena_purge_request *req, void *p, size_t size) {
  if (req->lazy) os_purge_lazy(p, size);
  else os_purge(p, size);
  __atomic_fetch_add(&a->stats.returned_calls, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&a->stats.returned_bytes, size, __ATOMIC_RELAXED);
}

/* The pages of partly used slabs that hold no slot in use (lock held):
 * purged in place, under the lock, since the slab may hand those slots out
 * again at any moment. */
/* Purge the pages of slab s that hold no live slot (lock held). */
static size_t trim_slab(struct slab *s, const struct arena_purge_request *req) {
  size_t bytes = 0;
  uintptr_t run_start = 0, run_end = 0;
  for (unsigned pg = 0; pg <= s->pages; pg++) {
    bool free_page = false;
    uintptr_t lo = s->base + ((uintptr_t)pg << HS_PAGE_SHIFT), hi = lo + HS_PAGE;
    if (pg < s->pages) {
      uint32_t i0 = (uint32_t)((lo - s->base) / s->size), i1 = (uint32_t)((hi - 1 - s->base) / s->size);
      if (i1 >= s->slots) i1 = s->slots - 1;
      free_page = i0 < s->slots;
      for (uint32_t i = i0; free_page && i <= i1; i++) free_page = slab_bit_free(s, i);
    }
    if (free_page) {
      if (split_hugepages(s->chunk)) os_hugepage((void *)s->chunk->base, HS_CHUNK, false);
      if (run_end != lo) run_start = lo;
      run_end = hi;
    } else if (run_end > run_start) {
      advise(s->arena, req, (void *)run_start, run_end - run_start);
      bytes += run_end - run_start;
      run_start = run_end = 0;
    }
  }
  s->trimmed = 1;
  return bytes;
}

static size_t purge_inside_slabs(struct arena *a, const struct arena_purge_request *req) {
  size_t bytes = 0;
  for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++) {
    for (struct slab *s = a->cls[cls].partial; s; s = slab_heap_next(s))
      if (!s->trimmed) bytes += trim_slab(s, req);
    for (struct slab *s = a->cls[cls].retired; s; s = slab_heap_next(s))
      if (!s->trimmed) bytes += trim_slab(s, req);
  }
  return bytes;
}

/* Whole chunks first (lock held on entry and exit): every chunk with nothing
 * in use that the request covers goes back, one madvise each, before any
 * chunk is broken into runs. */
static size_t purge_empty_chunks(struct arena *a, const struct arena_purge_request *req) {
  size_t bytes = 0;
  for (;;) {
    struct chunk *batch[PURGE_BATCH];
    unsigned n = 0;
    for (struct chunk *c = a->dirty_head, *next; c && n < PURGE_BATCH; c = next) {
      next = c->dirty_next;
      if (c->dirty_since_ms >= req->dirty_before_ms && a->dirty_pages <= req->keep_dirty_pages) break;
      if (!chunk_is_empty(c)) continue;
      detach_empty(a, c);
      batch[n++] = c;
    }
    /* Chunks with nothing in use whose pages were all given back run by
     * run: not in the queue, but their descriptors and address space can
     * go too (no madvise needed). */
    unsigned clean_from = n;
    for (struct chunk *c = a->bucket[ARENA_BUCKETS - 1], *next; c && n < PURGE_BATCH; c = next) {
      next = c->next;
      if (chunk_is_empty(c) && c->ndirty == 0) {
        detach_empty(a, c);
        batch[n++] = c;
      }
    }
    if (n == 0) return bytes;
    hs_lock_release(&a->lock);
    for (unsigned i = 0; i < n; i++) {
      if (i < clean_from) {
        advise(a, req, (void *)batch[i]->base, HS_CHUNK);
        chunk_return(batch[i], req->lazy);
      } else {
        /* A clean chunk may hold MADV_FREE pages: not known zero then. */
        chunk_return(batch[i], chunk_any_unzeroed(batch[i]));
      }
    }
    bytes += (size_t)clean_from * HS_CHUNK;
    hs_lock_acquire(&a->lock);
  }
}

size_t arena_purge(struct arena *a, const struct arena_purge_request *req) {
  size_t bytes = 0;
  struct purge_range batch[PURGE_BATCH];
  hs_lock_acquire(&a->lock);
  if (req->empty_slabs) {
    for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++)
      while (a->cls[cls].empty) slab_release(a, a->cls[cls].empty);
  }
  if (req->inside_slabs) bytes += purge_inside_slabs(a, req);
  bytes += purge_empty_chunks(a, req);
  /* Then runs: chunks are visited once each, oldest dirty first; one
   * skipped (a huge page kept whole) goes to the tail with a fresh stamp. */
  size_t visits = 0, limit = a->chunk_pages / HS_CHUNK_PAGES;
  /* A chunk with more runs than a batch is met again at the head, and
   * finished even when it was the last visit; every other visit counts,
   * also one that meets again the chunk it just sent to the tail (the only
   * chunk in the queue): the loop ends after `limit` of them. */
  struct chunk *resume = NULL;
  for (;;) {
    unsigned n = 0;
    while (n < PURGE_BATCH && (visits < limit || (resume && a->dirty_head == resume))) {
      struct chunk *c = a->dirty_head;
      bool resumed = resume && c == resume;
      resume = NULL;
      if (!c || (c->dirty_since_ms >= req->dirty_before_ms && a->dirty_pages <= req->keep_dirty_pages)) break;
      if (!resumed) visits++;
      if (chunk_is_empty(c)) {
        detach_empty(a, c);
        batch[n++] = (struct purge_range){c, 0, HS_CHUNK_PAGES, c->ndirty, false};
        continue;
      }
      if (c->hugepage && !req->split_hugepages) {
        dirty_remove(a, c);
        dirty_append(a, c, os_now_ms());
        continue;
      }
      /* Short free runs wait one more decay period (pages reused within
       * it cost no system call); then they go too. A free run goes whole,
       * clean pages and all: one call, and no clean page splits the dirty
       * ones into short runs. */
      unsigned from = 0, first, count, dirty;
      unsigned min_run = c->short_waited && req->short_runs_later ? 1 : req->min_run_pages;
      while (n < PURGE_BATCH && chunk_next_dirty(c, &from, &first, &count, &dirty)) {
        if (dirty < min_run) continue;
        take_from(a, c, first, count);
        batch[n++] = (struct purge_range){c, first, count, dirty, split_hugepages(c)};
      }
      if (n == PURGE_BATCH) resume = c;
      if (n < PURGE_BATCH && c->ndirty && a->dirty_head == c) {
        c->short_waited = 1;
        dirty_remove(a, c);
        dirty_append(a, c, os_now_ms());
      }
    }
    if (n == 0) break;
    hs_lock_release(&a->lock);
    for (unsigned i = 0; i < n; i++) {
      struct chunk *c = batch[i].chunk;
      if (batch[i].split) os_hugepage((void *)c->base, HS_CHUNK, false);
      advise(a, req, (void *)(c->base + ((uintptr_t)batch[i].first << HS_PAGE_SHIFT)),
             (size_t)batch[i].count << HS_PAGE_SHIFT);
      bytes += (size_t)batch[i].dirty << HS_PAGE_SHIFT;
      if (batch[i].count == HS_CHUNK_PAGES) chunk_return(c, req->lazy);
    }
    hs_lock_acquire(&a->lock);
    for (unsigned i = 0; i < n; i++)
      if (batch[i].count != HS_CHUNK_PAGES)
        give_to(a, batch[i].chunk, batch[i].first, batch[i].count, req->lazy ? CHUNK_CLEAN_LAZY : CHUNK_CLEAN_ZERO);
  }
  /* Chunks the runs just emptied (all clean now) go back in the same call. */
  bytes += purge_empty_chunks(a, req);
  if (bytes) HS_RACY_SET(a->purge_epoch, a->purge_epoch + 1);
  hs_lock_release(&a->lock);
  return bytes;
}

size_t arena_dirty_bytes(void) {
  size_t pages = 0;
  for (unsigned i = 0; i < hs_arena_count; i++) pages += __atomic_load_n(&hs_arenas[i].dirty_pages, __ATOMIC_RELAXED);
  return pages << HS_PAGE_SHIFT;
}

void arena_snapshot(struct arena *a, struct arena_snapshot *out) {
  hs_lock_acquire(&a->lock);
  out->stats = a->stats;
  out->stats.returned_calls = __atomic_load_n(&a->stats.returned_calls, __ATOMIC_RELAXED);
  out->stats.returned_bytes = __atomic_load_n(&a->stats.returned_bytes, __ATOMIC_RELAXED);
  out->chunk_pages = a->chunk_pages;
  out->free_pages = a->free_pages;
  out->dirty_pages = a->dirty_pages;
  out->threads = __atomic_load_n(&a->threads, __ATOMIC_RELAXED);
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    const struct arena_class *ac = &a->cls[c];
    out->cls[c].slabs = ac->slabs;
    out->cls[c].empty_slabs = ac->nempty;
    out->cls[c].out = (size_t)(ac->nmalloc - ac->nfree);
    out->cls[c].nmalloc = ac->nmalloc;
    out->cls[c].nfree = ac->nfree;
  }
  hs_lock_release(&a->lock);
}

bool arena_prefork(bool try_only) {
  unsigned taken = 0;
  while (taken < hs_arena_count && hs_lock_prefork(&hs_arenas[taken].lock, try_only)) taken++;
  if (taken == hs_arena_count && hs_lock_prefork(&source.lock, try_only)) return true;
  while (taken-- > 0) hs_lock_drop_for_fork(&hs_arenas[taken].lock);
  return false;
}

void arena_postfork_parent(void) {
  bool retire = hs_conf.fork_fresh && hs_conf.fork_settle_ms != 0;
  uint64_t due = retire && hs_conf.fork_settle_ms > 0 ? os_now_ms() + (uint64_t)hs_conf.fork_settle_ms : 0;
  for (unsigned i = 0; i < hs_arena_count; i++) {
    if (retire) retire_all(&hs_arenas[i]);
    else HS_RACY_SET(hs_arenas[i].generation, hs_arenas[i].generation + 1);
    hs_arenas[i].settle_ms = due;
  }
  hs_lock_drop_for_fork(&source.lock);
  for (unsigned i = hs_arena_count; i-- > 0;) hs_lock_drop_for_fork(&hs_arenas[i].lock);
}

void arena_postfork_child(void) {
  hs_lock_reset(&source.lock);
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena *a = &hs_arenas[i];
    hs_lock_reset(&a->lock);
    a->settle_ms = 0;
    if (hs_conf.fork_fresh) retire_all(a);
    else HS_RACY_SET(a->generation, a->generation + 1);
  }
}

unsigned arena_fork_generation(int *retired) {
  *retired = 0;
  for (unsigned i = 0; i < hs_arena_count; i++)
    if (__atomic_load_n(&hs_arenas[i].fresh_from, __ATOMIC_RELAXED)) *retired = 1;
  return hs_arena_count ? __atomic_load_n(&hs_arenas[0].generation, __ATOMIC_RELAXED) : 0;
}

void arena_settle_all(void) {
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena *a = &hs_arenas[i];
    hs_lock_acquire(&a->lock);
    settle(a);
    hs_lock_release(&a->lock);
  }
}
