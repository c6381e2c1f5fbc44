/* stats: see stats.h. */
#include "stats.h"

#include <errno.h>
#include <string.h>
#include "arena.h"
#include "chunkmap.h"
#include "huge.h"
#include "meta.h"
#include "compiler.h"
#include "os.h"

void stats_collect(struct hs_stats *out) {
  struct arena_stats a;
  arena_stats_sum(&a);
  memset(out, 0, sizeof *out);
  out->small_bytes = a.small_out_bytes;
  out->large_bytes = a.large_bytes;
  out->large_count = a.large_count;
  out->chunk_bytes = a.chunk_bytes;
  out->dirty_bytes = arena_dirty_bytes();
  out->slabs = a.slabs;
  huge_stats(&out->huge_count, &out->huge_bytes, &out->cached_huge_bytes, &out->huge_peak_count,
             &out->huge_peak_bytes);
  out->cached_chunk_bytes = arena_source_cached_bytes();
  out->meta_bytes = meta_mapped_bytes();
  out->chunkmap_bytes = chunkmap_mapped_bytes();
  out->arenas = hs_arena_count;
}

struct sharing {
  size_t resident, shared;
  bool failed;
  int error;
};

static void add_region(uintptr_t base, uintptr_t entry, void *arg) {
  (void)entry;
  struct sharing *s = arg;
  size_t resident, shared;
  if (s->failed) return;
  if (!os_page_sharing((const void *)base, HS_CHUNK, &resident, &shared)) {
    s->failed = true;
    s->error = errno;
    return;
  }
  s->resident += resident << HS_PAGE_SHIFT;
  s->shared += shared << HS_PAGE_SHIFT;
}

bool stats_fork(struct stats_fork *out) {
  struct sharing s = {0};
  chunkmap_each(add_region, &s);
  if (s.failed) {
    errno = s.error;
    return false;
  }
  out->heap_resident = s.resident;
  out->heap_shared = s.shared;
  out->heap_private = s.resident - s.shared;
  out->forks = arena_fork_generation(&out->retired);
  return true;
}

struct text {
  char *buf;
  size_t len, cap;
};

static void put(struct text *t, const char *s) {
  size_t n = strlen(s);
  if (t->len + n >= t->cap) n = t->cap - 1 - t->len;
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = 0;
}

static void put_num(struct text *t, size_t v) {
  char num[24];
  size_t n = os_format_dec(num, v);
  num[n] = 0;
  put(t, num);
}

/* glibc's "%-16s = %10lu" line. */
static void put_glibc_line(struct text *t, const char *label, size_t v) {
  char num[24];
  size_t n = os_format_dec(num, v);
  num[n] = 0;
  put(t, label);
  for (size_t pad = strlen(label); pad < 16; pad++) put(t, " ");
  put(t, " = ");
  for (size_t pad = n; pad < 10; pad++) put(t, " ");
  put(t, num);
  put(t, "\n");
}

void stats_print(void) {
  struct hs_stats s;
  char buf[2048];
  struct text t = {buf, 0, sizeof buf};
  int cancel = os_cancel_off(); /* os_thp_mode opens and reads a file */
  stats_collect(&s);
  put(&t, "hugeslab " PACKAGE_VERSION " (thp: ");
  put(&t, os_thp_mode());
  put(&t, ")\n");
#define STATS_LINE(name, help) \
  put(&t, "  " #name " = ");   \
  put_num(&t, s.name);         \
  put(&t, "  # " help "\n");
  STATS_FIELDS(STATS_LINE)
#undef STATS_LINE
  struct stats_fork f;
  if (stats_fork(&f)) {
    put(&t, "  forks = ");
    put_num(&t, f.forks);
    put(&t, "  # forks this heap went through (as parent or child)\n  heap_resident_bytes = ");
    put_num(&t, f.heap_resident);
    put(&t, "  # chunks and huge blocks resident\n  heap_shared_bytes = ");
    put_num(&t, f.heap_shared);
    put(&t, "  # of those, shared with another process (a parent or child after fork)\n");
  }
  put(&t, "Total (incl. mmap):\n");
  put_glibc_line(&t, "system bytes", s.chunk_bytes + s.huge_bytes + s.meta_bytes + s.chunkmap_bytes);
  put_glibc_line(&t, "in use bytes", s.small_bytes + s.large_bytes + s.huge_bytes);
  put_glibc_line(&t, "max mmap regions", s.huge_peak_count);
  put_glibc_line(&t, "max mmap bytes", s.huge_peak_bytes);
  os_write_stderr(buf, t.len);
  os_cancel_restore(cancel);
}

size_t stats_format_xml(char *buf, size_t cap) {
  struct hs_stats s;
  struct text t = {buf, 0, cap};
  buf[0] = 0;
  stats_collect(&s);
  put(&t, "<malloc version=\"hugeslab-" PACKAGE_VERSION "\">\n");
#define STATS_XML(name, help) \
  put(&t, "<stat name=\"" #name "\" value=\""); \
  put_num(&t, s.name);                         \
  put(&t, "\"/>\n");
  STATS_FIELDS(STATS_XML)
#undef STATS_XML
  put(&t, "<total type=\"mmap\" count=\"");
  put_num(&t, s.huge_count);
  put(&t, "\" size=\"");
  put_num(&t, s.huge_bytes);
  put(&t, "\"/>\n<system type=\"current\" size=\"");
  put_num(&t, s.chunk_bytes + s.huge_bytes + s.meta_bytes);
  put(&t, "\"/>\n</malloc>\n");
  return t.len;
}
