/* The allocator's mutex.
 *
 * A pthread mutex that spins briefly before it sleeps (lock.c). While
 * fork() holds every allocator lock (between the prepare and parent/child
 * handlers in fork.c), the forking thread itself passes straight through: an
 * atfork handler registered before ours runs after our prepare handler and
 * may allocate (test/fork/atfork.c). Only slow paths lock, so the extra
 * check costs nothing on the fast path. */
#ifndef HS_LOCK_H
#define HS_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include "compiler.h"

typedef struct hs_lock {
  pthread_mutex_t mutex;
} hs_lock;

#define HS_LOCK_INIT { PTHREAD_MUTEX_INITIALIZER }

/* Set by fork.c's prepare handler once it holds every lock (the owner
 * first, then active with release); cleared by the parent and child handlers
 * (active first, then the owner back to 0). A thread that reads active with
 * acquire and finds it set reads the owner that set it, never a stale one. */
extern pthread_t hs_fork_owner HS_HIDDEN;
extern int hs_fork_active HS_HIDDEN;

HS_INLINE int hs_lock_bypassed(void) {
  return unlikely(__atomic_load_n(&hs_fork_active, __ATOMIC_ACQUIRE)) &&
         pthread_equal(__atomic_load_n(&hs_fork_owner, __ATOMIC_RELAXED), pthread_self());
}

/* Spins of hs_lock_acquire before it sleeps: a slow path holds a lock for
 * well under a microsecond, so a thread that finds it taken (a remote free's
 * batch meeting its owner's refill) gets it sooner by waiting on the CPU than
 * by sleeping in the kernel and being woken, two system calls per handoff
 * (cross_thread spent a third of its time in futex calls). Bounded, so a
 * holder that was descheduled costs a few microseconds of spinning at most. */
#define HS_LOCK_SPINS 100

HS_NOINLINE void hs_lock_acquire_slow(hs_lock *l);

HS_INLINE void hs_lock_acquire(hs_lock *l) {
  if (hs_lock_bypassed()) return;
  if (unlikely(pthread_mutex_trylock(&l->mutex) != 0)) hs_lock_acquire_slow(l);
}

HS_INLINE void hs_lock_release(hs_lock *l) {
  if (hs_lock_bypassed()) return;
  pthread_mutex_unlock(&l->mutex);
}

/* fork.c only: take/drop regardless of the bypass, and reset in the child. */
HS_INLINE void hs_lock_take_for_fork(hs_lock *l) { pthread_mutex_lock(&l->mutex); }
HS_INLINE bool hs_lock_try_for_fork(hs_lock *l) { return pthread_mutex_trylock(&l->mutex) == 0; }
/* A layer's prefork step for one lock: take it, or with try_only only try
 * (false, nothing held, when it is busy). */
HS_INLINE bool hs_lock_prefork(hs_lock *l, bool try_only) {
  if (try_only) return hs_lock_try_for_fork(l);
  hs_lock_take_for_fork(l);
  return true;
}
HS_INLINE void hs_lock_drop_for_fork(hs_lock *l) { pthread_mutex_unlock(&l->mutex); }
HS_INLINE void hs_lock_reset(hs_lock *l) { pthread_mutex_init(&l->mutex, NULL); }

#endif
