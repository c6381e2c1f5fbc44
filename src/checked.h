/* checked: blocks handed out by a checking mode.
 *
 * Two modes check every block, both decided once at start-up (config_init)
 * and fixed for the process's life; hs_conf.checked is set when either is:
 *  - memcheck (hs_conf.memcheck): the process runs under Valgrind's
 *    memcheck, which is told about every block (memcheck.h);
 *  - hardened (hs_conf.hardened: HUGESLAB_CONF=hardened:true, or the default
 *    of a build configured --enable-hardened; off under memcheck, which
 *    checks more): hugeslab checks the blocks itself.
 * In both, every thread's cache caches nothing (it only binds the thread
 * to its arena: tcache.c), so every allocation reaches a slow path and
 * lands in checked_alloc, and every
 * block's state byte is SLOT_CHECKED rather than SLOT_LIVE, so no fast path
 * of free or realloc accepts it: they take their slow paths (api.c), which
 * call checked_block_free or checked_block_size and put the block in the
 * quarantine. Under memcheck every realloc moves; in hardened mode one
 * that fits the slot stays (checked_resize).
 *
 * A block of n bytes lives in a slot of at least n + CHECKED_TAIL bytes
 * (`usable`). The last word of the slot records n; the bytes between n and
 * that word are the tail. Under memcheck the tail is NOACCESS (a redzone).
 * In hardened mode:
 *  - the tail's first bytes (CHECKED_CANARY_MAX at most) hold canary bytes
 *    drawn at start-up (each odd: a zero or any even byte written over one
 *    always shows) and the word holds n masked with them; both are
 *    checked when the block is freed, resized or measured, and damage is
 *    reported as `hugeslab: free(): heap overflow 0x...` (or the call that
 *    found it), then the process aborts;
 *  - a small slot or page run is zeroed when it is freed and checked to be
 *    still zero when it is handed out again: a write into a freed block is
 *    reported as `hugeslab: malloc(): write after free 0x...` (huge blocks,
 *    which go back to the kernel or wait in huge.c's cache, are not: their
 *    freed bytes are not read again);
 *  - a small slot is picked at random among the CHECKED_CHOICE lowest free
 *    slots of its class (os_random seeds it, and a forked child reseeds),
 *    so the address a block gets is not the one the last free left;
 *  - freed blocks wait in the quarantine before they can be reused.
 * In hardened mode each thread picks its slots from a stash of its own and
 * keeps its own quarantine (checked.c's struct checked_thread), so that a
 * lock is taken once every few calls, not twice a call; the shared
 * quarantine serves memcheck and the threads that have no state.
 * Outside the checking modes nothing in this layer runs. */
#ifndef HS_CHECKED_H
#define HS_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include "arena.h"
#include "sizeclass.h"
#include "slab.h"

/* Bytes past each block: at least 8 of tail, then the size word. */
#define CHECKED_TAIL 16
/* Canary bytes right after a hardened block, at most (the rest of a big
 * slot's slack is not checked, the size word at its end is). */
#define CHECKED_CANARY_MAX 64
/* Free slots a hardened small allocation picks among. */
#define CHECKED_CHOICE 8

/* Hardened mode's secrets (canary and random state), from os_random; called
 * once at start-up when hs_conf.hardened is set, before any allocation. */
void checked_init(void);

/* A block of n bytes aligned to `align` (a power of two) from arena a, in a
 * slot large enough for the tail and of at least `room` bytes (a growing
 * realloc's headroom; 0 for none), set up for the mode. *zeroed tells
 * whether its n bytes are known zero. NULL + ENOMEM. */
void *checked_alloc(struct arena *a, size_t n, size_t align, size_t room, bool *zeroed);

/* realloc of live block p of `usable` bytes, whose tail the caller has
 * checked (checked_block_size), to n bytes, in place: in hardened mode,
 * when n and the tail fit its slot and fill more than half of it, the tail
 * is written again for n and true returned. False otherwise, and always
 * under memcheck (every realloc moves, as Valgrind's own). */
bool checked_resize(void *p, size_t usable, size_t n);

/* The size the program asked for, of live block p of `usable` bytes. In
 * hardened mode the tail is checked first: damage is reported as
 * `call`(): heap overflow. */
size_t checked_block_size(void *p, size_t usable, const char *call);

/* The program frees live block p of `usable` bytes (`huge`: a huge mapping)
 * with `call` (memcheck was told already, before p was resolved). In
 * hardened mode its tail is checked (heap overflow) and a small slot or
 * page run zeroed. */
void checked_block_free(void *p, size_t usable, bool huge, const char *call);

/* A block the program freed, held back before it goes to its arena, so that
 * a stale pointer still meets a freed block (NOACCESS for memcheck, zero for
 * the hardened check) after the program allocated more: in the thread's own
 * quarantine (hardened mode: at most 1024 blocks and 4 MiB a thread) or the
 * shared one (at most CHECKED_QUARANTINE_BYTES in CHECKED_QUARANTINE_BLOCKS
 * blocks), oldest first out. `slot` is a small slot of class cls of arena
 * a, or `run` a page run (the other NULL; a and cls unused); `bytes` its
 * usable size. Huge blocks are not held (their cache already delays reuse).
 * The block's state byte becomes SLOT_FREE at once, so a second free of it
 * is a double free. */
#define CHECKED_QUARANTINE_BLOCKS 4096
#define CHECKED_QUARANTINE_BYTES ((size_t)16 << 20)
void checked_quarantine(const struct slot_ref *slot, struct slab *run, size_t bytes, const struct arena *a,
                        unsigned cls);

/* Bytes waiting in the quarantines (freed by the program, not yet reused). */
size_t checked_quarantined_bytes(void);

/* Add to slots[c] the free slots of class c of arena a in the threads'
 * stashes (for the stats: they count as cached). */
void checked_stashed(const struct arena *a, size_t slots[SIZECLASS_SMALL]);

/* The calling thread's stash goes back to its arenas (hs_thread_flush);
 * at its exit its quarantine too, and its state is freed (tcache.c calls
 * both). */
void checked_thread_flush(void);
void checked_thread_exit(void);

/* fork.c: the quarantine's and the registry's locks, taken first (see
 * meta_prefork for try_only); the child reseeds the slot choice and drops
 * the other threads' states (own_consistent: as tcache_postfork_child). */
bool checked_prefork(bool try_only);
void checked_postfork_parent(void);
void checked_postfork_child(bool own_consistent);

/* The alignment every slot of small class cls has. */
size_t checked_class_align(unsigned cls);

#endif
