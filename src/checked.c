/* checked: see checked.h. */
#include "checked.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "chunk.h"
#include "chunkmap.h"
#include "compiler.h"
#include "config.h"
#include "huge.h"
#include "lock.h"
#include "memcheck.h"
#include "meta.h"
#include "os.h"
#include "sizeclass.h"
#include "slab.h"

/* A block in a quarantine. */
struct quarantined {
  struct slot_ref slot; /* a small slot, or {NULL, NULL} */
  struct slab *run;     /* a page run, or NULL */
  uint32_t bytes;       /* its usable size (at most SIZECLASS_LARGE_MAX) */
  uint16_t cls;         /* a slot's class */
  uint16_t arena;       /* a slot's arena (index in hs_arenas) */
};

/* Hardened mode's per-thread state, so that most calls take no lock: a
 * stash per class of free slots to pick from at random, once the thread has
 * used the class CHECKED_STASH_AFTER times (refilled from the
 * thread's arena CHECKED_STASH_REFILL at a time when fewer than
 * CHECKED_CHOICE are left, so a pick is always among CHECKED_CHOICE or
 * more), and a quarantine of the blocks the thread freed, whose oldest go
 * back QUARANTINE_RELEASE_BATCH at a time: slots of the thread's arena into
 * the stash (still zeroed: the write-after-free check reads them when they
 * are handed out), the others to their arenas. Owned by its thread; the
 * registry (below) lets the stats read the counts, racily. Threads without
 * one (before their cache exists, after their exit, memcheck) use the
 * shared quarantine. */
#define CHECKED_STASH_CAP 16
/* A class's stash starts after this many allocations of it by the thread:
 * a thread that uses a class a little holds none of its slots (100 threads
 * that each allocate one block a class must not each take a refill of
 * every class), the way a thread cache's refills start small. */
#define CHECKED_STASH_AFTER 16
#define CHECKED_STASH_REFILL 12
#define THREAD_QUARANTINE_BLOCKS 1024
#define THREAD_QUARANTINE_BYTES ((size_t)4 << 20)
struct checked_thread {
  struct checked_thread *prev, *next; /* the registry; under registry_lock */
  struct arena *arena;                /* where the stash's slots come from */
  size_t qbytes;                      /* written by the thread, read by the stats */
  unsigned qhead, qcount;             /* ring[qhead] is the oldest */
  uint8_t stash_count[SIZECLASS_SMALL];
  uint8_t uses[SIZECLASS_SMALL];      /* allocations of the class, up to CHECKED_STASH_AFTER */
  struct slot_ref stash[SIZECLASS_SMALL][CHECKED_STASH_CAP];
  struct quarantined ring[THREAD_QUARANTINE_BLOCKS];
};
_Static_assert(CHECKED_STASH_CAP >= CHECKED_STASH_REFILL && CHECKED_STASH_REFILL > CHECKED_CHOICE,
               "a refill leaves more than CHECKED_CHOICE to pick from");
_Static_assert(ARENA_MAX <= 65536 && SIZECLASS_LARGE_MAX <= UINT32_MAX, "a quarantined entry's fields fit");

#define CHECKED_THREAD_DEAD ((struct checked_thread *)1)
static HS_TLS struct checked_thread *checked_tls; /* NULL: none yet */
static hs_lock registry_lock = HS_LOCK_INIT;
static struct checked_thread *registry;

/* The shared quarantine: a FIFO ring, protected by its lock, which is never
 * held while another allocator lock is taken (blocks leave it after unlock). */
static struct {
  hs_lock lock;
  unsigned head, count; /* ring[head] is the oldest */
  size_t bytes;
  struct quarantined ring[CHECKED_QUARANTINE_BLOCKS];
} quarantine = {.lock = HS_LOCK_INIT}; /* .bss: touched only in a checking mode */

/* Blocks that left the quarantine go back a batch at a time: the small
 * slots in one arena_flush_batch (a lock round per owning arena, not per
 * block), the page runs one by one. */
#define QUARANTINE_RELEASE_BATCH 32

static void quarantine_release(const struct quarantined *out, unsigned n) {
  struct slot_ref slots[QUARANTINE_RELEASE_BATCH];
  unsigned nslots = 0;
  for (unsigned i = 0; i < n; i++) {
    if (out[i].run) arena_free_large(out[i].run);
    else slots[nslots++] = out[i].slot;
  }
  if (nslots) arena_flush_batch(slots, nslots);
}

static void thread_quarantine(struct checked_thread *t, const struct quarantined *in);

void checked_quarantine(const struct slot_ref *slot, struct slab *run, size_t bytes, const struct arena *a,
                        unsigned cls) {
  if (slot) *slot->state = SLOT_FREE;
  else *run->state = SLOT_FREE;
  struct quarantined in = {.slot = slot ? *slot : (struct slot_ref){NULL, NULL},
                           .run = run,
                           .bytes = (uint32_t)bytes,
                           .cls = (uint16_t)(slot ? cls : 0),
                           .arena = (uint16_t)(slot ? (size_t)(a - hs_arenas) : 0)};
  struct checked_thread *t = checked_tls;
  if (t && t != CHECKED_THREAD_DEAD) {
    thread_quarantine(t, &in);
    return;
  }
  struct quarantined out[QUARANTINE_RELEASE_BATCH];
  hs_lock_acquire(&quarantine.lock);
  /* Over a bound with the new block: the oldest go first, in batches, so
   * the new one always stays. */
  while (quarantine.count > 0 && (quarantine.count == CHECKED_QUARANTINE_BLOCKS ||
                                  quarantine.bytes + bytes > CHECKED_QUARANTINE_BYTES)) {
    unsigned n = 0;
    while (n < QUARANTINE_RELEASE_BATCH && quarantine.count > 0) {
      out[n] = quarantine.ring[quarantine.head];
      quarantine.head = (quarantine.head + 1) % CHECKED_QUARANTINE_BLOCKS;
      quarantine.count--;
      quarantine.bytes -= out[n].bytes;
      n++;
    }
    hs_lock_release(&quarantine.lock);
    quarantine_release(out, n);
    hs_lock_acquire(&quarantine.lock);
  }
  quarantine.ring[(quarantine.head + quarantine.count) % CHECKED_QUARANTINE_BLOCKS] = in;
  quarantine.count++;
  quarantine.bytes += bytes;
  hs_lock_release(&quarantine.lock);
}

size_t checked_quarantined_bytes(void) {
  hs_lock_acquire(&quarantine.lock);
  size_t bytes = quarantine.bytes;
  hs_lock_release(&quarantine.lock);
  hs_lock_acquire(&registry_lock);
  for (struct checked_thread *t = registry; t; t = t->next) bytes += __atomic_load_n(&t->qbytes, __ATOMIC_RELAXED);
  hs_lock_release(&registry_lock);
  return bytes;
}

void checked_stashed(const struct arena *a, size_t slots[SIZECLASS_SMALL]) {
  hs_lock_acquire(&registry_lock);
  for (struct checked_thread *t = registry; t; t = t->next) {
    if (t->arena != a) continue;
    for (unsigned c = 0; c < SIZECLASS_SMALL; c++) slots[c] += __atomic_load_n(&t->stash_count[c], __ATOMIC_RELAXED);
  }
  hs_lock_release(&registry_lock);
}

bool checked_prefork(bool try_only) {
  if (!hs_lock_prefork(&quarantine.lock, try_only)) return false;
  if (hs_lock_prefork(&registry_lock, try_only)) return true;
  hs_lock_drop_for_fork(&quarantine.lock);
  return false;
}

void checked_postfork_parent(void) {
  hs_lock_drop_for_fork(&registry_lock);
  hs_lock_drop_for_fork(&quarantine.lock);
}

/* ---- each thread's stash and quarantine ---- */

/* The oldest QUARANTINE_RELEASE_BATCH (or all, if fewer) of t's quarantine
 * leave it: slots of t's arena into their stash while it has room, the rest
 * to their arenas in one batch. */
static void thread_release(struct checked_thread *t) {
  unsigned n = t->qcount < QUARANTINE_RELEASE_BATCH ? t->qcount : QUARANTINE_RELEASE_BATCH;
  struct slot_ref slots[QUARANTINE_RELEASE_BATCH];
  unsigned nslots = 0;
  size_t own = (size_t)(t->arena - hs_arenas);
  for (unsigned i = 0; i < n; i++) {
    const struct quarantined *q = &t->ring[t->qhead];
    t->qhead = (t->qhead + 1) % THREAD_QUARANTINE_BLOCKS;
    t->qcount--;
    HS_RACY_SET(t->qbytes, t->qbytes - q->bytes);
    if (q->run) {
      arena_free_large(q->run);
    } else if (q->arena == own && t->stash_count[q->cls] < CHECKED_STASH_CAP) {
      t->stash[q->cls][t->stash_count[q->cls]] = q->slot;
      HS_RACY_SET(t->stash_count[q->cls], t->stash_count[q->cls] + 1);
    } else {
      slots[nslots++] = q->slot;
    }
  }
  if (nslots) arena_flush_batch(slots, nslots);
}

static void thread_quarantine(struct checked_thread *t, const struct quarantined *in) {
  while (t->qcount > 0 &&
         (t->qcount == THREAD_QUARANTINE_BLOCKS || t->qbytes + in->bytes > THREAD_QUARANTINE_BYTES))
    thread_release(t);
  t->ring[(t->qhead + t->qcount) % THREAD_QUARANTINE_BLOCKS] = *in;
  t->qcount++;
  HS_RACY_SET(t->qbytes, t->qbytes + in->bytes);
}

/* The calling thread's state, made on its first hardened allocation; NULL
 * when it has none (metadata exhausted, or after its exit). */
static struct checked_thread *thread_state(struct arena *a) {
  struct checked_thread *t = checked_tls;
  if (likely(t != NULL)) return t == CHECKED_THREAD_DEAD ? NULL : t;
  t = meta_alloc(sizeof *t);
  if (!t) return NULL;
  t->arena = a;
  hs_lock_acquire(&registry_lock);
  t->next = registry;
  if (registry) registry->prev = t;
  registry = t;
  hs_lock_release(&registry_lock);
  checked_tls = t;
  return t;
}

/* Every stashed slot back to its arena. */
static void stash_flush(struct checked_thread *t) {
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    unsigned n = t->stash_count[c];
    if (!n) continue;
    HS_RACY_SET(t->stash_count[c], 0);
    arena_flush_batch(t->stash[c], n);
  }
}

void checked_thread_flush(void) {
  struct checked_thread *t = checked_tls;
  if (t && t != CHECKED_THREAD_DEAD) stash_flush(t);
}

static void thread_unlist(struct checked_thread *t) {
  if (t->prev) t->prev->next = t->next;
  else registry = t->next;
  if (t->next) t->next->prev = t->prev;
}

void checked_thread_exit(void) {
  struct checked_thread *t = checked_tls;
  if (!t || t == CHECKED_THREAD_DEAD) return;
  checked_tls = CHECKED_THREAD_DEAD;
  /* The quarantine first: what it releases may land in the stash. */
  while (t->qcount) thread_release(t);
  stash_flush(t);
  hs_lock_acquire(&registry_lock);
  thread_unlist(t);
  hs_lock_release(&registry_lock);
  meta_free(t, sizeof *t);
}

size_t checked_class_align(unsigned cls) {
  size_t size = sizeclass_size(cls);
  size_t align = size & -size;
  return align < HS_PAGE ? align : HS_PAGE;
}

/* ---- hardened mode's checks ---- */

/* Written once by checked_init before any block exists. */
static uint64_t canary; /* every byte odd, so no byte of it is zero */
/* The slot choice's state, each thread's own (a shared one put every
 * allocation on one contended line), seeded from os_random at the thread's
 * first choice and again after a fork: a forked child bumps random_epoch. */
static HS_TLS uint64_t thread_random;
static HS_TLS unsigned thread_epoch;
static unsigned random_epoch; /* atomic */

void checked_init(void) { canary = os_random() | 0x0101010101010101ull; }

static uint64_t checked_random(void) {
  unsigned epoch = __atomic_load_n(&random_epoch, __ATOMIC_RELAXED);
  if (unlikely(thread_epoch != epoch || thread_random == 0)) {
    thread_random = os_random() | 1;
    thread_epoch = epoch;
  }
  uint64_t z = thread_random += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

HS_INLINE size_t *size_word(void *p, size_t usable) { return (size_t *)((char *)p + usable - sizeof(size_t)); }

/* Words of the program's memory, read and written by this layer alone. */
typedef uint64_t __attribute__((may_alias)) user_word;
typedef uint64_t __attribute__((vector_size(16), aligned(8), may_alias)) user_pair;

/* The canary region after a block p of n bytes: from p + n to the end of
 * the seventh word after the one holding p + n (57 to 64 bytes), or to the
 * size word when that comes first. An overflow starts at the block's end;
 * a big slot's or huge block's whole slack would cost a pass per call.
 * Blocks and slots are 16-byte aligned and their sizes multiples of 16, so
 * the region ends on a word. Its bytes are the canary word's bytes in
 * place (byte x holds byte x % 8 of the word), so a run of equal bytes
 * written over it never matches, and it is written and checked a word at a
 * time: the word that holds p + n too, under a mask that leaves the
 * block's own bytes alone. */
HS_INLINE uintptr_t canary_end(uintptr_t p, size_t n, size_t usable) {
  uintptr_t end = (uintptr_t)size_word((void *)p, usable), lo = p + n;
  uintptr_t want = (lo & ~(uintptr_t)7) + CHECKED_CANARY_MAX;
  return want < end ? want : end;
}

/* The bytes of the word at lo & ~7 that lie at or after lo. */
HS_INLINE uint64_t tail_mask(uintptr_t lo) { return ~(((uint64_t)1 << ((lo & 7) << 3)) - 1); }

static void hardened_new(void *p, size_t n, size_t usable) {
  uintptr_t lo = (uintptr_t)p + n, hi = canary_end((uintptr_t)p, n, usable);
  if (lo < hi && (lo & 7)) {
    user_word *w = (user_word *)(lo & ~(uintptr_t)7);
    uint64_t mask = tail_mask(lo);
    *w = (*w & ~mask) | (canary & mask);
    lo = (lo & ~(uintptr_t)7) + 8;
  }
  for (; lo < hi; lo += 8) *(user_word *)lo = canary;
  *size_word(p, usable) = n ^ canary;
}

/* n as recorded, or SIZE_MAX when the word or a canary byte was damaged. */
static size_t hardened_size(void *p, size_t usable) {
  size_t n = *size_word(p, usable) ^ canary;
  if (n > usable - CHECKED_TAIL) return SIZE_MAX;
  uintptr_t lo = (uintptr_t)p + n, hi = canary_end((uintptr_t)p, n, usable);
  uint64_t diff = 0;
  if (lo < hi && (lo & 7)) {
    diff = (*(const user_word *)(lo & ~(uintptr_t)7) ^ canary) & tail_mask(lo);
    lo = (lo & ~(uintptr_t)7) + 8;
  }
  for (; lo < hi; lo += 8) diff |= *(const user_word *)lo ^ canary;
  return diff ? SIZE_MAX : n;
}

/* A freed small slot or page run is all zero until it is handed out again:
 * one pass that ORs it 64 bytes at a time (SSE2 on x86-64, NEON on
 * aarch64), no branch per word. usable is a multiple of 16. Each page's
 * first word is read with a write access first (an atomic OR of 0, which
 * keeps its value): a page never touched is then faulted in writable at
 * once, where a plain read would map the shared zero page and the write
 * that follows (the canary, the program) would fault again and flush that
 * entry from every CPU running the process. */
static void check_unwritten(void *p, size_t usable) {
  uint64_t touched = 0;
  for (uintptr_t x = (uintptr_t)p, end = x + usable; x < end; x = (x & ~(uintptr_t)(HS_PAGE - 1)) + HS_PAGE)
    touched |= __atomic_fetch_or((user_word *)x, 0, __ATOMIC_RELAXED);
  const user_pair *v = p;
  size_t pairs = usable / sizeof *v, i = 0;
  user_pair a = {touched, 0}, b = {0, 0}, c = {0, 0}, d = {0, 0};
  for (; i + 4 <= pairs; i += 4) {
    a |= v[i];
    b |= v[i + 1];
    c |= v[i + 2];
    d |= v[i + 3];
  }
  for (; i < pairs; i++) a |= v[i];
  a |= b | c | d;
  if (a[0] | a[1]) os_report_pointer("malloc", "write after free", p);
}

size_t checked_block_size(void *p, size_t usable, const char *call) {
  if (!hs_conf.hardened) return memcheck_block_size(p, usable);
  size_t n = hardened_size(p, usable);
  if (n == SIZE_MAX) os_report_pointer(call, "heap overflow", p);
  return n;
}

void checked_block_free(void *p, size_t usable, bool huge, const char *call) {
  if (!hs_conf.hardened) return;
  checked_block_size(p, usable, call);
  if (!huge) memset(p, 0, usable);
}

void checked_postfork_child(bool own_consistent) {
  hs_lock_reset(&quarantine.lock);
  hs_lock_reset(&registry_lock);
  __atomic_add_fetch(&random_epoch, 1, __ATOMIC_RELAXED);
  /* As tcache_postfork_child: the other threads' stashes and quarantines
   * may have been caught mid-update, so their blocks stay out of their slabs
   * for the child's life and only the descriptors go; the forking thread's
   * stash goes back (the child then fills fresh slabs, not the pages it
   * shares), or is forgotten when the fork may have interrupted it. */
  struct checked_thread *self = checked_tls;
  for (struct checked_thread *t = registry, *next; t; t = next) {
    next = t->next;
    if (t != self) {
      thread_unlist(t);
      meta_free(t, sizeof *t);
    } else if (own_consistent) {
      stash_flush(t);
    } else {
      memset(t->stash_count, 0, sizeof t->stash_count);
      t->qcount = 0;
      t->qbytes = 0;
    }
  }
}

/* A small slot of class cls from a. In hardened mode one of the thread's
 * stash at random (at least CHECKED_CHOICE to pick from); without a stash
 * (see struct checked_thread) one of the CHECKED_CHOICE lowest free slots
 * at random, the others back at once. */
static bool take_slot(struct arena *a, unsigned cls, struct slot_ref *out) {
  struct checked_thread *t = hs_conf.hardened ? thread_state(a) : NULL;
  bool stash = t && t->arena == a;
  if (stash && t->uses[cls] < CHECKED_STASH_AFTER && !t->stash_count[cls]) {
    t->uses[cls]++;
    stash = false;
  }
  if (stash) {
    unsigned n = t->stash_count[cls];
    if (n < CHECKED_CHOICE) n += arena_refill(a, cls, t->stash[cls] + n, CHECKED_STASH_REFILL - n);
    if (n == 0) return false;
    unsigned pick = (unsigned)(checked_random() % n);
    *out = t->stash[cls][pick];
    t->stash[cls][pick] = t->stash[cls][n - 1];
    HS_RACY_SET(t->stash_count[cls], n - 1);
    return true;
  }
  struct slot_ref refs[CHECKED_CHOICE];
  unsigned got = arena_refill(a, cls, refs, hs_conf.hardened ? CHECKED_CHOICE : 1);
  if (got == 0) return false;
  unsigned pick = got > 1 ? (unsigned)(checked_random() % got) : 0;
  *out = refs[pick];
  refs[pick] = refs[got - 1];
  if (got > 1) arena_flush_batch(refs, got - 1);
  return true;
}

bool checked_resize(void *p, size_t usable, size_t n) {
  if (!hs_conf.hardened) return false;
  if (n > usable - CHECKED_TAIL || n + CHECKED_TAIL <= usable / 2) return false;
  hardened_new(p, n, usable);
  return true;
}

void *checked_alloc(struct arena *a, size_t n, size_t align, size_t room, bool *zeroed) {
  *zeroed = false;
  if (n > PTRDIFF_MAX - CHECKED_TAIL || room > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  size_t want = n + CHECKED_TAIL > room ? n + CHECKED_TAIL : room;
  void *p;
  size_t usable;
  uint8_t *state = NULL;
  unsigned cls = align <= HS_PAGE ? sizeclass_aligned(want, align) : SIZECLASS_SMALL;
  if (cls < SIZECLASS_SMALL) {
    struct slot_ref r;
    if (!take_slot(a, cls, &r)) return NULL;
    p = r.ptr;
    state = r.state;
    usable = sizeclass_size(cls);
  } else if (want <= SIZECLASS_LARGE_MAX && align < HS_CHUNK) {
    p = arena_alloc_large(a, want, align, zeroed);
    if (!p) return NULL;
    struct slab *run = chunk_slab_of(p);
    state = run->state;
    usable = run->size;
  } else {
    p = huge_alloc(want, align, zeroed);
    if (!p) return NULL;
    usable = huge_lookup(chunkmap_get(p), p)->usable;
  }
  if (state) *state = SLOT_CHECKED;
  if (hs_conf.hardened) {
    if (state) {
      check_unwritten(p, usable);
      *zeroed = true;
    }
    hardened_new(p, n, usable);
  } else {
    memcheck_block_new(p, n, usable, *zeroed);
  }
  return p;
}
