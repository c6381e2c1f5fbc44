/* fork: see fork.h. */
#include "fork.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "arena.h"
#include "config.h"
#include "huge.h"
#include "lock.h"
#include "meta.h"
#include "pool.h"
#include "purge.h"
#include "tcache.h"
#include "checked.h"

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define FORK_SINGLE_THREADED() (__libc_single_threaded != 0)
#else
#define FORK_SINGLE_THREADED() false
#endif

pthread_t hs_fork_owner;
int hs_fork_active;

/* glibc's lock on its list of FILEs (recursive; exported since 2.2.5).
 * glibc's fork() runs the prepare handlers and only then takes this lock;
 * its own malloc locks come after it. A thread in fflush(NULL) holds it while
 * it waits for a FILE whose owner may be blocked in malloc, so taking our
 * locks first would deadlock. We take it first, as glibc's malloc does;
 * fork() takes it again recursively. Only with threads: glibc skips both
 * when single-threaded. Weak: absent outside glibc. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

/* What each pending prepare took, three bits per nesting level, the latest
 * in the low bits. Written by the forking thread between prepare and the
 * parent/child handler: while it holds the allocator locks, or while the
 * process is single-threaded. SINGLE: the process had one thread, so the
 * fork may come from a signal handler that interrupted this thread's own
 * thread-cache code (which takes no lock): the child must not trust that
 * cache's contents (tcache_postfork_child). */
#define FORK_HELD_LOCKS 1u
#define FORK_HELD_STDIO 2u
#define FORK_HELD_SINGLE 4u
#define FORK_HELD_BITS 3
static uint64_t fork_held;

/* Take every allocator lock in order; with try_only, take none unless all
 * are free. */
static bool lock_all(bool try_only) {
  if (!checked_prefork(try_only)) return false;
  if (!pool_prefork(try_only)) goto drop_checked;
  if (!tcache_prefork(try_only)) goto drop_pool;
  if (!arena_prefork(try_only)) goto drop_tcache;
  if (!huge_prefork(try_only)) goto drop_arena;
  if (!meta_prefork(try_only)) goto drop_huge;
  return true;
drop_huge:
  huge_postfork_parent();
drop_arena:
  arena_postfork_parent();
drop_tcache:
  tcache_postfork_parent();
drop_pool:
  pool_postfork_parent();
drop_checked:
  checked_postfork_parent();
  return false;
}

void fork_prepare(void) {
  unsigned held = 0;
  purge_prefork();
  if (FORK_SINGLE_THREADED()) {
    held = FORK_HELD_SINGLE;
    if (lock_all(true)) held |= FORK_HELD_LOCKS;
  } else {
    if (_IO_list_lock) {
      _IO_list_lock();
      held |= FORK_HELD_STDIO;
    }
    lock_all(false);
    held |= FORK_HELD_LOCKS;
  }
  fork_held = fork_held << FORK_HELD_BITS | held;
  if (held & FORK_HELD_LOCKS) {
    __atomic_store_n(&hs_fork_owner, pthread_self(), __ATOMIC_RELAXED);
    __atomic_store_n(&hs_fork_active, 1, __ATOMIC_RELEASE);
  }
}

/* The latest prepare's record, popped. */
static unsigned fork_pop(void) {
  unsigned held = (unsigned)(fork_held & ((1u << FORK_HELD_BITS) - 1));
  fork_held >>= FORK_HELD_BITS;
  if (held & FORK_HELD_LOCKS) {
    __atomic_store_n(&hs_fork_active, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&hs_fork_owner, (pthread_t)0, __ATOMIC_RELAXED);
  }
  return held;
}

void fork_parent(void) {
  unsigned held = fork_pop();
  if (held & FORK_HELD_LOCKS) {
    meta_postfork_parent();
    huge_postfork_parent();
    arena_postfork_parent();
    tcache_postfork_parent();
    pool_postfork_parent();
    checked_postfork_parent();
  }
  if ((held & FORK_HELD_STDIO) && _IO_list_unlock) _IO_list_unlock();
  /* The forking thread's cached slots are holes in slabs the child shares:
   * back to them (retired now). Not when single-threaded: the fork may come
   * from a signal handler that interrupted this very cache. */
  if ((held & FORK_HELD_LOCKS) && !(held & FORK_HELD_SINGLE) && hs_conf.fork_fresh) tcache_flush_current();
  purge_postfork_parent();
}

static size_t inherited_bytes;

size_t fork_inherited_bytes(void) { return __atomic_load_n(&inherited_bytes, __ATOMIC_RELAXED); }

void fork_child(void) {
  unsigned held = fork_pop();
  /* The only thread: the counters hold still. */
  size_t heap = huge_live_bytes();
  for (unsigned i = 0; i < hs_arena_count; i++) heap += hs_arenas[i].stats.chunk_bytes;
  HS_RACY_SET(inherited_bytes, heap);
  if (held & FORK_HELD_LOCKS) {
    /* Reset every lock before any of them is taken again. */
    meta_postfork_child();
    huge_postfork_child();
    arena_postfork_child();
    tcache_postfork_child(!(held & FORK_HELD_SINGLE));
    pool_postfork_child();
    checked_postfork_child(!(held & FORK_HELD_SINGLE));
  }
  purge_postfork_child();
  /* fork() has already reset it in the child; resetting again is harmless
   * and covers a libc that does not. */
  if ((held & FORK_HELD_STDIO) && _IO_list_resetlock) _IO_list_resetlock();
}
