/* valgrind: see valgrind.h. */
#include "valgrind.h"

#include <errno.h>
#include <stdint.h>
#include "chunk.h"
#include "chunkmap.h"
#include "compiler.h"
#include "huge.h"
#include "lock.h"
#include "memcheck.h"
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
  struct quarantined ring[VALGRIND_QUARANTINE_BLOCKS];
} quarantine = {.lock = HS_LOCK_INIT}; /* .bss: touched only under Valgrind */

static void quarantine_release(const struct quarantined *q) {
  if (q->run) arena_free_large(q->run);
  else arena_flush_batch(&q->slot, 1);
}

void valgrind_quarantine(const struct slot_ref *slot, struct slab *run, size_t bytes) {
  if (slot) *slot->state = SLOT_FREE;
  else *run->state = SLOT_FREE;
  struct quarantined in = {.slot = slot ? *slot : (struct slot_ref){NULL, NULL}, .run = run, .bytes = bytes};
  hs_lock_acquire(&quarantine.lock);
  unsigned tail = (quarantine.head + quarantine.count) % VALGRIND_QUARANTINE_BLOCKS;
  if (quarantine.count == VALGRIND_QUARANTINE_BLOCKS) {
    /* Full: the oldest goes out in the new one's place. */
    struct quarantined out = quarantine.ring[quarantine.head];
    quarantine.ring[quarantine.head] = in;
    quarantine.head = (quarantine.head + 1) % VALGRIND_QUARANTINE_BLOCKS;
    quarantine.bytes += bytes - out.bytes;
    in = out;
  } else {
    quarantine.ring[tail] = in;
    quarantine.count++;
    quarantine.bytes += bytes;
    in.bytes = 0;
  }
  for (;;) {
    if (in.bytes) {
      hs_lock_release(&quarantine.lock);
      quarantine_release(&in);
      hs_lock_acquire(&quarantine.lock);
    }
    if (quarantine.bytes <= VALGRIND_QUARANTINE_BYTES || quarantine.count <= 1) break;
    in = quarantine.ring[quarantine.head];
    quarantine.head = (quarantine.head + 1) % VALGRIND_QUARANTINE_BLOCKS;
    quarantine.count--;
    quarantine.bytes -= in.bytes;
  }
  hs_lock_release(&quarantine.lock);
}

size_t valgrind_quarantined_bytes(void) {
  hs_lock_acquire(&quarantine.lock);
  size_t bytes = quarantine.bytes;
  hs_lock_release(&quarantine.lock);
  return bytes;
}

bool valgrind_prefork(bool try_only) { return hs_lock_prefork(&quarantine.lock, try_only); }
void valgrind_postfork_parent(void) { hs_lock_drop_for_fork(&quarantine.lock); }
void valgrind_postfork_child(void) { hs_lock_reset(&quarantine.lock); }

size_t valgrind_class_align(unsigned cls) {
  size_t size = sizeclass_size(cls);
  size_t align = size & -size;
  return align < HS_PAGE ? align : HS_PAGE;
}

#if HS_MEMCHECK
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed) {
  *zeroed = false;
  if (n > PTRDIFF_MAX - MEMCHECK_TAIL) {
    errno = ENOMEM;
    return NULL;
  }
  size_t want = n + MEMCHECK_TAIL;
  void *p;
  size_t usable;
  uint8_t *state = NULL;
  unsigned cls = align <= HS_PAGE ? sizeclass_aligned(want, align) : SIZECLASS_SMALL;
  if (cls < SIZECLASS_SMALL) {
    struct slot_ref r;
    if (arena_refill(a, cls, &r, 1) == 0) return NULL;
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
  if (state) *state = SLOT_MEMCHECK;
  memcheck_block_new(p, n, usable, *zeroed);
  return p;
}
#else
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed) {
  (void)a;
  (void)n;
  (void)align;
  *zeroed = false;
  errno = ENOMEM;
  return NULL;
}
#endif
