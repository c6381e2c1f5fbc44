/* arena: see arena.h. */
#include "arena.h"

#include <errno.h>
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
/* Fully free slabs each class keeps for reuse before giving pages back. */
#define ARENA_KEEP_EMPTY_SLABS 1
/* Fully free chunks an arena keeps warm (not purged) before giving them back. */
#define ARENA_KEEP_EMPTY_CHUNKS 1

struct arena hs_arenas[ARENA_MAX];
unsigned hs_arena_count;

/* The global chunk source. Protected by its lock; taken after arena locks. */
static struct {
  hs_lock lock;
  char *next;                     /* next uncarved chunk of the reservation */
  char *end;                      /* end of the reservation */
  struct arena_chunk *free_list;  /* purged chunks ready for reuse */
  size_t free_count;
  size_t chunks_in_use;           /* chunks owned by arenas */
  size_t next_reservation;        /* size of the next reservation to try */
} source = {.lock = HS_LOCK_INIT, .next_reservation = RESERVATION_MIN};

static inline struct arena_chunk *chunk_of_slab(const struct slab *s) {
  return (struct arena_chunk *)s->chunk;
}

/* ---- the chunk source ---------------------------------------------------- */

/* Whether a chunk handed out now should be backed by huge pages. */
static bool chunk_wants_hugepages(void) {
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
  size_t first = os_address_space_limited() ? HS_CHUNK : source.next_reservation;
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

/* A committed, zero-or-purged chunk with a descriptor, or NULL + ENOMEM. */
static struct arena_chunk *chunk_obtain(void) {
  hs_lock_acquire(&source.lock);
  struct arena_chunk *c = source.free_list;
  if (c) {
    source.free_list = c->next;
    source.free_count--;
  } else {
    if (source.next == source.end && !source_grow()) goto fail;
    c = meta_alloc(sizeof *c);
    if (!c) goto fail;
    if (!os_commit(source.next, HS_CHUNK)) {
      hs_lock_release(&source.lock);
      meta_free(c, sizeof *c);
      errno = ENOMEM;
      return NULL;
    }
    c->base = (uintptr_t)source.next;
    source.next += HS_CHUNK;
  }
  source.chunks_in_use++;
  bool huge = chunk_wants_hugepages();
  hs_lock_release(&source.lock);
  os_hugepage((void *)c->base, HS_CHUNK, huge);
  memset(c->map.page_slab, 0, sizeof c->map.page_slab);
  for (unsigned i = 0; i < HS_CHUNK_PAGES; i++) c->map.page_word[i] = slab_page_word(NULL);
  for (unsigned w = 0; w < HS_CHUNK_PAGES / 64; w++) c->free_pages[w] = ~(uint64_t)0;
  c->nfree_pages = HS_CHUNK_PAGES;
  c->kept_empty = 0;
  c->prev = c->next = NULL;
  return c;
fail:
  hs_lock_release(&source.lock);
  errno = ENOMEM;
  return NULL;
}

/* Give a fully free chunk back: its address out of the chunk map, its pages
 * to the kernel, its descriptor to the source's free list (or, under an
 * address-space limit, the whole chunk unmapped and its descriptor freed). */
static void chunk_return(struct arena_chunk *c) {
  chunkmap_set((void *)c->base, HS_CHUNK, 0);
  c->map.arena = NULL;
  if (os_address_space_limited()) {
    os_release((void *)c->base, HS_CHUNK);
    meta_free(c, sizeof *c);
    hs_lock_acquire(&source.lock);
    source.chunks_in_use--;
    hs_lock_release(&source.lock);
    return;
  }
  os_purge((void *)c->base, HS_CHUNK);
  hs_lock_acquire(&source.lock);
  c->next = source.free_list;
  source.free_list = c;
  source.free_count++;
  source.chunks_in_use--;
  hs_lock_release(&source.lock);
}

size_t arena_source_cached_bytes(void) {
  hs_lock_acquire(&source.lock);
  size_t n = source.free_count * HS_CHUNK;
  hs_lock_release(&source.lock);
  return n;
}

/* ---- pages inside chunks (arena lock held) -------------------------------- */

/* First page index >= from whose free bit equals `want_free`, or HS_CHUNK_PAGES. */
static unsigned next_page(const struct arena_chunk *c, unsigned from, bool want_free) {
  while (from < HS_CHUNK_PAGES) {
    unsigned w = from >> 6;
    uint64_t bits = want_free ? c->free_pages[w] : ~c->free_pages[w];
    bits &= ~(uint64_t)0 << (from & 63);
    if (bits) return (w << 6) + (unsigned)__builtin_ctzll(bits);
    from = (w + 1) << 6;
  }
  return HS_CHUNK_PAGES;
}

/* Lowest run of `count` free pages starting at a multiple of `align_pages`. */
static int chunk_find_run(const struct arena_chunk *c, unsigned count, unsigned align_pages) {
  if (c->nfree_pages < count) return -1;
  unsigned i = 0;
  for (;;) {
    i = next_page(c, i, true);
    i = (unsigned)HS_ALIGN_UP(i, align_pages);
    if (i + count > HS_CHUNK_PAGES) return -1;
    unsigned used = next_page(c, i, false);
    if (used >= i + count) return (int)i;
    i = used + 1;
  }
}

static void mark_pages(struct arena_chunk *c, unsigned first, unsigned count, bool free) {
  for (unsigned i = first; i < first + count; i++) {
    if (free) c->free_pages[i >> 6] |= (uint64_t)1 << (i & 63);
    else c->free_pages[i >> 6] &= ~((uint64_t)1 << (i & 63));
  }
  if (free) c->nfree_pages = (uint16_t)(c->nfree_pages + count);
  else c->nfree_pages = (uint16_t)(c->nfree_pages - count);
}

static void chunk_list_insert(struct arena *a, struct arena_chunk *c) {
  struct arena_chunk **link = &a->chunks, *prev = NULL;
  while (*link && (*link)->base < c->base) {
    prev = *link;
    link = &(*link)->next;
  }
  c->prev = prev;
  c->next = *link;
  if (*link) (*link)->prev = c;
  *link = c;
}

static void chunk_list_remove(struct arena *a, struct arena_chunk *c) {
  if (c->prev) c->prev->next = c->next;
  else a->chunks = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* Take `count` pages aligned to `align_pages` from the lowest chunk that has
 * them, or a new chunk. Returns the chunk and sets *first; NULL + ENOMEM. */
static struct arena_chunk *take_pages(struct arena *a, unsigned count, unsigned align_pages,
                                      unsigned *first) {
  struct arena_chunk *c;
  int at = -1;
  for (c = a->chunks; c; c = c->next)
    if ((at = chunk_find_run(c, count, align_pages)) >= 0) break;
  if (!c) {
    c = chunk_obtain();
    if (!c) return NULL;
    c->map.arena = a;
    chunkmap_set((void *)c->base, HS_CHUNK, (uintptr_t)c);
    chunk_list_insert(a, c);
    a->stats.chunk_bytes += HS_CHUNK;
    at = 0;
  }
  if (c->kept_empty) {
    c->kept_empty = 0;
    a->empty_chunks--;
  }
  mark_pages(c, (unsigned)at, count, false);
  *first = (unsigned)at;
  return c;
}

/* Pages [first, first+count) of c now belong to s (or to nothing: NULL). */
static void map_pages(struct arena_chunk *c, unsigned first, unsigned count, struct slab *s) {
  uint64_t word = slab_page_word(s);
  for (unsigned i = first; i < first + count; i++) {
    c->map.page_word[i] = word;
    c->map.page_slab[i] = s;
  }
}

/* Pages [first, first+count) of c are no longer in any slab or run. */
static void release_pages(struct arena *a, struct arena_chunk *c, unsigned first, unsigned count) {
  map_pages(c, first, count, NULL);
  mark_pages(c, first, count, true);
  if (c->nfree_pages < HS_CHUNK_PAGES) return;
  if (a->empty_chunks < ARENA_KEEP_EMPTY_CHUNKS) {
    c->kept_empty = 1;
    a->empty_chunks++;
    return;
  }
  chunk_list_remove(a, c);
  a->stats.chunk_bytes -= HS_CHUNK;
  chunk_return(c);
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

static void slab_unlist(struct arena *a, struct slab *s) {
  struct arena_class *ac = &a->cls[s->cls];
  if (s->list == SLAB_LIST_PARTIAL) list_remove(&ac->partial, s);
  else if (s->list == SLAB_LIST_EMPTY) {
    list_remove(&ac->empty, s);
    ac->nempty--;
  }
  s->list = SLAB_LIST_NONE;
}

static void slab_release(struct arena *a, struct slab *s) {
  slab_unlist(a, s);
  release_pages(a, chunk_of_slab(s), s->first_page, s->pages);
  a->stats.slabs--;
  meta_free(s, slab_desc_size(s->slots));
}

/* A slab of class cls with free slots, not on any list; NULL + ENOMEM. */
static struct slab *slab_create(struct arena *a, unsigned cls) {
  struct arena_class *ac = &a->cls[cls];
  if (ac->empty) {
    struct slab *s = ac->empty;
    slab_unlist(a, s);
    return s;
  }
  const struct sizeclass_info *ci = &sizeclass_table[cls];
  struct slab *s = meta_alloc(slab_desc_size(ci->slots));
  if (!s) return NULL;
  unsigned first;
  struct arena_chunk *c = take_pages(a, ci->pages, 1, &first);
  if (!c) {
    meta_free(s, slab_desc_size(ci->slots));
    return NULL;
  }
  slab_init(s, &c->map, c->base + ((uintptr_t)first << HS_PAGE_SHIFT), first, ci->pages, cls,
            ci->size, ci->magic, ci->slots);
  s->arena = a;
  s->generation = a->generation;
  map_pages(c, first, ci->pages, s);
  a->stats.slabs++;
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
}

unsigned arena_refill(struct arena *a, unsigned cls, struct slot_ref *out, unsigned want) {
  struct arena_class *ac = &a->cls[cls];
  unsigned n = 0;
  hs_lock_acquire(&a->lock);
  while (n < want) {
    struct slab *s = ac->partial;
    if (!s) {
      s = slab_create(a, cls);
      if (!s) break;
      list_push_tail(&ac->partial, s);
      s->list = SLAB_LIST_PARTIAL;
    }
    n += slab_take(s, out + n, want - n);
    if (s->nfree == 0) slab_unlist(a, s);
  }
  a->stats.small_out_bytes += (size_t)n * sizeclass_table[cls].size;
  hs_lock_release(&a->lock);
  if (n == 0) errno = ENOMEM;
  return n;
}

/* Put slot idx of s back (arena lock held). */
static void put_slot(struct arena *a, struct slab *s, uint32_t idx) {
  if (unlikely(slab_bit_free(s, idx))) os_fatal("internal error: slot already free in its slab");
  slab_put(s, idx);
  a->stats.small_out_bytes -= s->size;
  bool retired = s->generation != a->generation;
  struct arena_class *ac = &a->cls[s->cls];
  if (s->nfree == s->slots) {
    if (!retired && ac->nempty < ARENA_KEEP_EMPTY_SLABS) {
      slab_unlist(a, s);
      list_push_tail(&ac->empty, s);
      s->list = SLAB_LIST_EMPTY;
      ac->nempty++;
    } else {
      slab_release(a, s);
    }
  } else if (s->list == SLAB_LIST_NONE && !retired) {
    list_push_tail(&ac->partial, s);
    s->list = SLAB_LIST_PARTIAL;
  }
}

void arena_flush_batch(const struct slot_ref *refs, unsigned n) {
  struct arena *held = NULL;
  for (unsigned i = 0; i < n; i++) {
    struct slab *s = slab_of(refs[i].ptr);
    struct arena *a = s->arena;
    if (a != held) {
      if (held) hs_lock_release(&held->lock);
      hs_lock_acquire(&a->lock);
      held = a;
    }
    put_slot(a, s, (uint32_t)(refs[i].state - s->state));
  }
  if (held) hs_lock_release(&held->lock);
}

void *arena_alloc_large(struct arena *a, size_t size, size_t align) {
  size_t pages = size ? (size + HS_PAGE - 1) >> HS_PAGE_SHIFT : 1;
  size_t align_pages = align > HS_PAGE ? align >> HS_PAGE_SHIFT : 1;
  if (pages + align_pages - 1 > HS_CHUNK_PAGES) {
    errno = ENOMEM;
    return NULL;
  }
  struct slab *s = meta_alloc(slab_desc_size(1));
  if (!s) return NULL;
  hs_lock_acquire(&a->lock);
  unsigned first;
  struct arena_chunk *c = take_pages(a, (unsigned)pages, (unsigned)align_pages, &first);
  if (!c) {
    hs_lock_release(&a->lock);
    meta_free(s, slab_desc_size(1));
    errno = ENOMEM;
    return NULL;
  }
  slab_init(s, &c->map, c->base + ((uintptr_t)first << HS_PAGE_SHIFT), first, (unsigned)pages,
            SIZECLASS_LARGE, (uint32_t)(pages << HS_PAGE_SHIFT), 0, 1);
  s->arena = a;
  s->generation = a->generation;
  s->aligned_run = align_pages > 1;
  struct slot_ref ref;
  slab_take(s, &ref, 1);
  *ref.state = SLOT_LIVE;
  map_pages(c, first, (unsigned)pages, s);
  a->stats.large_bytes += s->size;
  a->stats.large_count++;
  a->stats.slabs++;
  hs_lock_release(&a->lock);
  return ref.ptr;
}

bool arena_resize_large(struct slab *s, size_t size) {
  unsigned pages = (unsigned)((size + HS_PAGE - 1) >> HS_PAGE_SHIFT);
  struct arena *a = s->arena;
  struct arena_chunk *c = chunk_of_slab(s);
  unsigned first = s->first_page, end = first + s->pages;
  bool ok = true;
  hs_lock_acquire(&a->lock);
  if (pages < s->pages) {
    map_pages(c, first + pages, end - (first + pages), NULL);
    mark_pages(c, first + pages, end - (first + pages), true);
  } else if (pages > s->pages) {
    ok = first + pages <= HS_CHUNK_PAGES && next_page(c, end, false) >= first + pages;
    if (ok) {
      mark_pages(c, end, first + pages - end, false);
      map_pages(c, end, first + pages - end, s);
    }
  }
  if (ok && pages != s->pages) {
    size_t old = s->size;
    s->pages = (uint16_t)pages;
    c->map.run[first].pages = (uint16_t)pages;
    s->size = (uint32_t)((size_t)pages << HS_PAGE_SHIFT);
    a->stats.large_bytes = a->stats.large_bytes - old + s->size;
  }
  hs_lock_release(&a->lock);
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
}

size_t arena_trim(struct arena *a) {
  size_t released = 0;
  hs_lock_acquire(&a->lock);
  for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++) {
    struct arena_class *ac = &a->cls[cls];
    while (ac->empty) {
      released += (size_t)ac->empty->pages << HS_PAGE_SHIFT;
      slab_release(a, ac->empty);
    }
  }
  struct arena_chunk *c = a->chunks;
  while (c) {
    struct arena_chunk *next = c->next;
    if (c->nfree_pages == HS_CHUNK_PAGES) {
      if (c->kept_empty) a->empty_chunks--;
      chunk_list_remove(a, c);
      a->stats.chunk_bytes -= HS_CHUNK;
      chunk_return(c);
      released += HS_CHUNK;
    } else {
      unsigned i = 0;
      while ((i = next_page(c, i, true)) < HS_CHUNK_PAGES) {
        unsigned end = next_page(c, i, false);
        os_purge((void *)(c->base + ((uintptr_t)i << HS_PAGE_SHIFT)), (size_t)(end - i) << HS_PAGE_SHIFT);
        released += (size_t)(end - i) << HS_PAGE_SHIFT;
        i = end;
      }
    }
    c = next;
  }
  hs_lock_release(&a->lock);
  return released;
}

void arena_stats_sum(struct arena_stats *out) {
  memset(out, 0, sizeof *out);
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena *a = &hs_arenas[i];
    hs_lock_acquire(&a->lock);
    out->small_out_bytes += a->stats.small_out_bytes;
    out->large_bytes += a->stats.large_bytes;
    out->large_count += a->stats.large_count;
    out->chunk_bytes += a->stats.chunk_bytes;
    out->slabs += a->stats.slabs;
    hs_lock_release(&a->lock);
  }
}

bool arena_prefork(bool try_only) {
  unsigned taken = 0;
  while (taken < hs_arena_count && hs_lock_prefork(&hs_arenas[taken].lock, try_only)) taken++;
  if (taken == hs_arena_count && hs_lock_prefork(&source.lock, try_only)) return true;
  while (taken-- > 0) hs_lock_drop_for_fork(&hs_arenas[taken].lock);
  return false;
}

void arena_postfork_parent(void) {
  hs_lock_drop_for_fork(&source.lock);
  for (unsigned i = hs_arena_count; i-- > 0;) hs_lock_drop_for_fork(&hs_arenas[i].lock);
}

void arena_postfork_child(void) {
  hs_lock_reset(&source.lock);
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena *a = &hs_arenas[i];
    hs_lock_reset(&a->lock);
    a->generation++;
    for (unsigned cls = 0; cls < SIZECLASS_SMALL; cls++) {
      struct arena_class *ac = &a->cls[cls];
      while (ac->partial) slab_unlist(a, ac->partial);
      /* Empty slabs hold no live data: they stay reusable in the child. */
      if (ac->empty) {
        struct slab *s = ac->empty;
        do {
          s->generation = a->generation;
          s = s->next;
        } while (s != ac->empty);
      }
    }
  }
}
