/* huge: allocations above the largest page run, each in its own mapping.
 *
 * Layout of a reservation: [guard page][pad to alignment][usable pages]
 * [reserve, PROT_NONE, at least one page]. The usable part starts on a 2 MiB
 * boundary (or the requested alignment) so it can be backed by huge pages and
 * no two huge blocks share a chunk-map entry; every entry it covers points at
 * its descriptor (tagged CHUNKMAP_HUGE). The PROT_NONE pages after the usable
 * part are both the trailing guard and room for realloc to grow in place.
 * Freed blocks are kept in a cache (at most 32 blocks and the larger of
 * 512 MiB and half the live huge bytes) and reused for requests that fit,
 * their faulted pages moved (mremap) into a fresh reservation when none
 * fits, so a program that cycles big buffers does not pay mmap, munmap and
 * page faults (and zeroing) each time. malloc_trim and any allocation that
 * runs out of memory empty the cache; the purge layer expires blocks that
 * have waited decay_ms (huge_expire).
 * A live block's descriptor is owned by its user; the cache by huge_lock. */
#ifndef HS_HUGE_H
#define HS_HUGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct huge_block {
  void *ptr;             /* usable start */
  size_t usable;         /* committed usable bytes (whole pages) */
  size_t capacity;       /* usable bytes the reservation can grow to */
  void *map_base;        /* whole reservation, guards included */
  size_t map_size;
  struct huge_block *next; /* cache link; protected by huge_lock */
  uint64_t freed_ms;       /* when it entered the cache (os_now_ms) */
};

/* A huge block of at least `size` bytes aligned to `align` (power of two);
 * NULL + ENOMEM on overflow or when the kernel refuses. *zeroed tells whether
 * its memory is known to be zero. */
void *huge_alloc(size_t size, size_t align, bool *zeroed);

/* The descriptor for chunk-map entry e if p is its block's start, else NULL. */
struct huge_block *huge_lookup(uintptr_t entry, const void *p);

/* Resize in place to at least `size` bytes if the reservation allows (growing
 * commits more pages, shrinking by more than half gives pages back). */
bool huge_resize(struct huge_block *h, size_t size);

/* Free a huge block (into the cache, or unmapped). Keeps errno. */
void huge_free(struct huge_block *h);

/* Drop every cached block. Returns bytes given back. */
size_t huge_trim(void);

/* Drop the cached blocks freed before `freed_before_ms`. Returns bytes given back. */
size_t huge_expire(uint64_t freed_before_ms);

/* Whether the cache holds any block (a racy read, for purge's passes). */
bool huge_cache_nonempty(void);

/* Called (if set) after huge_free put a block in the cache, no lock held:
 * purge.c's trigger for decay. Set once at start-up. */
extern void (*huge_release_hook)(void);

/* Live huge blocks and their usable bytes; cached bytes; the most blocks
 * and bytes ever live at once. */
void huge_stats(size_t *count, size_t *bytes, size_t *cached_bytes, size_t *peak_count, size_t *peak_bytes);

/* fork.c (try_only: see meta_prefork) */
/* Bytes of live huge blocks (lock-free). */
size_t huge_live_bytes(void);

/* Guard pages around live and cached huge blocks (two each), racy. */
size_t huge_guard_bytes(void);

bool huge_prefork(bool try_only);
void huge_postfork_parent(void);
void huge_postfork_child(void);

#endif
