/* meta: a bump allocator over guarded regions with per-size free lists.
 * Freed descriptors are reused for the same rounded size; the free-list link
 * is stored in the freed descriptor itself (metadata, never user data). */
#include "meta.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "lock.h"
#include "os.h"

#define META_GRAIN 64
#define META_CLASSES (META_MAX / META_GRAIN + 1)
/* Regions grow with the metadata: the first is META_REGION_MIN usable bytes,
 * each next one twice the last up to META_REGION_MAX (all META_REGION_MIN
 * under an address-space limit), halving (down to what the request needs)
 * when the kernel refuses. */
#define META_REGION_MIN ((size_t)1 << 20)
#define META_REGION_MAX ((size_t)256 << 20)
#define META_COMMIT_STEP ((size_t)64 << 10)

struct meta_free_block {
  struct meta_free_block *next;
};

/* All fields protected by meta_state.lock. */
static struct {
  hs_lock lock;
  char *cur;       /* next unused byte of the current region */
  char *committed; /* end of the read-write part of the current region */
  char *limit;     /* end of the usable part (a guard page follows) */
  size_t mapped;
  size_t next_region;  /* usable size of the next region to try */
  struct meta_free_block *free[META_CLASSES];
} meta_state = {.lock = HS_LOCK_INIT, .next_region = META_REGION_MIN};

/* Start a new region: [guard page][usable][guard page], all PROT_NONE until
 * committed. The old region's tail is abandoned (at most one step). */
static int meta_new_region(size_t need) {
  need = HS_ALIGN_UP(need, META_COMMIT_STEP);
  size_t want = os_address_space_limited() ? META_REGION_MIN : meta_state.next_region;
  size_t usable = want > need ? want : need;
  for (;;) {
    char *base = os_reserve(usable + 2 * HS_PAGE, HS_PAGE);
    if (base) {
      meta_state.cur = base + HS_PAGE;
      meta_state.committed = meta_state.cur;
      meta_state.limit = meta_state.cur + usable;
      meta_state.next_region = usable < META_REGION_MAX ? usable * 2 : META_REGION_MAX;
      return 0;
    }
    if (usable == need) return -1;
    usable = usable / 2 > need ? HS_ALIGN_UP(usable / 2, HS_PAGE) : need;
  }
}

static void *meta_bump(size_t size) {
  if (!meta_state.cur || meta_state.cur + size > meta_state.limit) {
    if (meta_new_region(size) != 0) return NULL;
  }
  while (meta_state.cur + size > meta_state.committed) {
    size_t step = META_COMMIT_STEP;
    if ((size_t)(meta_state.limit - meta_state.committed) < step)
      step = (size_t)(meta_state.limit - meta_state.committed);
    if (!os_commit(meta_state.committed, step)) return NULL;
    meta_state.committed += step;
    meta_state.mapped += step;
  }
  void *p = meta_state.cur;
  meta_state.cur += size;
  return p;
}

/* A block of `size` rounded up to the grain; *recycled says whether it may
 * hold old data (fresh pages are zero). NULL + ENOMEM. */
static void *meta_take(size_t size, bool *recycled) {
  size = HS_ALIGN_UP(size, META_GRAIN);
  *recycled = false;
  if (size == 0 || size > META_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  size_t cls = size / META_GRAIN;
  hs_lock_acquire(&meta_state.lock);
  struct meta_free_block *b = meta_state.free[cls];
  void *p;
  if (b) {
    meta_state.free[cls] = b->next;
    p = b;
  } else {
    p = meta_bump(size);
  }
  hs_lock_release(&meta_state.lock);
  *recycled = b != NULL;
  return p;
}

void *meta_alloc_uninit(size_t size) {
  bool recycled;
  return meta_take(size, &recycled);
}

void *meta_alloc(size_t size) {
  bool recycled;
  void *p = meta_take(size, &recycled);
  if (recycled) memset(p, 0, HS_ALIGN_UP(size, META_GRAIN));
  return p;
}

void meta_free(void *p, size_t size) {
  if (!p) return;
  size = HS_ALIGN_UP(size, META_GRAIN);
  size_t cls = size / META_GRAIN;
  struct meta_free_block *b = p;
  hs_lock_acquire(&meta_state.lock);
  b->next = meta_state.free[cls];
  meta_state.free[cls] = b;
  hs_lock_release(&meta_state.lock);
}

size_t meta_mapped_bytes(void) { return __atomic_load_n(&meta_state.mapped, __ATOMIC_RELAXED); }

bool meta_prefork(bool try_only) { return hs_lock_prefork(&meta_state.lock, try_only); }
void meta_postfork_parent(void) { hs_lock_drop_for_fork(&meta_state.lock); }
void meta_postfork_child(void) { hs_lock_reset(&meta_state.lock); }
