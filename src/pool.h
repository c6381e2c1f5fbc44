/* pool: sealed read-only pools (the hs_pool_* API of include/hugeslab.h).
 *
 * A pool is a bump allocator over mappings of its own, apart from the heap:
 * its blocks are never freed one by one, so a parent can fill it, seal it
 * (every mapping of the pool, its descriptor included, becomes read-only)
 * and fork workers that share every page of it for as long as they live.
 *
 * Layout: each mapping (a region) starts with its header; the first region's
 * header is followed by the pool's descriptor, then data. Regions of 2 MiB
 * and more are 2 MiB aligned and ask for huge pages (unless thp:never).
 *
 * Ownership: every pool's mutable state (its descriptor's cursor, counters
 * and region list; the list of live pools) is written under one lock,
 * pool.c's pool_lock, and never after the seal; the list of live pools lives
 * in metadata nodes, so a sealed pool is never written again, even when a
 * neighbour in the list is destroyed. A pool function never holds
 * pool_lock while it calls another layer that locks. */
#ifndef HS_POOL_H
#define HS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include "compiler.h"

struct hs_pool;

/* The figures of hs_pool_stats; the layout matches include/hugeslab.h. */
struct pool_stats {
  size_t used, mapped, resident, shared, private_;
};

/* See include/hugeslab.h for each call's contract (errno values included). */
struct hs_pool *pool_create(size_t size_hint);
void *pool_alloc(struct hs_pool *pool, size_t n);
int pool_seal(struct hs_pool *pool);
void pool_destroy(struct hs_pool *pool);
int pool_stats(const struct hs_pool *pool, struct pool_stats *out);

/* Whether p points into a live pool's mappings (free() and realloc() use it
 * to name the error). Takes pool_lock. */
bool pool_owns(const void *p);

/* fork.c (try_only: see meta_prefork). */
bool pool_prefork(bool try_only);
void pool_postfork_parent(void);
void pool_postfork_child(void);

#endif
