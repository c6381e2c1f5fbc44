/* memcheck: what Valgrind's memcheck is told about the blocks we hand out.
 *
 * Built in when valgrind/memcheck.h is present at configure time (and not
 * --without-valgrind); without it memcheck_running() is false and the rest
 * does nothing. Whether the process runs under Valgrind is asked once, by
 * config_init (hs_conf.memcheck); checked.h says how the blocks then take
 * the slow paths, where these requests are made.
 *
 * Under Valgrind every block carries MEMCHECK_TAIL bytes beyond what the
 * program asked for, inside its slot: they are NOACCESS (a redzone, so an
 * overflow by one byte is reported even when the request filled its size
 * class), and the last word of the slot's usable bytes records the requested
 * size, which realloc, malloc_usable_size and free_sized need. Everything
 * past the requested size up to the end of the slot stays NOACCESS; after a
 * free the whole block is NOACCESS until the slot is handed out again.
 * The allocator never reads or writes a block's bytes except calloc's
 * zeroing and realloc's copy, which come after memcheck was told. */
#ifndef HS_MEMCHECK_H
#define HS_MEMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include "build-config.h"
#include "compiler.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#define HS_MEMCHECK 1
#include <valgrind/memcheck.h>

/* Redzone plus the size word, in bytes past each block under Valgrind. */
#define MEMCHECK_TAIL 16

HS_INLINE bool memcheck_running(void) { return RUNNING_ON_VALGRIND != 0; }

HS_INLINE size_t *memcheck_size_word(void *p, size_t usable) {
  return (size_t *)((char *)p + usable - sizeof(size_t));
}

/* p, a slot of `usable` bytes, becomes the program's block of n bytes
 * (n + MEMCHECK_TAIL <= usable); `zeroed`: its bytes are known zero. */
HS_INLINE void memcheck_block_new(void *p, size_t n, size_t usable, bool zeroed) {
  size_t *word = memcheck_size_word(p, usable);
  VALGRIND_MAKE_MEM_UNDEFINED(word, sizeof *word);
  *word = n;
  VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed);
  VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, usable - n);
}

/* The size the program asked for, for a live block of `usable` bytes: the
 * size word, clamped to the slot (an overflow may have overwritten it). */
HS_INLINE size_t memcheck_block_size(void *p, size_t usable) {
  size_t *word = memcheck_size_word(p, usable);
  VALGRIND_MAKE_MEM_DEFINED(word, sizeof *word);
  size_t n = *word;
  VALGRIND_MAKE_MEM_NOACCESS(word, sizeof *word);
  return n <= usable - MEMCHECK_TAIL ? n : usable - MEMCHECK_TAIL;
}

/* The program gives p back: memcheck reports a block it does not know
 * (a double or invalid free) and makes a known one NOACCESS. */
HS_INLINE void memcheck_block_free(void *p) { VALGRIND_FREELIKE_BLOCK(p, 0); }

/* Allocator-owned memory that must not count as the program's: it is
 * hidden from the leak check (which scans only accessible memory, and would
 * take our descriptors' pointers to a slab's first slot, a page run or a
 * huge block for references) and our own accesses into it are not
 * reported. The exemption lasts to the end (frees run after every
 * destructor), so memcheck's exit report warns that it is still in force. */
HS_INLINE void memcheck_hide_metadata(void *p, size_t size) {
  VALGRIND_MAKE_MEM_NOACCESS(p, size);
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, size);
}
#else
#define HS_MEMCHECK 0
#define MEMCHECK_TAIL 0
HS_INLINE bool memcheck_running(void) { return false; }
HS_INLINE void memcheck_block_new(void *p, size_t n, size_t usable, bool zeroed) {
  (void)p;
  (void)n;
  (void)usable;
  (void)zeroed;
}
HS_INLINE size_t memcheck_block_size(void *p, size_t usable) {
  (void)p;
  return usable;
}
HS_INLINE void memcheck_block_free(void *p) { (void)p; }
HS_INLINE void memcheck_hide_metadata(void *p, size_t size) {
  (void)p;
  (void)size;
}
#endif

#endif
