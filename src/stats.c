/* stats: see stats.h. */
#include "stats.h"

#include <errno.h>
#include <string.h>
#include "arena.h"
#include "checked.h"
#include "chunk.h"
#include "chunkmap.h"
#include "compiler.h"
#include "config.h"
#include "fork.h"
#include "huge.h"
#include "meta.h"
#include "os.h"
#include "sizeclass.h"
#include "tcache.h"

/* ---- the figures ------------------------------------------------------------- */

/* One size class in one arena, or summed over the arenas. */
struct class_figures {
  uint64_t slabs, active, allocated, tcache, nmalloc, nfree, free_slots;
};

struct arena_figures {
  uint64_t threads, allocated, active, tcache, remote, mapped, dirty, free, large_bytes, large_count, slabs,
      returned_calls, returned_bytes, guard;
  struct class_figures cls[SIZECLASS_SMALL];
};

/* Arena a's figures: its counters copied under its lock, then the slots its
 * threads' caches hold. The two reads are not atomic together: a count can
 * be off by a batch in flight, never negative. */
static void arena_figures(struct arena *a, struct arena_figures *f) {
  struct arena_snapshot snap;
  size_t cached[SIZECLASS_SMALL], remote, caches;
  arena_snapshot(a, &snap);
  tcache_cached(a, cached, &remote, &caches);
  if (hs_conf.checked) checked_stashed(a, cached);
  memset(f, 0, sizeof *f);
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    const struct sizeclass_info *ci = &sizeclass_table[c];
    struct class_figures *k = &f->cls[c];
    size_t out = snap.cls[c].out, in_cache = cached[c] < out ? cached[c] : out;
    k->slabs = snap.cls[c].slabs;
    k->active = (uint64_t)(snap.cls[c].slabs - snap.cls[c].empty_slabs) * ci->pages << HS_PAGE_SHIFT;
    k->allocated = (uint64_t)(out - in_cache) * ci->size;
    k->tcache = (uint64_t)in_cache * ci->size;
    k->nmalloc = snap.cls[c].nmalloc;
    k->nfree = snap.cls[c].nfree;
    k->free_slots = (uint64_t)snap.cls[c].slabs * ci->slots - out;
    f->allocated += k->allocated;
    f->active += k->active;
    f->tcache += k->tcache;
  }
  f->threads = snap.threads;
  f->remote = remote;
  f->allocated += snap.stats.large_bytes;
  f->active += snap.stats.large_bytes;
  f->mapped = snap.stats.chunk_bytes;
  f->dirty = (uint64_t)snap.dirty_pages << HS_PAGE_SHIFT;
  f->free = (uint64_t)snap.free_pages << HS_PAGE_SHIFT;
  f->large_bytes = snap.stats.large_bytes;
  f->large_count = snap.stats.large_count;
  f->slabs = snap.stats.slabs;
  f->returned_calls = snap.stats.returned_calls;
  f->returned_bytes = snap.stats.returned_bytes;
  f->guard = (uint64_t)snap.stats.guard_pages << HS_PAGE_SHIFT;
}

/* Every arena summed (classes summed too): the first pass of the walk. */
struct all_figures {
  struct arena_figures sum;
  size_t quarantined, huge_count, huge_bytes, huge_cached, huge_peak_count, huge_peak_bytes, chunks_cached, meta,
      chunkmap;
};

static void all_figures(struct all_figures *t) {
  memset(t, 0, sizeof *t);
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena_figures f;
    arena_figures(&hs_arenas[i], &f);
    uint64_t *dst = (uint64_t *)&t->sum, *src = (uint64_t *)&f;
    for (size_t w = 0; w < sizeof f / sizeof(uint64_t); w++) dst[w] += src[w];
  }
  t->quarantined = hs_conf.checked ? checked_quarantined_bytes() : 0;
  huge_stats(&t->huge_count, &t->huge_bytes, &t->huge_cached, &t->huge_peak_count, &t->huge_peak_bytes);
  t->chunks_cached = arena_source_cached_bytes();
  t->meta = meta_mapped_bytes();
  t->chunkmap = chunkmap_mapped_bytes();
}

static void totals_of(const struct all_figures *t, struct stats_totals *out) {
  size_t small_and_large = t->sum.allocated > t->quarantined ? t->sum.allocated - t->quarantined : 0;
  out->allocated = small_and_large + t->huge_bytes;
  out->active = t->sum.active + t->huge_bytes;
  out->tcache = t->sum.tcache;
  out->heap = t->sum.mapped + t->huge_bytes;
  out->mapped = out->heap + t->chunks_cached + t->huge_cached + t->meta + t->chunkmap;
  out->huge_count = t->huge_count;
  out->huge_bytes = t->huge_bytes;
  out->huge_peak_count = t->huge_peak_count;
  out->huge_peak_bytes = t->huge_peak_bytes;
}

void stats_totals(struct stats_totals *out) {
  struct all_figures t;
  all_figures(&t);
  totals_of(&t, out);
}

/* ---- what only the kernel knows ------------------------------------------------ */

/* One pass over the chunk map: resident and shared pages of every region,
 * and, when `arena_resident` is set, each arena's resident and huge-page
 * bytes (its chunks; huge blocks belong to no arena). */
struct sharing {
  size_t resident, shared;
  size_t *arena_resident, *arena_hugepage; /* ARENA_MAX entries, or NULL */
  bool failed, hugepage_failed;
  int error;
};

static void add_region(uintptr_t base, uintptr_t entry, void *arg) {
  struct sharing *s = arg;
  size_t resident, shared, huge;
  if (s->failed) return;
  if (!os_page_sharing((const void *)base, HS_CHUNK, &resident, &shared)) {
    s->failed = true;
    s->error = errno;
    return;
  }
  s->resident += resident << HS_PAGE_SHIFT;
  s->shared += shared << HS_PAGE_SHIFT;
  if (!s->arena_resident || (entry & CHUNKMAP_HUGE)) return;
  /* Read without the arena's lock: a chunk changing hands while the walk
   * runs counts for one owner or the other. */
  struct arena *a = __atomic_load_n(&((struct chunk *)entry)->arena, __ATOMIC_RELAXED);
  if (!a || a < hs_arenas || a >= hs_arenas + hs_arena_count) return;
  size_t i = (size_t)(a - hs_arenas);
  s->arena_resident[i] += resident << HS_PAGE_SHIFT;
  if (!s->hugepage_failed && resident) {
    if (os_hugepage_resident((const void *)base, HS_CHUNK, &huge)) s->arena_hugepage[i] += huge;
    else s->hugepage_failed = true;
  }
}

static bool sharing_walk(struct sharing *s, struct stats_fork *out) {
  chunkmap_each(add_region, s);
  if (s->failed) {
    errno = s->error;
    return false;
  }
  out->heap_resident = s->resident;
  out->heap_shared = s->shared;
  out->heap_private = s->resident - s->shared;
  out->forks = arena_fork_generation(&out->retired);
  return true;
}

bool stats_fork(struct stats_fork *out) {
  struct sharing s = {0};
  return sharing_walk(&s, out);
}

/* Whether a mapping holds one of our 2 MiB regions (chunks and huge blocks
 * start on one). */
static bool mapping_is_ours(uintptr_t lo, uintptr_t hi, void *arg) {
  (void)arg;
  for (uintptr_t p = HS_ALIGN_UP(lo, HS_CHUNK); p < hi && p >= lo; p += HS_CHUNK)
    if (chunkmap_get((const void *)p)) return true;
  return false;
}

struct measured {
  size_t heap_resident, heap_shared, meta_resident, meta_guard, hugepage;
  size_t arena_resident[ARENA_MAX], arena_hugepage[ARENA_MAX];
};

static void measure_kernel(struct measured *m) {
  struct stats_fork f;
  memset(m, 0, sizeof *m);
  int saved = errno;
  struct sharing s = {.arena_resident = m->arena_resident, .arena_hugepage = m->arena_hugepage};
  if (sharing_walk(&s, &f)) {
    m->heap_resident = f.heap_resident;
    m->heap_shared = f.heap_shared;
  }
  meta_usage(&m->meta_resident, &m->meta_guard);
  if (!os_anon_hugepage_bytes(mapping_is_ours, NULL, &m->hugepage)) m->hugepage = 0;
  errno = saved;
}

/* ---- the walk ------------------------------------------------------------------ */

static void put_u64(struct stats_sink *s, const char *name, uint64_t v, const char *help) {
  struct stats_value x = {.kind = STATS_U64, .u = v};
  s->value(s, name, x, help);
}

static void put_str(struct stats_sink *s, const char *name, const char *v, const char *help) {
  struct stats_value x = {.kind = STATS_STR, .s = v};
  s->value(s, name, x, help);
}

static void put_bool(struct stats_sink *s, const char *name, bool v, const char *help) {
  struct stats_value x = {.kind = STATS_BOOL, .b = v};
  s->value(s, name, x, help);
}

static void put_option(const struct config_option *o, void *arg) {
  struct stats_sink *s = arg;
  struct stats_value x = {0};
  switch (o->now.kind) {
    case CONFIG_NUMBER:
      x.kind = STATS_I64;
      x.i = o->now.number;
      break;
    case CONFIG_BOOL:
      x.kind = STATS_BOOL;
      x.b = o->now.flag;
      break;
    case CONFIG_WORD:
      x.kind = STATS_STR;
      x.s = o->now.word;
      break;
  }
  s->value(s, o->name, x, o->help);
}

static void put_classes(struct stats_sink *s, const struct class_figures *cls, bool sparse) {
  s->list_begin(s, "class");
  for (unsigned c = 0; c < SIZECLASS_SMALL; c++) {
    const struct class_figures *k = &cls[c];
    if (sparse && !k->nmalloc && !k->slabs) continue;
    s->group_begin(s, "class", (long)c);
    put_u64(s, "size", sizeclass_table[c].size, "slot size");
    put_u64(s, "slabs", k->slabs, "slabs (the empty ones kept for reuse too)");
    put_u64(s, "active", k->active, "bytes of slabs with a slot out");
    put_u64(s, "allocated", k->allocated, "bytes of slots the program holds");
    put_u64(s, "tcache", k->tcache, "bytes of free slots in thread caches");
    put_u64(s, "free_slots", k->free_slots, "free slots in slabs");
    put_u64(s, "nmalloc", k->nmalloc, "slots ever taken from slabs (into thread caches or to the program)");
    put_u64(s, "nfree", k->nfree, "slots ever put back into slabs");
    s->group_end(s, "class", (long)c);
  }
  s->list_end(s, "class");
}

static void put_arena(struct stats_sink *s, const struct arena_figures *f, size_t resident, size_t hugepage) {
  put_u64(s, "threads", f->threads, "threads bound to the arena");
  put_u64(s, "allocated", f->allocated, "bytes of small blocks and page runs the program holds");
  put_u64(s, "active", f->active, "bytes of slabs with a slot out and of page runs");
  put_u64(s, "tcache", f->tcache, "bytes of free slots in thread caches");
  put_u64(s, "remote_blocks", f->remote, "blocks its threads freed to other arenas, waiting for a batch");
  put_u64(s, "mapped", f->mapped, "bytes of chunks owned");
  put_u64(s, "free", f->free, "of those, bytes of free pages (dirty or returned)");
  put_u64(s, "dirty", f->dirty, "of those, bytes free but still resident (given back after decay_ms)");
  put_u64(s, "resident", resident, "bytes of its chunks resident (pagemap)");
  put_u64(s, "hugepage", hugepage, "of those, bytes on transparent huge pages (pagemap scan, Linux 6.7+; 0 before)");
  put_u64(s, "large_bytes", f->large_bytes, "bytes of page runs");
  put_u64(s, "large_count", f->large_count, "page runs");
  put_u64(s, "slabs", f->slabs, "slabs and page runs");
  put_u64(s, "guard", f->guard, "bytes of guard pages after its slabs and page runs (hardened mode)");
  put_u64(s, "returned_count", f->returned_calls, "madvise calls that gave pages of its chunks back");
  put_u64(s, "returned_bytes", f->returned_bytes, "bytes they gave back");
}

void stats_walk(struct stats_sink *s, bool measure, bool sparse) {
  struct all_figures t;
  struct stats_totals tot;
  struct measured m = {0};
  uint64_t returned_calls, returned_bytes;
  all_figures(&t);
  totals_of(&t, &tot);
  if (measure) measure_kernel(&m);
  os_returned(&returned_calls, &returned_bytes);

  put_str(s, "version", PACKAGE_VERSION, "hugeslab's version");
  put_u64(s, "schema", STATS_SCHEMA, "version of this report's layout");
  put_str(s, "thp_system", os_thp_mode(), "the kernel's transparent huge page mode");

  s->group_begin(s, "stats", -1);
  put_u64(s, "allocated", tot.allocated, "bytes of blocks the program holds");
  put_u64(s, "active", tot.active, "bytes of slabs with a slot out, page runs and huge blocks");
  put_u64(s, "tcache", tot.tcache, "bytes of free slots in thread caches");
  put_u64(s, "mapped", tot.mapped, "bytes mapped: heap, cached chunks and huge blocks, metadata, chunk map");
  put_u64(s, "resident", m.heap_resident + m.meta_resident, "of those, bytes resident (pagemap)");
  put_u64(s, "heap", tot.heap, "bytes of chunks owned by arenas and of huge blocks");
  put_u64(s, "heap_resident", m.heap_resident, "of those, bytes resident");
  put_u64(s, "dirty", t.sum.dirty, "bytes free but still resident (given back after decay_ms)");
  put_u64(s, "returned_count", returned_calls, "madvise calls that gave memory back");
  put_u64(s, "returned_bytes", returned_bytes, "bytes they gave back");
  put_u64(s, "hugepage", m.hugepage, "bytes of our mappings on transparent huge pages (smaps AnonHugePages)");
  put_u64(s, "guard", huge_guard_bytes() + m.meta_guard + t.sum.guard,
          "bytes of guard pages (huge blocks, metadata, and in hardened mode slabs and page runs)");
  put_u64(s, "metadata", t.meta + t.chunkmap, "bytes of metadata and chunk map mapped");
  put_u64(s, "metadata_resident", m.meta_resident, "of the metadata, bytes resident");
  put_u64(s, "small_allocated", t.sum.allocated - t.sum.large_bytes, "bytes of small blocks the program holds");
  put_u64(s, "large_bytes", t.sum.large_bytes, "bytes in page runs");
  put_u64(s, "large_count", t.sum.large_count, "page runs");
  put_u64(s, "huge_bytes", t.huge_bytes, "bytes in huge mappings");
  put_u64(s, "huge_count", t.huge_count, "huge mappings");
  put_u64(s, "huge_peak_count", t.huge_peak_count, "most huge mappings live at once");
  put_u64(s, "huge_peak_bytes", t.huge_peak_bytes, "most bytes in huge mappings at once");
  put_u64(s, "chunk_bytes", t.sum.mapped, "bytes of chunks owned by arenas");
  put_u64(s, "cached_chunk_bytes", t.chunks_cached, "bytes of purged chunks kept for reuse");
  put_u64(s, "cached_huge_bytes", t.huge_cached, "bytes of freed huge mappings kept for reuse");
  put_u64(s, "quarantined", t.quarantined, "bytes freed and held back by a checking mode");
  put_u64(s, "remote_blocks", t.sum.remote, "blocks freed to other arenas, waiting in a thread's batch");
  put_u64(s, "slabs", t.sum.slabs, "slabs and page runs");
  put_u64(s, "threads", t.sum.threads, "threads with a cache");
  put_u64(s, "arenas", hs_arena_count, "arenas");
  s->group_end(s, "stats", -1);

  int retired;
  s->group_begin(s, "fork", -1);
  put_u64(s, "forks", arena_fork_generation(&retired), "forks this heap went through (as parent or child)");
  put_bool(s, "retired", retired != 0, "slabs made before the last fork are kept off (fork_fresh)");
  put_u64(s, "inherited", fork_inherited_bytes(), "bytes of heap this process inherited at its fork");
  put_u64(s, "shared", m.heap_shared, "bytes of heap resident and shared with another process");
  put_u64(s, "private", m.heap_resident - m.heap_shared, "bytes of heap resident in this process alone");
  s->group_end(s, "fork", -1);

  s->group_begin(s, "opt", -1);
  config_each(put_option, s);
  s->group_end(s, "opt", -1);

  put_classes(s, t.sum.cls, sparse);

  s->list_begin(s, "arena");
  for (unsigned i = 0; i < hs_arena_count; i++) {
    struct arena_figures f;
    arena_figures(&hs_arenas[i], &f);
    s->group_begin(s, "arena", (long)i);
    put_arena(s, &f, m.arena_resident[i], m.arena_hugepage[i]);
    put_classes(s, f.cls, sparse);
    s->group_end(s, "arena", (long)i);
  }
  s->list_end(s, "arena");
}

/* ---- printing ------------------------------------------------------------------ */

struct printer {
  struct stats_sink sink;
  void (*emit)(void *opaque, const char *s, size_t n); /* the caller's write */
  void *opaque;
  unsigned depth;
  bool first[8];          /* json: nothing written yet at this depth */
  bool line_open;         /* text: an item's line is being written */
  /* xml: the figures a heap element or a size element needs. */
  long arena;             /* the arena item being walked, -1 outside */
  long cls;               /* the class item being walked, -1 outside */
  uint64_t cls_free, cls_size, arena_mapped, arena_free, arena_free_count;
  struct stats_totals glibc; /* text: the summary's figures, as they pass */
};

static void out(struct printer *p, const char *s) { p->emit(p->opaque, s, strlen(s)); }

static void out_u64(struct printer *p, uint64_t v) {
  char num[24];
  p->emit(p->opaque, num, os_format_dec(num, v));
}

/* A JSON string's body: '"', '\\' and control characters escaped. */
static void out_json_escaped(struct printer *p, const char *s) {
  static const char hex[] = "0123456789abcdef";
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (s > run) p->emit(p->opaque, run, (size_t)(s - run));
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    if (c == '"' || c == '\\') p->emit(p->opaque, (char[]){'\\', (char)c}, 2);
    else p->emit(p->opaque, esc, sizeof esc);
    run = s + 1;
  }
  if (s > run) p->emit(p->opaque, run, (size_t)(s - run));
}

static void out_value(struct printer *p, struct stats_value v, bool quote) {
  switch (v.kind) {
    case STATS_U64:
      out_u64(p, v.u);
      break;
    case STATS_I64:
      if (v.i < 0) out(p, "-");
      out_u64(p, v.i < 0 ? (uint64_t)-(v.i + 1) + 1 : (uint64_t)v.i);
      break;
    case STATS_BOOL:
      out(p, v.b ? "true" : "false");
      break;
    case STATS_STR:
      if (!quote) {
        out(p, v.s);
        break;
      }
      out(p, "\"");
      out_json_escaped(p, v.s); /* stats_file is the user's path */
      out(p, "\"");
      break;
  }
}

/* text */

static void text_end_line(struct printer *p) {
  if (p->line_open) out(p, "\n");
  p->line_open = false;
}

static void text_group_begin(struct stats_sink *s, const char *name, long index) {
  struct printer *p = (struct printer *)s;
  text_end_line(p);
  p->depth++;
  if (index < 0) {
    if (strcmp(name, "stats") != 0) {
      out(p, name);
      out(p, ":\n");
    }
    return;
  }
  for (unsigned d = 1; d < p->depth; d++) out(p, "  ");
  out(p, name);
  out(p, " ");
  out_u64(p, (uint64_t)index);
  out(p, ":");
  p->line_open = true;
}

static void text_group_end(struct stats_sink *s, const char *name, long index) {
  struct printer *p = (struct printer *)s;
  (void)name;
  (void)index;
  text_end_line(p);
  p->depth--;
}

static void text_list(struct stats_sink *s, const char *name) {
  (void)s;
  (void)name;
}

static void text_value(struct stats_sink *s, const char *name, struct stats_value v, const char *help) {
  struct printer *p = (struct printer *)s;
  if (p->line_open) {
    out(p, " ");
    out(p, name);
    out(p, "=");
    out_value(p, v, false);
    return;
  }
  if (p->depth == 0) {
    if (strcmp(name, "version") == 0) {
      out(p, "hugeslab ");
      out_value(p, v, false);
    } else if (strcmp(name, "thp_system") == 0) {
      out(p, " (thp: ");
      out_value(p, v, false);
      out(p, ")\n");
    }
    return;
  }
  out(p, "  ");
  out(p, name);
  out(p, " = ");
  out_value(p, v, false);
  out(p, "  # ");
  out(p, help);
  out(p, "\n");
  if (p->depth == 1 && v.kind == STATS_U64) {
    if (strcmp(name, "mapped") == 0) p->glibc.mapped = v.u;
    else if (strcmp(name, "allocated") == 0) p->glibc.allocated = v.u;
    else if (strcmp(name, "huge_peak_count") == 0) p->glibc.huge_peak_count = v.u;
    else if (strcmp(name, "huge_peak_bytes") == 0) p->glibc.huge_peak_bytes = v.u;
  }
}

/* glibc's "%-16s = %10lu" line. */
static void text_glibc_line(struct printer *p, const char *label, uint64_t v) {
  char num[24];
  size_t n = os_format_dec(num, v);
  out(p, label);
  for (size_t pad = strlen(label); pad < 16; pad++) out(p, " ");
  out(p, " = ");
  for (size_t pad = n; pad < 10; pad++) out(p, " ");
  p->emit(p->opaque, num, n);
  out(p, "\n");
}

/* json */

static void json_comma(struct printer *p) {
  if (!p->first[p->depth]) out(p, ",");
  p->first[p->depth] = false;
  out(p, "\n");
  for (unsigned d = 0; d < p->depth; d++) out(p, "  ");
}

static void json_open(struct printer *p, const char *bracket) {
  out(p, bracket);
  p->depth++;
  p->first[p->depth] = true;
}

static void json_close(struct printer *p, const char *bracket) {
  bool empty = p->first[p->depth];
  p->depth--;
  if (!empty) {
    out(p, "\n");
    for (unsigned d = 0; d < p->depth; d++) out(p, "  ");
  }
  out(p, bracket);
}

static void json_group_begin(struct stats_sink *s, const char *name, long index) {
  struct printer *p = (struct printer *)s;
  json_comma(p);
  if (index < 0) {
    out(p, "\"");
    out(p, name);
    out(p, "\": ");
  }
  json_open(p, "{");
  if (index >= 0) {
    json_comma(p);
    out(p, "\"index\": ");
    out_u64(p, (uint64_t)index);
  }
}

static void json_group_end(struct stats_sink *s, const char *name, long index) {
  (void)name;
  (void)index;
  json_close((struct printer *)s, "}");
}

static void json_list_begin(struct stats_sink *s, const char *name) {
  struct printer *p = (struct printer *)s;
  json_comma(p);
  out(p, "\"");
  out(p, name);
  out(p, "\": ");
  json_open(p, "[");
}

static void json_list_end(struct stats_sink *s, const char *name) {
  (void)name;
  json_close((struct printer *)s, "]");
}

static void json_value(struct stats_sink *s, const char *name, struct stats_value v, const char *help) {
  struct printer *p = (struct printer *)s;
  (void)help;
  json_comma(p);
  out(p, "\"");
  out(p, name);
  out(p, "\": ");
  out_value(p, v, true);
}

static void out_config_value(struct printer *p, const struct config_value *v) {
  struct stats_value x = {0};
  switch (v->kind) {
    case CONFIG_NUMBER: x = (struct stats_value){.kind = STATS_I64, .i = v->number}; break;
    case CONFIG_BOOL: x = (struct stats_value){.kind = STATS_BOOL, .b = v->flag}; break;
    case CONFIG_WORD: x = (struct stats_value){.kind = STATS_STR, .s = v->word}; break;
  }
  out_value(p, x, false);
}

/* "options": name, default, value in force, meaning; tab-separated. */
static void put_option_line(const struct config_option *o, void *arg) {
  struct printer *p = arg;
  out(p, o->name);
  out(p, "\t");
  out_config_value(p, &o->fallback);
  out(p, "\t");
  out_config_value(p, &o->now);
  out(p, "\t");
  out(p, o->help);
  out(p, "\n");
}

bool stats_report(void (*write)(void *opaque, const char *s, size_t n), void *opaque, const char *format) {
  struct printer p = {.emit = write, .opaque = opaque};
  if (!format || strcmp(format, "text") == 0) {
    p.sink = (struct stats_sink){text_group_begin, text_group_end, text_list, text_list, text_value};
    stats_walk(&p.sink, true, true);
    text_end_line(&p);
    out(&p, "Total (incl. mmap):\n");
    text_glibc_line(&p, "system bytes", p.glibc.mapped);
    text_glibc_line(&p, "in use bytes", p.glibc.allocated);
    text_glibc_line(&p, "max mmap regions", p.glibc.huge_peak_count);
    text_glibc_line(&p, "max mmap bytes", p.glibc.huge_peak_bytes);
    return true;
  }
  if (strcmp(format, "options") == 0) {
    config_each(put_option_line, &p);
    return true;
  }
  if (strcmp(format, "json") == 0) {
    p.sink = (struct stats_sink){json_group_begin, json_group_end, json_list_begin, json_list_end, json_value};
    json_open(&p, "{");
    stats_walk(&p.sink, true, false);
    json_close(&p, "}");
    out(&p, "\n");
    return true;
  }
  errno = EINVAL;
  return false;
}

/* xml: glibc's malloc_info layout (a heap per arena, free slots by size, the
 * totals), with every figure of the totals as a <stat> element. */

static void xml_group_begin(struct stats_sink *s, const char *name, long index) {
  struct printer *p = (struct printer *)s;
  p->depth++;
  if (index < 0) return;
  if (strcmp(name, "arena") == 0) {
    p->arena = index;
    p->arena_free = p->arena_free_count = p->arena_mapped = 0;
    out(p, "<heap nr=\"");
    out_u64(p, (uint64_t)index);
    out(p, "\">\n<sizes>\n");
  } else {
    p->cls = index;
    p->cls_free = 0;
    p->cls_size = sizeclass_table[index].size;
  }
}

static void xml_total(struct printer *p, const char *type, uint64_t count, uint64_t size) {
  out(p, "<total type=\"");
  out(p, type);
  out(p, "\" count=\"");
  out_u64(p, count);
  out(p, "\" size=\"");
  out_u64(p, size);
  out(p, "\"/>\n");
}

static void xml_system(struct printer *p, uint64_t size) {
  out(p, "<system type=\"current\" size=\"");
  out_u64(p, size);
  out(p, "\"/>\n<system type=\"max\" size=\"");
  out_u64(p, size);
  out(p, "\"/>\n<aspace type=\"total\" size=\"");
  out_u64(p, size);
  out(p, "\"/>\n<aspace type=\"mprotect\" size=\"");
  out_u64(p, size);
  out(p, "\"/>\n");
}

static void xml_group_end(struct stats_sink *s, const char *name, long index) {
  struct printer *p = (struct printer *)s;
  p->depth--;
  if (index < 0) return;
  if (strcmp(name, "arena") == 0) {
    out(p, "</sizes>\n");
    xml_total(p, "fast", 0, 0);
    xml_total(p, "rest", p->arena_free_count, p->arena_free);
    xml_system(p, p->arena_mapped);
    out(p, "</heap>\n");
    p->arena = -1;
    return;
  }
  if (p->arena >= 0 && p->cls_free) {
    uint64_t from = index > 0 ? sizeclass_table[index - 1].size + 1 : 1;
    out(p, "<size from=\"");
    out_u64(p, from);
    out(p, "\" to=\"");
    out_u64(p, p->cls_size);
    out(p, "\" total=\"");
    out_u64(p, p->cls_free * p->cls_size);
    out(p, "\" count=\"");
    out_u64(p, p->cls_free);
    out(p, "\"/>\n");
    p->arena_free += p->cls_free * p->cls_size;
    p->arena_free_count += p->cls_free;
  }
  p->cls = -1;
}

static void xml_value(struct stats_sink *s, const char *name, struct stats_value v, const char *help) {
  struct printer *p = (struct printer *)s;
  (void)help;
  if (p->cls >= 0) {
    /* Free slots, in slabs or in thread caches. */
    if (strcmp(name, "free_slots") == 0) p->cls_free += v.u;
    else if (strcmp(name, "tcache") == 0) p->cls_free += v.u / p->cls_size;
    return;
  }
  if (p->arena >= 0) {
    if (strcmp(name, "mapped") == 0) p->arena_mapped = v.u;
    return;
  }
  if (p->depth != 1 || v.kind != STATS_U64) return;
  if (strcmp(name, "mapped") == 0) p->glibc.mapped = v.u;
  else if (strcmp(name, "huge_count") == 0) p->glibc.huge_count = v.u;
  else if (strcmp(name, "huge_bytes") == 0) p->glibc.huge_bytes = v.u;
  out(p, "<stat name=\"");
  out(p, name);
  out(p, "\" value=\"");
  out_u64(p, v.u);
  out(p, "\"/>\n");
}

void stats_report_xml(void (*write)(void *opaque, const char *s, size_t n), void *opaque) {
  struct printer p = {.emit = write, .opaque = opaque, .arena = -1, .cls = -1};
  p.sink = (struct stats_sink){xml_group_begin, xml_group_end, text_list, text_list, xml_value};
  out(&p, "<malloc version=\"hugeslab-" PACKAGE_VERSION "\">\n");
  stats_walk(&p.sink, true, true);
  xml_total(&p, "mmap", p.glibc.huge_count, p.glibc.huge_bytes);
  xml_system(&p, p.glibc.mapped);
  out(&p, "</malloc>\n");
}

/* stderr, through a buffer that is flushed when full: the report is any
 * length. */
/* The exit report and malloc_stats write through a stack buffer to a file
 * descriptor (stderr or stats_file's). */
struct report_buffer {
  char buf[1024];
  size_t len;
  int fd;
};

static void report_write(void *opaque, const char *s, size_t n) {
  struct report_buffer *b = opaque;
  while (n) {
    size_t take = n < sizeof b->buf - b->len ? n : sizeof b->buf - b->len;
    memcpy(b->buf + b->len, s, take);
    b->len += take;
    s += take;
    n -= take;
    if (b->len == sizeof b->buf) {
      os_write_fd(b->fd, b->buf, b->len);
      b->len = 0;
    }
  }
}

static void report_to(int fd, bool json) {
  struct report_buffer b;
  b.len = 0;
  b.fd = fd;
  int cancel = os_cancel_off(); /* os_thp_mode opens and reads a file */
  stats_report(report_write, &b, json ? "json" : "text");
  if (b.len) os_write_fd(fd, b.buf, b.len);
  os_cancel_restore(cancel);
}

void stats_print(bool json) { report_to(2, json); }

void stats_print_exit(bool json) {
  const char *name = hs_conf.stats_file;
  char path[sizeof hs_conf.stats_file + 24];
  size_t n = 0;
  if (!*name) {
    report_to(2, json);
    return;
  }
  for (const char *p = name; *p && n < sizeof path - 21; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      n += os_format_dec(path + n, os_pid());
      p++;
    } else {
      path[n++] = *p;
    }
  }
  path[n] = 0;
  int fd = os_open_append(path);
  if (fd < 0) {
    static const char head[] = "hugeslab: stats_file: cannot open ";
    char line[sizeof head + sizeof path + 24];
    size_t len = sizeof head - 1;
    memcpy(line, head, len);
    memcpy(line + len, path, n);
    len += n;
    static const char tail[] = ", the report goes to stderr\n";
    memcpy(line + len, tail, sizeof tail - 1);
    os_write_stderr(line, len + sizeof tail - 1);
    report_to(2, json);
    return;
  }
  report_to(fd, json);
  os_close_fd(fd);
}

/* ---- one figure by name ------------------------------------------------------ */

struct lookup {
  struct stats_sink sink;
  const char *name;
  char path[96];
  size_t len, marks[8];
  unsigned depth;
  bool found;
  struct stats_value value;
};

static void lookup_append(struct lookup *l, const char *s) {
  size_t n = strlen(s);
  if (l->len + n >= sizeof l->path) n = sizeof l->path - 1 - l->len;
  memcpy(l->path + l->len, s, n);
  l->len += n;
  l->path[l->len] = 0;
}

static void lookup_group_begin(struct stats_sink *s, const char *name, long index) {
  struct lookup *l = (struct lookup *)s;
  l->marks[l->depth++] = l->len;
  lookup_append(l, name);
  lookup_append(l, ".");
  if (index >= 0) {
    char num[24];
    num[os_format_dec(num, (uint64_t)index)] = 0;
    lookup_append(l, num);
    lookup_append(l, ".");
  }
}

static void lookup_group_end(struct stats_sink *s, const char *name, long index) {
  struct lookup *l = (struct lookup *)s;
  (void)name;
  (void)index;
  l->len = l->marks[--l->depth];
  l->path[l->len] = 0;
}

static void lookup_value(struct stats_sink *s, const char *name, struct stats_value v, const char *help) {
  struct lookup *l = (struct lookup *)s;
  (void)help;
  if (l->found || strncmp(l->name, l->path, l->len) != 0 || strcmp(l->name + l->len, name) != 0) return;
  l->found = true;
  l->value = v;
}

int stats_ctl_get(const char *name, void *out, size_t *len) {
  if (!name || !len) {
    errno = EINVAL;
    return -1;
  }
  struct lookup l = {.name = name};
  l.sink = (struct stats_sink){lookup_group_begin, lookup_group_end, text_list, text_list, lookup_value};
  /* Only the totals, the fork figures and an arena's resident and huge-page
   * bytes need the kernel's counts. */
  bool measure = strncmp(name, "stats.", 6) == 0 || strncmp(name, "fork.", 5) == 0 ||
                 (strncmp(name, "arena.", 6) == 0 && (strstr(name, ".resident") || strstr(name, ".hugepage")));
  stats_walk(&l.sink, measure, false);
  if (!l.found) {
    errno = ENOENT;
    return -1;
  }
  size_t need = l.value.kind == STATS_BOOL ? sizeof(bool) : l.value.kind == STATS_STR ? sizeof(char *) : 8;
  if (!out) {
    *len = need;
    return 0;
  }
  if (*len != need) {
    *len = need;
    errno = EINVAL;
    return -1;
  }
  switch (l.value.kind) {
    case STATS_U64: memcpy(out, &l.value.u, 8); break;
    case STATS_I64: memcpy(out, &l.value.i, 8); break;
    case STATS_BOOL: memcpy(out, &l.value.b, sizeof(bool)); break;
    case STATS_STR: memcpy(out, &l.value.s, sizeof(char *)); break;
  }
  return 0;
}
