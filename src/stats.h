/* stats: the counters a caller can ask for, gathered from every layer, and
 * the printed reports (malloc_stats text, malloc_info XML). One list of
 * fields (STATS_FIELDS) produces the struct, the text and the XML. */
#ifndef HS_STATS_H
#define HS_STATS_H

#include <stdbool.h>
#include <stddef.h>

#define STATS_FIELDS(X)                                                         \
  X(small_bytes, "bytes in small blocks (live or in thread caches)")            \
  X(large_bytes, "bytes in page runs")                                          \
  X(large_count, "page runs")                                                   \
  X(huge_bytes, "bytes in huge mappings")                                       \
  X(huge_count, "huge mappings")                                                \
  X(huge_peak_count, "most huge mappings live at once")                         \
  X(huge_peak_bytes, "most bytes in huge mappings at once")                     \
  X(chunk_bytes, "bytes of chunks owned by arenas")                             \
  X(dirty_bytes, "of those, bytes free but still resident (given back after decay_ms)") \
  X(cached_chunk_bytes, "bytes of purged chunks kept for reuse")                \
  X(cached_huge_bytes, "bytes of freed huge mappings kept for reuse")           \
  X(slabs, "slabs and page runs")                                               \
  X(meta_bytes, "bytes of metadata mapped")                                     \
  X(chunkmap_bytes, "bytes of chunk-map leaves mapped")                         \
  X(arenas, "arenas")

struct hs_stats {
#define STATS_MEMBER(name, help) size_t name;
  STATS_FIELDS(STATS_MEMBER)
#undef STATS_MEMBER
};

/* Gather a consistent-enough snapshot (each arena read under its lock). */
void stats_collect(struct hs_stats *out);

/* The malloc_stats() report, written to stderr with write(2): our fields,
 * then glibc's "Total (incl. mmap)" summary in glibc's own format (system
 * bytes, in use bytes, max mmap regions, max mmap bytes) for the tools and
 * tests that read it. Not cancellable partway (cancellation is off while it
 * runs). */
void stats_print(void);

/* How much of the heap is shared with another process (hs_fork_stats). */
struct stats_fork {
  size_t heap_resident, heap_shared, heap_private;
  unsigned forks;
  int retired;
};

/* Read from /proc/self/pagemap over every chunk and huge block; false +
 * errno when it cannot be read. */
bool stats_fork(struct stats_fork *out);

/* The malloc_info() XML into buf (NUL-terminated, truncated to cap). */
size_t stats_format_xml(char *buf, size_t cap);

#endif
