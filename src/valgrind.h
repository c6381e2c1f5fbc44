/* valgrind: blocks handed out while the process runs under Valgrind.
 *
 * When config_init finds Valgrind (hs_conf.memcheck, read once at start-up)
 * every thread's cache is the dead one (tcache.c), so every allocation
 * reaches a slow path and lands here, and every block's state byte is
 * SLOT_MEMCHECK rather than SLOT_LIVE, so no fast path of free or realloc
 * accepts it: they take their slow paths, which tell memcheck (api.c).
 * Outside Valgrind nothing in this layer runs. See memcheck.h for what a
 * block looks like to memcheck. */
#ifndef HS_VALGRIND_H
#define HS_VALGRIND_H

#include <stdbool.h>
#include <stddef.h>
#include "arena.h"
#include "slab.h"

/* A block of n bytes aligned to `align` (a power of two) from arena a, its
 * slot large enough for the memcheck tail, announced to memcheck. *zeroed
 * tells whether its bytes are known zero. NULL + ENOMEM. */
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed);

/* A block the program freed under Valgrind (memcheck already told), held
 * back before it goes to its arena, so that a use after free still meets a
 * NOACCESS block even after the program allocated more: at most
 * VALGRIND_QUARANTINE_BYTES in VALGRIND_QUARANTINE_BLOCKS blocks wait,
 * oldest first out. `slot` is a small slot, or `run` a page run (the other
 * NULL); `bytes` its usable size. Huge blocks are not held (their cache
 * already delays reuse). The block's state byte becomes SLOT_FREE at once,
 * so a second free of it is a double free. */
#define VALGRIND_QUARANTINE_BLOCKS 4096
#define VALGRIND_QUARANTINE_BYTES ((size_t)16 << 20)
void valgrind_quarantine(const struct slot_ref *slot, struct slab *run, size_t bytes);

/* Bytes waiting in the quarantine (freed by the program, not yet reused). */
size_t valgrind_quarantined_bytes(void);

/* fork.c: the quarantine's lock, taken first (see meta_prefork for try_only). */
bool valgrind_prefork(bool try_only);
void valgrind_postfork_parent(void);
void valgrind_postfork_child(void);

/* The alignment every slot of small class cls has. */
size_t valgrind_class_align(unsigned cls);

#endif
