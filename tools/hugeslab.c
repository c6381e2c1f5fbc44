/* hugeslab(1): run a program on hugeslab, list the options.
 *
 *   hugeslab run [--stats[=json]] [--stats-file=PATH] [--conf K:V,...] [--] PROGRAM [ARGS...]
 *   hugeslab conf [--tabs]
 *   hugeslab --version | --help
 *
 * `run` puts the library this command itself was linked with (found with
 * dladdr, so a build tree's command preloads the build tree's library) at
 * the head of LD_PRELOAD, adds --conf and the report option to
 * HUGESLAB_CONF (after what the environment already holds: later keys
 * win), and execs the program: its children inherit both variables, its
 * exit status and signals are its own, and the report is printed by the
 * library at the program's exit. `conf` prints the library's options table
 * (hs_stats_print's "options" format). */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hugeslab.h"

static const char usage[] =
    "usage: hugeslab run [--stats[=json]] [--stats-file=PATH] [--conf KEY:VALUE,...] [--] PROGRAM [ARGS...]\n"
    "       hugeslab conf [--tabs]\n"
    "       hugeslab --version | --help\n"
    "\n"
    "  run      run PROGRAM (and the programs it starts) on hugeslab: LD_PRELOAD and\n"
    "           HUGESLAB_CONF are set for it, its exit status is passed through\n"
    "    --stats[=json]  print the stats report (text, or JSON) on stderr when each\n"
    "                    process exits\n"
    "    --stats-file=PATH  append the reports to PATH instead (%p: the pid), for\n"
    "                    programs that close stderr before they exit; implies --stats\n"
    "    --conf K:V,...  HUGESLAB_CONF options for the program (see `hugeslab conf`)\n"
    "  conf     list every HUGESLAB_CONF option with its default and meaning\n"
    "    --tabs   one line each: name, default, value in force, meaning\n";

/* The library this command runs on. */
static const char *library_path(void) {
  static char path[PATH_MAX];
  Dl_info info;
  if (!dladdr((void *)hs_version, &info) || !info.dli_fname || !info.dli_fname[0]) return NULL;
  if (!realpath(info.dli_fname, path)) return NULL;
  return path;
}

static char *joined(const char *a, const char *sep, const char *b) {
  size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
  char *s = malloc(n);
  if (!s) {
    perror("hugeslab");
    exit(125);
  }
  snprintf(s, n, "%s%s%s", a, sep, b);
  return s;
}

static int run(int argc, char **argv) {
  const char *stats = NULL, *conf = NULL, *stats_file = NULL;
  int i = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--stats") == 0 || strcmp(a, "--stats=text") == 0) {
      stats = "stats_print:true";
    } else if (strcmp(a, "--stats=json") == 0) {
      stats = "stats_print:json";
    } else if (strncmp(a, "--stats-file=", 13) == 0 && a[13]) {
      stats_file = a + 13;
      if (strchr(stats_file, ',') || strlen(stats_file) > 255) {
        fprintf(stderr, "hugeslab: run: --stats-file: a path of at most 255 bytes without ','\n");
        return 2;
      }
    } else if (strcmp(a, "--conf") == 0 && i + 1 < argc) {
      conf = argv[++i];
    } else if (strncmp(a, "--conf=", 7) == 0) {
      conf = a + 7;
    } else if (a[0] == '-') {
      fprintf(stderr, "hugeslab: run: unknown option '%s'\n%s", a, usage);
      return 2;
    } else {
      break;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "hugeslab: run: no program given\n%s", usage);
    return 2;
  }
  const char *lib = library_path();
  if (!lib) {
    fprintf(stderr, "hugeslab: cannot find the hugeslab library this command was linked with\n");
    return 125;
  }
  const char *preload = getenv("LD_PRELOAD");
  setenv("LD_PRELOAD", preload && *preload ? joined(lib, " ", preload) : lib, 1);
  const char *env_conf = getenv("HUGESLAB_CONF");
  char *new_conf = env_conf && *env_conf ? joined(env_conf, "", "") : joined("", "", "");
  if (conf && *conf) new_conf = *new_conf ? joined(new_conf, ",", conf) : joined(conf, "", "");
  if (stats_file && !stats) stats = "stats_print:true";
  if (stats) new_conf = *new_conf ? joined(new_conf, ",", stats) : joined(stats, "", "");
  if (stats_file) new_conf = joined(new_conf, ",stats_file:", stats_file);
  if (*new_conf) setenv("HUGESLAB_CONF", new_conf, 1);
  execvp(argv[i], argv + i);
  int err = errno;
  fprintf(stderr, "hugeslab: cannot run '%s': %s\n", argv[i], strerror(err));
  return err == ENOENT ? 127 : 126;
}

static void write_stdout(void *opaque, const char *s, size_t n) {
  (void)opaque;
  fwrite(s, 1, n, stdout);
}

/* The options table, one option a paragraph: name, default, the value in
 * force when HUGESLAB_CONF changes it, meaning. */
static void write_table(void *opaque, const char *s, size_t n) {
  (void)opaque;
  static char line[4096];
  static size_t len;
  for (size_t k = 0; k < n; k++) {
    if (s[k] != '\n') {
      if (len + 1 < sizeof line) line[len++] = s[k];
      continue;
    }
    line[len] = 0;
    len = 0;
    char *fields[4] = {line, NULL, NULL, NULL};
    for (int f = 1; f < 4; f++) {
      char *tab = fields[f - 1] ? strchr(fields[f - 1], '\t') : NULL;
      if (tab) *tab = 0;
      fields[f] = tab ? tab + 1 : NULL;
    }
    if (!fields[3]) continue;
    printf("%-18s default %s", fields[0], fields[1]);
    if (strcmp(fields[1], fields[2]) != 0) printf(" (now %s, from HUGESLAB_CONF)", fields[2]);
    printf("\n    %s\n", fields[3]);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("hugeslab %s\n", hs_version());
    return 0;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "run") == 0) return run(argc - 2, argv + 2);
  if (strcmp(cmd, "conf") == 0) {
    /* --tabs: the library's lines as they are, for scripts. */
    int tabs = argc > 2 && strcmp(argv[2], "--tabs") == 0;
    if (!tabs) printf("HUGESLAB_CONF=key:value,key:value options (hugeslab %s):\n\n", hs_version());
    if (hs_stats_print(tabs ? write_stdout : write_table, NULL, "options") != 0) {
      perror("hugeslab: conf");
      return 1;
    }
    return 0;
  }
  fprintf(stderr, "hugeslab: unknown command '%s'\n%s", cmd, usage);
  return 2;
}
