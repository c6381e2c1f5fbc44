/* init: global start-up in one place.
 *
 * hs_init() brings the layers up in order (os checks, options, size-class
 * table, arenas, the thread-cache key), registers the atfork handlers, and
 * only then publishes the allocator as ready, so a fork() racing with the
 * first allocations of other threads always runs our handlers. Any entry
 * point may be the process's first call: the api calls hs_init() on its slow
 * paths, and tcache's boot path (a thread's first malloc or free) calls it
 * before making the thread's first cache. That call goes up a layer: it is
 * the one place below api that must know start-up has happened, because the
 * first call of the process reaches it before anything else.
 *
 * Nothing here allocates with malloc. pthread_atfork may (beyond glibc's
 * static handler slots): that recursion comes from the initialising thread,
 * after every layer is up, and is served normally; other threads wait. */
#ifndef HS_INIT_H
#define HS_INIT_H

#include "compiler.h"

/* 1 once the allocator is published as ready (release store by hs_init). */
extern int hs_initialized HS_HIDDEN;

void hs_init_slow(void);

/* Initialise if no thread has yet; returns once the allocator is usable by
 * the calling thread. */
HS_INLINE void hs_init(void) {
  if (likely(__atomic_load_n(&hs_initialized, __ATOMIC_ACQUIRE))) return;
  hs_init_slow();
}

#endif
