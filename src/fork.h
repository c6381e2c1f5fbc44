/* fork: the pthread_atfork handlers (init.c registers them, before it
 * publishes the allocator as ready).
 *
 * With other threads alive, prepare takes glibc's stdio list lock (as glibc's
 * own malloc does), then every allocator lock in the one global order
 * (thread-cache list, arenas by index, chunk source, huge cache, meta), and
 * then lets the forking thread through them (lock.h), so atfork handlers
 * registered around ours may allocate. In the child every lock is reset,
 * partially used slabs are retired so the child's allocations go to fresh
 * slabs (the parent's pages stay shared), and the caches of threads that do
 * not exist in the child are dropped.
 *
 * In a single-threaded process (glibc's __libc_single_threaded) nobody else
 * can hold a lock, so one that is held was taken by this very thread, which a
 * signal handler calling fork() interrupted (glibc's tst-mallocfork2). There
 * prepare only tries each lock: if all are free it proceeds as above; if one
 * is busy it takes none and the child inherits the heap as the interrupted
 * code left it, to be finished when the handler returns, exactly like
 * glibc, whose fork() skips its malloc locks when single-threaded. Handlers
 * nest (a fork from a handler that interrupted fork()): each invocation
 * records what it took, and the parent/child handlers undo the latest. */
#ifndef HS_FORK_H
#define HS_FORK_H

void fork_prepare(void);
void fork_parent(void);
void fork_child(void);

/* In a forked child: the bytes of chunks and huge blocks it inherited at its
 * latest fork (0 in a process that was not forked). */
#include <stddef.h>
size_t fork_inherited_bytes(void);

#endif
