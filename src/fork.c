/* fork: see fork.h. */
#include "fork.h"

#include <pthread.h>
#include "arena.h"
#include "lock.h"
#include "meta.h"
#include "tcache.h"

pthread_t hs_fork_owner;
int hs_fork_active;

static void fork_prepare(void) {
  tcache_prefork();
  arena_prefork();
  meta_prefork();
  hs_fork_owner = pthread_self();
  __atomic_store_n(&hs_fork_active, 1, __ATOMIC_RELEASE);
}

static void fork_parent(void) {
  __atomic_store_n(&hs_fork_active, 0, __ATOMIC_RELEASE);
  meta_postfork_parent();
  arena_postfork_parent();
  tcache_postfork_parent();
}

static void fork_child(void) {
  __atomic_store_n(&hs_fork_active, 0, __ATOMIC_RELEASE);
  /* Reset every lock before any of them is taken again. */
  meta_postfork_child();
  arena_postfork_child();
  tcache_postfork_child();
}

void fork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
