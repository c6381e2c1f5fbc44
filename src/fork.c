/* fork: see fork.h. */
#include "fork.h"

#include <pthread.h>
#include "arena.h"
#include "huge.h"
#include "lock.h"
#include "meta.h"
#include "tcache.h"

pthread_t hs_fork_owner;
int hs_fork_active;

/* glibc's lock on its list of FILEs (recursive; exported since 2.2.5).
 * glibc's fork() runs the prepare handlers and only then takes this lock;
 * its own malloc locks come after it. A thread in fflush(NULL) holds it while
 * it waits for a FILE whose owner may be blocked in malloc, so taking our
 * locks first would deadlock (CONFORMANCE A1.8 #51). We take it first, as
 * glibc's malloc does; fork() takes it again recursively. Weak: absent
 * outside glibc. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

static void fork_prepare(void) {
  if (_IO_list_lock) _IO_list_lock();
  tcache_prefork();
  arena_prefork();
  huge_prefork();
  meta_prefork();
  hs_fork_owner = pthread_self();
  __atomic_store_n(&hs_fork_active, 1, __ATOMIC_RELEASE);
}

static void fork_parent(void) {
  __atomic_store_n(&hs_fork_active, 0, __ATOMIC_RELEASE);
  meta_postfork_parent();
  huge_postfork_parent();
  arena_postfork_parent();
  tcache_postfork_parent();
  if (_IO_list_unlock) _IO_list_unlock();
}

static void fork_child(void) {
  __atomic_store_n(&hs_fork_active, 0, __ATOMIC_RELEASE);
  /* Reset every lock before any of them is taken again. */
  meta_postfork_child();
  huge_postfork_child();
  arena_postfork_child();
  tcache_postfork_child();
  /* fork() has already reset it in the child; resetting again is harmless
   * and covers a libc that does not. */
  if (_IO_list_resetlock) _IO_list_resetlock();
}

void fork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
