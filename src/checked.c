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
#include "os.h"
#include "sizeclass.h"
#include "slab.h"

/* The quarantine: a FIFO ring, protected by its lock, which is never held
 * while another allocator lock is taken (blocks leave it after unlock). */
struct quarantined {
  struct slot_ref slot; /* a small slot, or {NULL, NULL} */
  struct slab *run;     /* a page run, or NULL */
  size_t bytes;
};
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

void checked_quarantine(const struct slot_ref *slot, struct slab *run, size_t bytes) {
  if (slot) *slot->state = SLOT_FREE;
  else *run->state = SLOT_FREE;
  struct quarantined in = {.slot = slot ? *slot : (struct slot_ref){NULL, NULL}, .run = run, .bytes = bytes};
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
  return bytes;
}

bool checked_prefork(bool try_only) { return hs_lock_prefork(&quarantine.lock, try_only); }
void checked_postfork_parent(void) { hs_lock_drop_for_fork(&quarantine.lock); }

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

/* The canary byte at address x: which byte of the word depends on x, so a
 * run of equal bytes written over the tail never matches it. */
HS_INLINE uint8_t canary_at(uintptr_t x) { return (uint8_t)(canary >> ((x & 7) << 3)); }

HS_INLINE size_t *size_word(void *p, size_t usable) { return (size_t *)((char *)p + usable - sizeof(size_t)); }

/* The end of the canary bytes after a block of n bytes: the tail, up to
 * CHECKED_CANARY_MAX bytes of it (an overflow starts at the block's end;
 * a big slot's or huge block's whole slack would cost a pass per call). */
HS_INLINE size_t canary_end(size_t n, size_t usable) {
  size_t end = usable - sizeof(size_t);
  return end - n > CHECKED_CANARY_MAX ? n + CHECKED_CANARY_MAX : end;
}

static void hardened_new(void *p, size_t n, size_t usable) {
  unsigned char *b = p;
  for (size_t i = n, end = canary_end(n, usable); i < end; i++) b[i] = canary_at((uintptr_t)(b + i));
  *size_word(p, usable) = n ^ canary;
}

/* n as recorded, or SIZE_MAX when the word or a canary byte was damaged. */
static size_t hardened_size(void *p, size_t usable) {
  size_t n = *size_word(p, usable) ^ canary;
  if (n > usable - CHECKED_TAIL) return SIZE_MAX;
  const unsigned char *b = p;
  for (size_t i = n, end = canary_end(n, usable); i < end; i++)
    if (b[i] != canary_at((uintptr_t)(b + i))) return SIZE_MAX;
  return n;
}

/* A freed small slot or page run is all zero until it is handed out again. */
static void check_unwritten(void *p, size_t usable) {
  const uint64_t *w = p;
  for (size_t i = 0; i < usable / sizeof *w; i++)
    if (w[i]) os_report_pointer("malloc", "write after free", p);
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

void checked_postfork_child(void) {
  hs_lock_reset(&quarantine.lock);
  __atomic_add_fetch(&random_epoch, 1, __ATOMIC_RELAXED);
}

/* A small slot of class cls from a: in hardened mode one of the
 * CHECKED_CHOICE lowest free slots at random, the others back at once. */
static bool take_slot(struct arena *a, unsigned cls, struct slot_ref *out) {
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
