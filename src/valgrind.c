/* valgrind: see valgrind.h. */
#include "valgrind.h"

#include <errno.h>
#include <stdint.h>
#include "chunk.h"
#include "chunkmap.h"
#include "compiler.h"
#include "huge.h"
#include "memcheck.h"
#include "sizeclass.h"
#include "slab.h"

size_t valgrind_class_align(unsigned cls) {
  size_t size = sizeclass_size(cls);
  size_t align = size & -size;
  return align < HS_PAGE ? align : HS_PAGE;
}

#if HS_MEMCHECK
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed) {
  *zeroed = false;
  if (n > PTRDIFF_MAX - MEMCHECK_TAIL) {
    errno = ENOMEM;
    return NULL;
  }
  size_t want = n + MEMCHECK_TAIL;
  void *p;
  size_t usable;
  uint8_t *state = NULL;
  unsigned cls = align <= HS_PAGE ? sizeclass_aligned(want, align) : SIZECLASS_SMALL;
  if (cls < SIZECLASS_SMALL) {
    struct slot_ref r;
    if (arena_refill(a, cls, &r, 1) == 0) return NULL;
    p = r.ptr;
    state = r.state;
    usable = sizeclass_size(cls);
  } else if (want <= SIZECLASS_LARGE_MAX && align < HS_CHUNK) {
    p = arena_alloc_large(a, want, align, zeroed);
    if (!p) return NULL;
    struct slab *run = chunk_slab_of(p);
    state = run->state;
    usable = run->size;
  } else {
    p = huge_alloc(want, align, zeroed);
    if (!p) return NULL;
    usable = huge_lookup(chunkmap_get(p), p)->usable;
  }
  if (state) *state = SLOT_MEMCHECK;
  memcheck_block_new(p, n, usable, *zeroed);
  return p;
}
#else
void *valgrind_alloc(struct arena *a, size_t n, size_t align, bool *zeroed) {
  (void)a;
  (void)n;
  (void)align;
  *zeroed = false;
  errno = ENOMEM;
  return NULL;
}
#endif
