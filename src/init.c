/* init: see init.h. */
#include "init.h"

#include <pthread.h>
#include "arena.h"
#include "checked.h"
#include "config.h"
#include "fork.h"
#include "os.h"
#include "purge.h"
#include "sizeclass.h"
#include "tcache.h"

int hs_initialized;

/* Serialises start-up. init_owner is the thread running it (0 otherwise),
 * so that its own recursive calls (from pthread_atfork) pass. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t init_owner;

/* The child of a fork() that ran our prepare handler: the handler was
 * registered, so every layer was up in the parent (registration is start-up's
 * last step before publishing); only the publishing store may have been
 * missed, and the initialising thread, if any, is gone with its lock. */
static void init_fork_child(void) {
  fork_child();
  pthread_mutex_init(&init_lock, NULL);
  __atomic_store_n(&init_owner, (pthread_t)0, __ATOMIC_RELAXED);
  __atomic_store_n(&hs_initialized, 1, __ATOMIC_RELEASE);
}

void hs_init_slow(void) {
  pthread_t self = pthread_self();
  if (pthread_equal(__atomic_load_n(&init_owner, __ATOMIC_RELAXED), self)) return;
  pthread_mutex_lock(&init_lock);
  if (!__atomic_load_n(&hs_initialized, __ATOMIC_RELAXED)) {
    __atomic_store_n(&init_owner, self, __ATOMIC_RELAXED);
    os_init();
    config_init();
    if (hs_conf.hardened) checked_init();
    sizeclass_init();
    arena_init_all(hs_conf.arenas ? hs_conf.arenas : os_cpu_count());
    purge_init();
    tcache_init();
    pthread_atfork(fork_prepare, fork_parent, init_fork_child);
    __atomic_store_n(&hs_initialized, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&init_owner, (pthread_t)0, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&init_lock);
}
