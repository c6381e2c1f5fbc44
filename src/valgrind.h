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

/* A block of n bytes aligned to `align` (a power of two) from arena a, its
 * slot large enough for the memcheck tail, announced to memcheck. *zeroed
 * tells whether its bytes are known zero. NULL + ENOMEM. */
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed);

/* The alignment every slot of small class cls has. */
size_t valgrind_class_align(unsigned cls);

#endif
