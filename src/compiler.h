/* Compiler helpers shared by every layer. */
#ifndef HS_COMPILER_H
#define HS_COMPILER_H

#include "build-config.h"

#define HS_EXPORT __attribute__((visibility("default")))
/* On extern data read by fast paths: addressed directly, not via the GOT. */
#define HS_HIDDEN __attribute__((visibility("hidden")))
#define HS_NOINLINE __attribute__((noinline))
#define HS_COLD __attribute__((cold, noinline))
#define HS_NORETURN __attribute__((noreturn))
#define HS_INLINE static inline __attribute__((always_inline))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define HS_TLS __thread __attribute__((tls_model(HS_TLS_MODEL)))

#define HS_PAGE_SHIFT 12
#define HS_PAGE ((size_t)1 << HS_PAGE_SHIFT)
#define HS_CHUNK_SHIFT 21
#define HS_CHUNK ((size_t)1 << HS_CHUNK_SHIFT)
#define HS_CHUNK_PAGES (HS_CHUNK >> HS_PAGE_SHIFT)
/* The alignment malloc guarantees: alignof(max_align_t) on x86-64/aarch64. */
#define HS_MIN_ALIGN 16

/* A store to a field its lock's holder updates and other threads read with
 * relaxed atomic loads, lock-free (purge's decisions, stats): the same
 * instruction as a plain store, but the read is then no data race. */
#define HS_RACY_SET(lvalue, value) __atomic_store_n(&(lvalue), (value), __ATOMIC_RELAXED)

/* Round up to a power-of-two multiple; the caller has checked for overflow. */
#define HS_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uintptr_t)(a)-1))

#endif
