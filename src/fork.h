/* fork: pthread_atfork handlers.
 *
 * prepare takes glibc's stdio list lock (as glibc's own malloc does), then
 * every allocator lock in the one global order (init and
 * thread-cache list, arenas by index, chunk source, huge cache, meta) and then lets the
 * forking thread through them (lock.h), so atfork handlers registered around
 * ours may allocate. In the child every lock is reset, partially used slabs
 * are retired so the child's allocations go to fresh slabs (the parent's
 * pages stay shared), and the caches of threads that do not exist in the
 * child are returned to their slabs. */
#ifndef HS_FORK_H
#define HS_FORK_H

/* Register the handlers; called once by hs_init() after the allocator works. */
void fork_init(void);

#endif
