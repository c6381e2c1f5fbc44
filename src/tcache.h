/* tcache: per-thread stacks of free slots, one per small class.
 *
 * A stack is an array of slot_refs in the thread's descriptor (from meta),
 * never a list threaded through freed blocks. The thread-local pointer starts
 * at a static cache whose stacks are all empty with capacity 0, so the first
 * malloc or free on a thread fails its fast path and initialises the thread
 * (calling init.c's hs_init first: the very first call of the process lands
 * here). At thread exit the cache
 * is flushed to the arenas and the pointer moves to a second static cache
 * that sends every call straight to the arena. Every TCACHE_GC_EVENTS
 * slow-path calls a thread's cache sheds half of each stack that has not hit
 * an end since the last pass (and starts its refills small again), so slots
 * of classes a thread stopped using go back to their slabs. And after its
 * arena gave pages back (its purge_epoch moved), the next slow-path call
 * hands every cached slot back: a heap that shrank would otherwise keep one
 * slot in each of a hundred otherwise empty slabs per class, the slots the
 * last frees of the burst left in the stacks, and the program's next blocks
 * would go there, holding those slabs and their chunks for good.
 * Ownership: a tcache and its stacks are touched only by their thread, except
 * in a forked child, where the surviving thread frees the others' descriptors. */
#ifndef HS_TCACHE_H
#define HS_TCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "arena.h"
#include "compiler.h"
#include "sizeclass.h"
#include "slab.h"

enum tcache_mode { TCACHE_BOOT, TCACHE_LIVE, TCACHE_DEAD };

/* A stack of cached slots [base, top). The fast paths test only `top`: its
 * low 16 bits equal empty_low when the stack is empty and full_low when it
 * is full (a stack spans at most 128 slot_refs, far below 64 KiB, so those
 * bits tell the ends apart). base is not stored: it is top - tcache_bin_count(). */
struct tcache_bin {
  struct slot_ref *top;
  uint16_t empty_low;      /* (uint16_t)base */
  uint16_t full_low;       /* (uint16_t)(base + cap) */
  uint16_t cap;            /* capacity; 0 in the static caches, at most
                              TCACHE_INLINE_CAP until the stack grows */
  uint16_t fill;           /* four times the slots the next refill takes:
                              starts small and doubles up to the class batch,
                              so a thread that uses a class a little holds few
                              of its slots */
};

_Static_assert(SIZECLASS_CACHE_MAX * sizeof(struct slot_ref) < 65536, "a stack's ends differ in their low 16 bits");

HS_INLINE unsigned tcache_bin_count(const struct tcache_bin *b) {
  return (uint16_t)((uint16_t)(uintptr_t)b->top - b->empty_low) / sizeof(struct slot_ref);
}

#define TCACHE_REMOTE_CAP 32
/* Capacity of a class's stack while it lives in the descriptor (see
 * tcache.c's grow_bin). */
#define TCACHE_INLINE_CAP 4

struct tcache {
  /* bins[SIZECLASS_LARGE] has capacity 0: page runs are never cached. */
  struct tcache_bin bins[SIZECLASS_SMALL + 1];
  struct arena *arena;
  /* Freed blocks of other arenas, returned to them in batches rather than
   * reused here: reusing a block another thread allocated puts two threads
   * on one cache line (false sharing). */
  unsigned nremote;
  struct slot_ref remote[TCACHE_REMOTE_CAP];
  enum tcache_mode mode;
  /* Garbage collection, all the thread's own: slow-path calls since the last
   * pass, and the classes whose stack hit an end (refill or flush) since. */
  unsigned slow_events;
  uint64_t busy_classes;
  uint32_t purge_epoch;       /* the arena's purge_epoch when the cache last
                                 handed every slot back */
  struct tcache *prev, *next; /* every live cache; protected by the list lock */
  /* Stacks moved out of `storage` when they outgrew TCACHE_INLINE_CAP, each
   * of its class's full cache_cap (from meta, freed with the cache). */
  struct slot_ref *grown[SIZECLASS_SMALL];
  size_t desc_size;
  struct slot_ref storage[];
};

extern HS_TLS struct tcache *tcache_tls HS_HIDDEN;

/* The slow half of tcache_alloc: initialises the thread, refills, or serves
 * a dead thread from its arena directly. n is the size the program asked
 * for, which only a checking mode's blocks need (checked.h). NULL + ENOMEM when
 * out of memory. */
void *tcache_alloc_slow(unsigned cls, size_t n);

/* Pop a free slot of class cls, for a request of n bytes, and mark it LIVE
 * (the malloc fast path). */
HS_INLINE void *tcache_alloc(struct tcache *tc, unsigned cls, size_t n) {
  struct tcache_bin *b = &tc->bins[cls];
  struct slot_ref *top = b->top;
  if (unlikely((uint16_t)(uintptr_t)top == b->empty_low)) return tcache_alloc_slow(cls, n);
  b->top = --top;
  *top->state = SLOT_LIVE;
  return top->ptr;
}

/* Push block p of class cls from arena `owner`, whose state byte *state the
 * caller found LIVE, marking it FREE (the free fast path). False when the
 * stack is full, the block belongs to another arena, or the thread has no
 * live cache: the caller then takes tcache_free_slow. */
HS_INLINE bool tcache_free(struct tcache *tc, const struct arena *owner, unsigned cls, void *p, uint8_t *state) {
  struct tcache_bin *b = &tc->bins[cls];
  struct slot_ref *top = b->top;
  if (unlikely((uint16_t)(uintptr_t)top == b->full_low || owner != tc->arena)) return false;
  *state = SLOT_FREE;
  top->ptr = p;
  top->state = state;
  b->top = top + 1;
  return true;
}
/* Free LIVE block p (class cls, state byte *state) of arena `owner` when
 * tcache_free could not: a first call on the thread, a dead cache, another
 * arena's block (batched back to it), or a full stack (flushed by half). */
void tcache_free_slow(struct arena *owner, unsigned cls, void *p, uint8_t *state);

/* The calling thread's arena (initialising the thread if needed). */
struct arena *tcache_arena(void);

/* Return every cached slot of the calling thread to the arenas. */
void tcache_flush_current(void);

/* What the live thread caches bound to arena `a` (NULL: all) hold: slots
 * per small class in the stacks (all of them slots of that arena: a block of
 * another arena goes to the remote batch), blocks waiting in the remote
 * batches, and the caches themselves. Read under the list lock from the
 * other threads' descriptors without their owners' help (racy counts, for
 * stats). */
void tcache_cached(const struct arena *a, size_t slots[SIZECLASS_SMALL], size_t *remote, size_t *caches);

/* Create the thread-exit key (init.c, once, before any cache exists). */
void tcache_init(void);

/* fork.c (try_only: see meta_prefork) */
bool tcache_prefork(bool try_only);
void tcache_postfork_parent(void);
/* Child: drop every other thread's cache; return the calling thread's to
 * its slabs when `own_consistent` (fork() was called, not entered from a
 * signal handler that may have interrupted this thread's cache code), else
 * forget its contents (see tcache.c). */
void tcache_postfork_child(bool own_consistent);

#endif
