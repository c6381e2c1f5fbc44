/* huge: see huge.h. */
#include "huge.h"

#include <errno.h>
#include "chunkmap.h"
#include "meta.h"
#include "os.h"

static size_t huge_count, huge_bytes; /* atomics */

void *huge_alloc(size_t size, size_t align) {
  if (align < HS_CHUNK) align = HS_CHUNK;
  if (size == 0) size = 1; /* a unique block of one page */
  size_t usable = HS_ALIGN_UP(size, HS_PAGE);
  /* [guard][pad to alignment][usable][guard]: the guard page before the
   * usable start lies inside the alignment slack of the reservation. */
  size_t span = usable + align + HS_PAGE;
  if (usable < size || span < usable || size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  struct huge_block *h = meta_alloc(sizeof *h);
  if (!h) return NULL;
  char *raw = os_reserve(span, HS_PAGE);
  if (!raw) {
    meta_free(h, sizeof *h);
    errno = ENOMEM;
    return NULL;
  }
  char *start = (char *)HS_ALIGN_UP((uintptr_t)raw + HS_PAGE, align);
  char *map_base = start - HS_PAGE;
  char *map_end = start + usable + HS_PAGE;
  if (map_base > raw) os_release(raw, (size_t)(map_base - raw));
  if (raw + span > map_end) os_release(map_end, (size_t)(raw + span - map_end));
  if (!os_commit(start, usable)) {
    os_release(map_base, (size_t)(map_end - map_base));
    meta_free(h, sizeof *h);
    errno = ENOMEM;
    return NULL;
  }
  os_hugepage(start, usable, usable >= HS_CHUNK);
  h->ptr = start;
  h->usable = usable;
  h->map_base = map_base;
  h->map_size = (size_t)(map_end - map_base);
  chunkmap_set(start, usable, (uintptr_t)h | CHUNKMAP_HUGE);
  __atomic_add_fetch(&huge_count, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&huge_bytes, usable, __ATOMIC_RELAXED);
  return start;
}

struct huge_block *huge_lookup(uintptr_t entry, const void *p) {
  if (!(entry & CHUNKMAP_HUGE)) return NULL;
  struct huge_block *h = (struct huge_block *)(entry & ~CHUNKMAP_HUGE);
  return h->ptr == p ? h : NULL;
}

void huge_free(struct huge_block *h) {
  chunkmap_set(h->ptr, h->usable, 0);
  __atomic_sub_fetch(&huge_count, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch(&huge_bytes, h->usable, __ATOMIC_RELAXED);
  os_release(h->map_base, h->map_size);
  meta_free(h, sizeof *h);
}

void huge_stats(size_t *count, size_t *bytes) {
  *count = __atomic_load_n(&huge_count, __ATOMIC_RELAXED);
  *bytes = __atomic_load_n(&huge_bytes, __ATOMIC_RELAXED);
}
