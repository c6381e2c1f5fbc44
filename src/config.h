/* config: HUGESLAB_CONF parsing and the settings every layer reads.
 *
 * HUGESLAB_CONF=key:value,key:value is read once at initialisation, straight
 * from the environment block (no getenv, no allocation). An unknown key or a
 * bad value prints one warning line naming it and that setting keeps its
 * default; the other settings still apply. One table (config.c) drives the
 * parser, the warning and the README's option list. */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

enum hs_thp_mode { HS_THP_AUTO, HS_THP_ALWAYS, HS_THP_NEVER };
enum hs_stats_print { HS_STATS_OFF, HS_STATS_TEXT, HS_STATS_JSON };

struct hs_config {
  unsigned arenas;          /* 0 = one per CPU */
  bool tcache;              /* thread caches on */
  enum hs_thp_mode thp;     /* transparent huge pages for chunks */
  size_t thp_min_heap;      /* auto: heap bytes before chunks ask for huge pages */
  enum hs_stats_print stats_print; /* the report printed at exit */
  int decay_ms;             /* dirty memory older than this goes back; 0 = at once, -1 = never */
  bool purge_lazy;          /* give pages back with MADV_FREE, not MADV_DONTNEED */
  bool background_thread;   /* a thread that purges while the program is idle */
  bool fork_fresh;          /* after fork, new blocks go to fresh slabs on both sides */
  bool pool_ksm;            /* sealed pools are marked MADV_MERGEABLE */
  int fork_settle_ms;       /* parent: how long its pre-fork slabs stay retired;
                               -1 = until hs_fork_settle() */
  bool hardened;            /* hugeslab checks every block itself (checked.h) */
  char stats_file[256];     /* the exit report's file ("%p": the pid); "" = stderr */
  bool memcheck;            /* running under Valgrind with client requests built
                               in (memcheck.h); hardened is then off */
  bool checked;             /* hardened or memcheck: every block goes through checked.c */
};

/* Written once by config_init() before any other layer starts; read-only after. */
extern struct hs_config hs_conf;

/* Parse HUGESLAB_CONF from the environment block (once; later calls do
 * nothing). */
void config_init(void);

/* Parse one configuration string into hs_conf (config_init's worker, exposed
 * for tests). Returns the number of bad entries (each was warned about). */
unsigned config_parse(const char *conf);

/* One option's value as the stats and `hugeslab conf` show it. */
struct config_value {
  enum { CONFIG_NUMBER, CONFIG_BOOL, CONFIG_WORD } kind;
  int64_t number;
  bool flag;
  const char *word;  /* static */
};

struct config_option {
  const char *name, *help;
  struct config_value now, fallback;  /* in force; the default */
};

/* Every option of the table, in its order. */
void config_each(void (*fn)(const struct config_option *o, void *arg), void *arg);

#endif
