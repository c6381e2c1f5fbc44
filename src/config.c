/* config: see config.h. */
#include "config.h"

#include <string.h>
#include "memcheck.h"
#include "os.h"

extern char **environ;

#define CONFIG_DEFAULTS                       \
  {                                           \
    .arenas = 0,                              \
    .tcache = true,                           \
    .thp = HS_THP_AUTO,                       \
    .thp_min_heap = (size_t)32 << 20,         \
    .stats_print = HS_STATS_OFF,              \
    .decay_ms = 1000,                         \
    .purge_lazy = false,                      \
    .background_thread = false,               \
    .fork_fresh = true,                       \
    .fork_settle_ms = 30000,                  \
    .pool_ksm = false,                        \
    .hardened = HS_HARDENED_DEFAULT,          \
    .stats_file = "",                         \
  }

struct hs_config hs_conf = CONFIG_DEFAULTS;
/* What hs_conf holds before HUGESLAB_CONF (config_each's defaults). */
static const struct hs_config conf_defaults = CONFIG_DEFAULTS;

enum option_kind { OPT_UNSIGNED, OPT_BOOL, OPT_THP, OPT_MEGABYTES, OPT_MILLIS, OPT_PURGE, OPT_STATS, OPT_PATH };

/* The one table of options: name, kind, where it goes, limits, help. */
static const struct option {
  const char *name;
  enum option_kind kind;
  void *target;
  unsigned long min, max;
  const char *help;
} options[] = {
    {"arenas", OPT_UNSIGNED, &hs_conf.arenas, 0, 256, "arenas (0 = one per CPU)"},
    {"tcache", OPT_BOOL, &hs_conf.tcache, 0, 1, "per-thread caches (1) or none (0)"},
    {"thp", OPT_THP, &hs_conf.thp, 0, 0, "huge pages for chunks: auto, always, never"},
    {"thp_min_mb", OPT_MEGABYTES, &hs_conf.thp_min_heap, 0, 1 << 20,
     "auto: heap size in MiB from which chunks use huge pages"},
    {"stats_print", OPT_STATS, &hs_conf.stats_print, 0, 0,
     "print the stats report on stderr at exit: false, true (text) or json"},
    {"stats", OPT_STATS, &hs_conf.stats_print, 0, 0, "the same as stats_print (stats:1 prints the text report)"},
    {"stats_file", OPT_PATH, hs_conf.stats_file, 0, sizeof hs_conf.stats_file - 1,
     "the file the exit report is appended to (%p: the pid), for programs that close stderr (stderr: the default)"},
    {"decay_ms", OPT_MILLIS, &hs_conf.decay_ms, 0, 3600000,
     "free memory goes back this long after it was freed (0 = at once, -1 = never)"},
    {"purge", OPT_PURGE, &hs_conf.purge_lazy, 0, 0,
     "how pages go back: dontneed (RSS drops at once) or free (MADV_FREE: when the kernel needs them)"},
    {"background_thread", OPT_BOOL, &hs_conf.background_thread, 0, 1,
     "a thread that gives memory back while the program is idle"},
    {"fork_fresh", OPT_BOOL, &hs_conf.fork_fresh, 0, 1,
     "after fork, parent and child put new blocks in fresh slabs, not in holes of the pages they share"},
    {"pool_ksm", OPT_BOOL, &hs_conf.pool_ksm, 0, 1,
     "mark sealed pools for the kernel's same-page merging (MADV_MERGEABLE)"},
    {"hardened", OPT_BOOL, &hs_conf.hardened, 0, 1,
     "check every block: canaries, zero-on-free with a write-after-free check, random slots, a quarantine"},
    {"fork_settle_ms", OPT_MILLIS, &hs_conf.fork_settle_ms, 0, 86400000,
     "how long after a fork the parent keeps off its old slabs' holes (-1 = until hs_fork_settle())"},
};

static void warn(const char *what, const char *item, size_t len) {
  char line[256];
  size_t n = 0;
  const char *prefix = "hugeslab: HUGESLAB_CONF: ";
  size_t plen = strlen(prefix), wlen = strlen(what);
  if (len > 100) len = 100;
  memcpy(line + n, prefix, plen);
  n += plen;
  memcpy(line + n, what, wlen);
  n += wlen;
  line[n++] = ' ';
  line[n++] = '\'';
  memcpy(line + n, item, len);
  n += len;
  const char *tail = "' ignored, default kept\n";
  memcpy(line + n, tail, strlen(tail));
  n += strlen(tail);
  os_write_stderr(line, n);
}

static bool parse_number(const char *s, size_t len, unsigned long *out) {
  unsigned long v = 0;
  if (len == 0 || len > 9) return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  *out = v;
  return true;
}

static bool apply(const struct option *o, const char *val, size_t len) {
  unsigned long v;
  switch (o->kind) {
    case OPT_THP:
      if (len == 4 && memcmp(val, "auto", 4) == 0) *(enum hs_thp_mode *)o->target = HS_THP_AUTO;
      else if (len == 6 && memcmp(val, "always", 6) == 0) *(enum hs_thp_mode *)o->target = HS_THP_ALWAYS;
      else if (len == 5 && memcmp(val, "never", 5) == 0) *(enum hs_thp_mode *)o->target = HS_THP_NEVER;
      else return false;
      return true;
    case OPT_BOOL:
      if (len == 4 && memcmp(val, "true", 4) == 0) v = 1;
      else if (len == 5 && memcmp(val, "false", 5) == 0) v = 0;
      else if (!parse_number(val, len, &v) || v > 1) return false;
      *(bool *)o->target = v == 1;
      return true;
    case OPT_UNSIGNED:
      if (!parse_number(val, len, &v) || v < o->min || v > o->max) return false;
      *(unsigned *)o->target = (unsigned)v;
      return true;
    case OPT_MILLIS:
      if (len == 2 && memcmp(val, "-1", 2) == 0) {
        *(int *)o->target = -1;
        return true;
      }
      if (!parse_number(val, len, &v) || v > o->max) return false;
      *(int *)o->target = (int)v;
      return true;
    case OPT_PURGE:
      if (len == 8 && memcmp(val, "dontneed", 8) == 0) *(bool *)o->target = false;
      else if (len == 4 && memcmp(val, "free", 4) == 0) *(bool *)o->target = true;
      else return false;
      return true;
    case OPT_MEGABYTES:
      if (!parse_number(val, len, &v) || v < o->min || v > o->max) return false;
      *(size_t *)o->target = (size_t)v << 20;
      return true;
    case OPT_STATS:
      if ((len == 4 && memcmp(val, "true", 4) == 0) || (len == 4 && memcmp(val, "text", 4) == 0) ||
          (len == 1 && val[0] == '1'))
        *(enum hs_stats_print *)o->target = HS_STATS_TEXT;
      else if ((len == 5 && memcmp(val, "false", 5) == 0) || (len == 1 && val[0] == '0'))
        *(enum hs_stats_print *)o->target = HS_STATS_OFF;
      else if (len == 4 && memcmp(val, "json", 4) == 0) *(enum hs_stats_print *)o->target = HS_STATS_JSON;
      else return false;
      return true;
    case OPT_PATH:
      /* No ',' (the separator) can be in it; "stderr" is the default. */
      if (len == 0 || len > o->max) return false;
      if (len == 6 && memcmp(val, "stderr", 6) == 0) len = 0;
      memcpy(o->target, val, len);
      ((char *)o->target)[len] = 0;
      return true;
  }
  return false;
}

/* The value of option o in configuration conf (hs_conf or conf_defaults). */
static struct config_value value_in(const struct option *o, const struct hs_config *conf) {
  const char *at = (const char *)conf + ((const char *)o->target - (const char *)&hs_conf);
  struct config_value v = {0};
  switch (o->kind) {
    case OPT_UNSIGNED:
      v.kind = CONFIG_NUMBER;
      v.number = *(const unsigned *)at;
      break;
    case OPT_MILLIS:
      v.kind = CONFIG_NUMBER;
      v.number = *(const int *)at;
      break;
    case OPT_MEGABYTES:
      v.kind = CONFIG_NUMBER;
      v.number = (int64_t)(*(const size_t *)at >> 20);
      break;
    case OPT_BOOL:
      v.kind = CONFIG_BOOL;
      v.flag = *(const bool *)at;
      break;
    case OPT_THP: {
      static const char *const names[] = {"auto", "always", "never"};
      v.kind = CONFIG_WORD;
      v.word = names[*(const enum hs_thp_mode *)at];
      break;
    }
    case OPT_PURGE:
      v.kind = CONFIG_WORD;
      v.word = *(const bool *)at ? "free" : "dontneed";
      break;
    case OPT_STATS: {
      static const char *const names[] = {"false", "true", "json"};
      v.kind = CONFIG_WORD;
      v.word = names[*(const enum hs_stats_print *)at];
      break;
    }
    case OPT_PATH:
      v.kind = CONFIG_WORD;
      v.word = *at ? at : "stderr";
      break;
  }
  return v;
}

void config_each(void (*fn)(const struct config_option *o, void *arg), void *arg) {
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    struct config_option view = {options[i].name, options[i].help, value_in(&options[i], &hs_conf),
                                 value_in(&options[i], &conf_defaults)};
    fn(&view, arg);
  }
}

unsigned config_parse(const char *conf) {
  unsigned bad = 0;
  const char *p = conf;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      const char *colon = memchr(p, ':', len);
      size_t klen = colon ? (size_t)(colon - p) : len;
      const struct option *found = NULL;
      for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strlen(options[i].name) == klen && memcmp(options[i].name, p, klen) == 0) found = &options[i];
      if (!found) {
        warn("unknown key", p, klen);
        bad++;
      } else if (!colon || !apply(found, colon + 1, len - klen - 1)) {
        warn("bad value in", p, len);
        bad++;
      }
    }
    p += len;
    if (*p == ',') p++;
  }
  return bad;
}

/* Whether the Valgrind tool running us is memcheck: it alone of the tools
 * preloads its vgpreload_memcheck library into the client, and the others
 * (callgrind, cachegrind, massif...) must see the normal paths. */
static bool memcheck_tool(void) {
  static const char preload[] = "LD_PRELOAD=";
  if (!memcheck_running() || !environ) return false;
  for (char **e = environ; *e; e++)
    if (strncmp(*e, preload, sizeof preload - 1) == 0 && strstr(*e, "/vgpreload_memcheck-")) return true;
  return false;
}

void config_init(void) {
  static const char key[] = "HUGESLAB_CONF=";
  /* Once: the exit report may read the options before start-up does. */
  static bool parsed;
  if (parsed) return;
  parsed = true;
  hs_conf.memcheck = memcheck_tool();
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, key, sizeof key - 1) == 0) {
      config_parse(*e + sizeof key - 1);
      break;
    }
  /* Memcheck checks every byte; our own canaries would be its errors. */
  if (hs_conf.memcheck) hs_conf.hardened = false;
  hs_conf.checked = hs_conf.memcheck || hs_conf.hardened;
}
