/* pool: see pool.h. */
#include "pool.h"

#include <errno.h>
#include <stdint.h>
#include "config.h"
#include "lock.h"
#include "meta.h"
#include "os.h"

#define POOL_MAGIC 0x6873706f6f6c2121ull /* "hspool!!" */
/* The smallest region (64 KiB: a pool of a few strings costs little), and
 * the most a region grows by doubling (a request bigger than that gets a
 * region of its own size). */
#define POOL_REGION_MIN ((size_t)64 << 10)
#define POOL_REGION_GROW_MAX ((size_t)1 << 30)
#define POOL_ALIGN 16

/* At the start of every mapping of a pool; read-only once the pool is sealed. */
struct pool_region {
  struct pool_region *next; /* the next in the pool's list */
  size_t size;              /* bytes of the mapping, header included */
  char *cursor, *end;       /* what is left to hand out */
};

/* A live pool, in the list that pool_owns walks (metadata: never sealed). */
struct pool_node {
  struct hs_pool *pool;
  struct pool_node *prev, *next;
};

/* The descriptor, after the first region's header. Written under pool_lock,
 * never once sealed. */
struct hs_pool {
  uint64_t magic;
  int sealed;
  struct pool_region *regions; /* the one being filled first, then older ones
                                  (and big blocks' own regions) */
  size_t used, mapped;
  struct pool_node *node;
};

static hs_lock pool_lock = HS_LOCK_INIT;
static struct pool_node *pool_list;

/* A region for at least `need` bytes after its header, and at least
 * `at_least` bytes in all (2 MiB aligned and on huge pages from 2 MiB up);
 * NULL + ENOMEM. */
static struct pool_region *region_new(size_t need, size_t at_least) {
  size_t header = HS_ALIGN_UP(sizeof(struct pool_region), 64);
  if (need > SIZE_MAX - header - HS_CHUNK) {
    errno = ENOMEM;
    return NULL;
  }
  size_t size = HS_ALIGN_UP(need + header, HS_PAGE);
  if (size < at_least) size = at_least;
  size_t align = size >= HS_CHUNK ? HS_CHUNK : HS_PAGE;
  char *base = os_reserve(size, align);
  if (!base) return NULL;
  if (!os_commit(base, size)) {
    os_release(base, size);
    errno = ENOMEM;
    return NULL;
  }
  if (size >= HS_CHUNK && hs_conf.thp != HS_THP_NEVER) os_hugepage(base, size, true);
  struct pool_region *r = (struct pool_region *)base;
  r->next = NULL;
  r->size = size;
  r->cursor = base + header;
  r->end = base + size;
  return r;
}

static bool pool_valid(const struct hs_pool *pool) { return pool && pool->magic == POOL_MAGIC; }

struct hs_pool *pool_create(size_t size_hint) {
  struct pool_node *node = meta_alloc(sizeof *node);
  if (!node) return NULL;
  size_t desc = HS_ALIGN_UP(sizeof(struct hs_pool), 64);
  if (size_hint > SIZE_MAX - desc) size_hint = SIZE_MAX - desc;
  struct pool_region *r = region_new(size_hint + desc, POOL_REGION_MIN);
  if (!r) {
    meta_free(node, sizeof *node);
    errno = ENOMEM;
    return NULL;
  }
  struct hs_pool *pool = (struct hs_pool *)r->cursor;
  r->cursor += desc;
  pool->magic = POOL_MAGIC;
  pool->sealed = 0;
  pool->regions = r;
  pool->used = 0;
  pool->mapped = r->size;
  pool->node = node;
  node->pool = pool;
  hs_lock_acquire(&pool_lock);
  node->prev = NULL;
  node->next = pool_list;
  if (pool_list) pool_list->prev = node;
  pool_list = node;
  hs_lock_release(&pool_lock);
  return pool;
}

void *pool_alloc(struct hs_pool *pool, size_t n) {
  if (!pool_valid(pool)) {
    errno = EINVAL;
    return NULL;
  }
  if (n == 0) n = 1;
  if (n > SIZE_MAX - POOL_ALIGN - HS_CHUNK) {
    errno = ENOMEM;
    return NULL;
  }
  size_t size = HS_ALIGN_UP(n, POOL_ALIGN);
  hs_lock_acquire(&pool_lock);
  if (pool->sealed) {
    hs_lock_release(&pool_lock);
    errno = EPERM;
    return NULL;
  }
  struct pool_region *r = pool->regions;
  if ((size_t)(r->end - r->cursor) < size) {
    size_t grown = r->size < POOL_REGION_GROW_MAX ? r->size * 2 : POOL_REGION_GROW_MAX;
    /* A big block, while the region being filled still has room, gets a
     * region of its own behind it, which keeps that room for the small
     * blocks that follow. */
    bool own = size > grown / 2 && (size_t)(r->end - r->cursor) >= r->size / 4;
    struct pool_region *fresh = region_new(size, own ? 0 : grown);
    if (!fresh) {
      hs_lock_release(&pool_lock);
      errno = ENOMEM;
      return NULL;
    }
    pool->mapped += fresh->size;
    if (own) {
      fresh->next = r->next;
      r->next = fresh;
      r = fresh;
    } else {
      fresh->next = r;
      pool->regions = r = fresh;
    }
  }
  void *p = r->cursor;
  r->cursor += size;
  pool->used += size;
  hs_lock_release(&pool_lock);
  return p;
}

int pool_seal(struct hs_pool *pool) {
  if (!pool_valid(pool)) {
    errno = EINVAL;
    return -1;
  }
  hs_lock_acquire(&pool_lock);
  if (pool->sealed) {
    hs_lock_release(&pool_lock);
    return 0;
  }
  /* The descriptor is in the first region made, the last one in the list
   * and so the last one protected: until then it can still be written back
   * if a region fails. */
  pool->sealed = 1;
  struct pool_region *r = pool->regions;
  for (; r; r = r->next)
    if (!os_protect(r, r->size, true)) break;
  if (r) {
    int err = errno;
    for (struct pool_region *done = pool->regions; done != r; done = done->next) os_protect(done, done->size, false);
    pool->sealed = 0;
    hs_lock_release(&pool_lock);
    errno = err;
    return -1;
  }
  /* Merging is an offer: a kernel without KSM refuses it, and the seal holds. */
  if (hs_conf.pool_ksm)
    for (r = pool->regions; r; r = r->next) os_mergeable(r, r->size);
  hs_lock_release(&pool_lock);
  return 0;
}

void pool_destroy(struct hs_pool *pool) {
  if (!pool) return;
  if (!pool_valid(pool)) os_report_pointer("hs_pool_destroy", "invalid pool", pool);
  struct pool_node *node = pool->node;
  hs_lock_acquire(&pool_lock);
  if (node->prev) node->prev->next = node->next;
  else pool_list = node->next;
  if (node->next) node->next->prev = node->prev;
  hs_lock_release(&pool_lock);
  for (struct pool_region *r = pool->regions, *next; r; r = next) {
    next = r->next;
    os_release(r, r->size);
  }
  meta_free(node, sizeof *node);
}

int pool_stats(const struct hs_pool *pool, struct pool_stats *out) {
  if (!pool_valid(pool) || !out) {
    errno = EINVAL;
    return -1;
  }
  struct pool_stats s = {0};
  hs_lock_acquire(&pool_lock);
  s.used = pool->used;
  s.mapped = pool->mapped;
  for (const struct pool_region *r = pool->regions; r; r = r->next) {
    size_t resident, shared;
    if (!os_page_sharing(r, r->size, &resident, &shared)) {
      int err = errno;
      hs_lock_release(&pool_lock);
      errno = err;
      return -1;
    }
    s.resident += resident << HS_PAGE_SHIFT;
    s.shared += shared << HS_PAGE_SHIFT;
  }
  hs_lock_release(&pool_lock);
  s.private_ = s.resident - s.shared;
  *out = s;
  return 0;
}

bool pool_owns(const void *p) {
  bool found = false;
  hs_lock_acquire(&pool_lock);
  for (const struct pool_node *node = pool_list; node && !found; node = node->next)
    for (const struct pool_region *r = node->pool->regions; r && !found; r = r->next)
      found = (const char *)p >= (const char *)r && (const char *)p < (const char *)r + r->size;
  hs_lock_release(&pool_lock);
  return found;
}

bool pool_prefork(bool try_only) { return hs_lock_prefork(&pool_lock, try_only); }
void pool_postfork_parent(void) { hs_lock_drop_for_fork(&pool_lock); }
void pool_postfork_child(void) { hs_lock_reset(&pool_lock); }
