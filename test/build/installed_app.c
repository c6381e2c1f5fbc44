/* A program linked against the *installed* hugeslab the way README says
 * (cc app.c $(pkg-config --cflags --libs hugeslab)); test/build/installed.sh
 * builds and runs it with LD_LIBRARY_PATH unset.
 *
 * argv[1] is the expected installed library directory ($prefix/lib). The
 * program checks that:
 *  - <hugeslab.h> is found (it was installed with the library) and
 *    hs_version() returns HUGESLAB_VERSION;
 *  - the libhugeslab mapped into this process is a file in argv[1] (not the
 *    build tree's .libs/ or some other copy);
 *  - malloc/calloc/realloc/free are hugeslab's (malloc_usable_size and free
 *    of its blocks work; hs_thread_flush is callable).
 * Prints "installed_app: ok <path of the mapped library>" and exits 0. */
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugeslab.h>

static int fail(const char *what) {
  fprintf(stderr, "installed_app: FAIL: %s\n", what);
  return 1;
}

/* The path of the first mapping whose file name contains "libhugeslab". */
static int mapped_lib(char *out, size_t n) {
  FILE *maps = fopen("/proc/self/maps", "r");
  char line[PATH_MAX + 256];
  if (!maps) return 0;
  while (fgets(line, sizeof line, maps)) {
    char *path = strchr(line, '/');
    if (!path || !strstr(path, "libhugeslab")) continue;
    path[strcspn(path, "\n")] = '\0';
    snprintf(out, n, "%s", path);
    fclose(maps);
    return 1;
  }
  fclose(maps);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) return fail("usage: installed_app EXPECTED_LIBDIR");
  const char *v = hs_version();
  if (!v || strcmp(v, HUGESLAB_VERSION) != 0) return fail("hs_version() != HUGESLAB_VERSION");

  void *blocks[64];
  for (int i = 0; i < 64; i++) {
    size_t n = (size_t)1 << (i % 22); /* 1 B .. 2 MiB: every block kind */
    blocks[i] = (i % 3 == 0) ? calloc(1, n) : malloc(n);
    if (!blocks[i]) return fail("allocation returned NULL");
    if (malloc_usable_size(blocks[i]) < n) return fail("malloc_usable_size too small");
    memset(blocks[i], 0x5a, n);
  }
  blocks[5] = realloc(blocks[5], 100000);
  if (!blocks[5]) return fail("realloc returned NULL");
  for (int i = 0; i < 64; i++) free(blocks[i]);
  hs_thread_flush();

  char lib[PATH_MAX];
  if (!mapped_lib(lib, sizeof lib)) return fail("libhugeslab is not mapped into this process");
  char want[PATH_MAX], got[PATH_MAX];
  if (!realpath(argv[1], want)) return fail("expected libdir does not exist");
  if (!realpath(lib, got)) return fail("mapped library path cannot be resolved");
  size_t w = strlen(want);
  if (strncmp(got, want, w) != 0 || got[w] != '/' || strchr(got + w + 1, '/')) {
    fprintf(stderr, "installed_app: FAIL: libhugeslab mapped from %s (%s), not from %s\n", lib, got,
            want);
    return 1;
  }
  printf("installed_app: ok %s\n", lib);
  return 0;
}
