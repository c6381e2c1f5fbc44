/* The allocator's mutex: the contended half of hs_lock_acquire (lock.h). */
#include "lock.h"

/* A pause for a spinning CPU (it yields the core's pipeline to its sibling
 * hyperthread, and keeps the spin from flooding the lock's cache line). */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

void hs_lock_acquire_slow(hs_lock *l) {
  for (unsigned spin = 0; spin < HS_LOCK_SPINS; spin++) {
    cpu_relax();
    if (pthread_mutex_trylock(&l->mutex) == 0) return;
  }
  pthread_mutex_lock(&l->mutex);
}
