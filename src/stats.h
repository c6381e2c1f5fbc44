/* stats: one walk over every counter of every layer, and what reads it.
 *
 * stats_walk() visits the figures in one fixed order (the schema, named in
 * STATS_SCHEMA): the header values, the totals ("stats"), the fork figures
 * ("fork"), the options in force ("opt"), the size classes summed over the
 * arenas ("class", one item per class) and every arena ("arena", each with
 * its own "class" list). Each figure reaches a sink as a name, a value and
 * one line of help. The sinks are the text report (malloc_stats and the
 * report at exit), the JSON report, glibc's malloc_info XML and hs_ctl_get's
 * lookup by dotted name ("stats.resident", "arena.0.class.3.active",
 * "opt.decay_ms"). Nothing allocates and no allocator lock is held while a
 * sink runs: each arena is copied under its lock, then reported, so a sink
 * may write through stdio (which allocates) or call malloc itself. */
#ifndef HS_STATS_H
#define HS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped when a figure is renamed or removed (adding one keeps it). */
#define STATS_SCHEMA 1

enum stats_kind { STATS_U64, STATS_I64, STATS_BOOL, STATS_STR };

struct stats_value {
  enum stats_kind kind;
  union {
    uint64_t u;
    int64_t i;
    bool b;
    const char *s;
  };
};

/* What the walk calls, in order. A group is an object (index < 0: "stats",
 * "fork", "opt") or one item of a list (index >= 0: "class" 3, "arena" 0);
 * list_begin/list_end bracket the items of a list. */
struct stats_sink {
  void (*group_begin)(struct stats_sink *s, const char *name, long index);
  void (*group_end)(struct stats_sink *s, const char *name, long index);
  void (*list_begin)(struct stats_sink *s, const char *name);
  void (*list_end)(struct stats_sink *s, const char *name);
  void (*value)(struct stats_sink *s, const char *name, struct stats_value v, const char *help);
};

/* Totals the API's mallinfo2 reads (the same numbers the reports print). */
struct stats_totals {
  size_t allocated;   /* bytes of blocks the program holds */
  size_t active;      /* bytes of slabs with a slot out, page runs, huge blocks */
  size_t tcache;      /* bytes of free slots in thread caches */
  size_t heap;        /* bytes of chunks owned by arenas and of huge blocks */
  size_t mapped;      /* every byte mapped: heap, cached chunks and huge
                         blocks, metadata, chunk map */
  size_t huge_count, huge_bytes, huge_peak_count, huge_peak_bytes;
};

/* The walk. `measure`: also read /proc/self/pagemap and smaps for the
 * figures that need them (resident, huge-page, shared and metadata
 * resident bytes); without it they read 0. `sparse`: skip size classes that
 * were never used (the text report). */
void stats_walk(struct stats_sink *sink, bool measure, bool sparse);

/* The totals alone (no pagemap reads). */
void stats_totals(struct stats_totals *out);

/* Write the report in `format` ("text", or "json") through write(opaque,
 * s, n), or with "options" one line per option: name, default, value in
 * force and meaning, tab-separated; false + EINVAL for another format. */
bool stats_report(void (*write)(void *opaque, const char *s, size_t n), void *opaque, const char *format);

/* malloc_info's XML through write. */
void stats_report_xml(void (*write)(void *opaque, const char *s, size_t n), void *opaque);

/* The text (or with json, JSON) report on stderr with write(2): not
 * cancellable partway (cancellation is off while it runs). The text ends
 * with glibc's "Total (incl. mmap)" summary in glibc's own format (system
 * bytes, in use bytes, max mmap regions, max mmap bytes) for the tools and
 * tests that read it. */
void stats_print(bool json);

/* The report at exit: to hs_conf.stats_file when one is set (appended,
 * "%p" replaced by the pid), else to stderr. A file that cannot be opened
 * gets one warning line on stderr and the report goes there. */
void stats_print_exit(bool json);

/* One figure by its dotted name into out (*len bytes: 8 for numbers,
 * sizeof(bool) for flags, sizeof(char *) for words); with out NULL, *len
 * gets the size alone. -1 + ENOENT for an unknown name, EINVAL for a size
 * that does not match (*len then holds the right one). */
int stats_ctl_get(const char *name, void *out, size_t *len);

/* How much of the heap is shared with another process (hs_fork_stats). */
struct stats_fork {
  size_t heap_resident, heap_shared, heap_private;
  unsigned forks;
  int retired;
};

/* Read from /proc/self/pagemap over every chunk and huge block; false +
 * errno when it cannot be read. */
bool stats_fork(struct stats_fork *out);

#endif
