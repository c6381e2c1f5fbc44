/* dlopen of the library late, from a program that neither links
 * nor (normally) preloads it.
 *
 * The library uses initial-exec TLS, as glibc asks of a malloc replacement;
 * such a library can only be dlopen'ed while glibc's static TLS surplus has
 * room.  What this test proves, in a child process so that a crash is
 * reported rather than taken:
 *  - dlopen($HUGESLAB_LIB, RTLD_NOW) does not crash: it either succeeds or
 *    fails with a dlerror() message that mentions "static TLS" (any other
 *    failure is a bug: an unresolved symbol, a constructor that dies, ...);
 *  - if it succeeds: hs_version, malloc, malloc_usable_size and free are
 *    found with dlsym, and the library's malloc/free work on their own
 *    blocks (small, large, huge) next to the process's glibc malloc;
 *  - when the library is already in the process (this program run under
 *    LD_PRELOAD by the preload suite), dlopen must succeed.
 * It does not prove that a late-loaded hugeslab can serve as the process's
 * malloc (it cannot: the process's malloc was bound before), nor anything
 * about --disable-initial-exec-tls builds beyond "no crash".
 * Skips (77) when HUGESLAB_LIB is not set. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef size_t (*usable_fn)(void *);
typedef const char *(*version_fn)(void);

static int child(const char *lib, int preloaded) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *err = dlerror();
    if (preloaded) {
      printf("FAIL: dlopen of the already-loaded library failed: %s\n", err ? err : "(null)");
      return 1;
    }
    if (err && strstr(err, "static TLS")) {
      printf("ok: dlopen refused with a static TLS message: %s\n", err);
      return 0;
    }
    printf("FAIL: dlopen failed without mentioning static TLS: %s\n", err ? err : "(null)");
    return 1;
  }
  version_fn ver = (version_fn)dlsym(h, "hs_version");
  malloc_fn m = (malloc_fn)dlsym(h, "malloc");
  free_fn f = (free_fn)dlsym(h, "free");
  usable_fn u = (usable_fn)dlsym(h, "malloc_usable_size");
  if (!ver || !m || !f || !u) {
    printf("FAIL: dlopen succeeded but dlsym misses hs_version/malloc/free/malloc_usable_size\n");
    return 1;
  }
  const char *v = ver();
  if (!v || !*v) {
    printf("FAIL: hs_version() returned an empty string\n");
    return 1;
  }
  static const size_t sizes[] = {1, 100, 5000, 40000, 300000, (size_t)3 << 20};
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      unsigned char *p = m(n);
      if (!p) {
        printf("FAIL: dlopen'ed malloc(%zu) returned NULL\n", n);
        return 1;
      }
      if (u(p) < n) {
        printf("FAIL: dlopen'ed malloc_usable_size %zu < %zu\n", u(p), n);
        return 1;
      }
      memset(p, 0x42, n);
      void *g = malloc(n);  /* the process's own malloc, unaffected */
      if (!g) return 1;
      memset(g, 1, n);
      free(g);
      if (p[n - 1] != 0x42) return 1;
      f(p);
    }
  }
  printf("ok: dlopen succeeded (hugeslab %s%s) and its malloc/free work\n", v,
         preloaded ? ", already preloaded" : "");
  if (dlclose(h) != 0) {
    printf("FAIL: dlclose: %s\n", dlerror());
    return 1;
  }
  return 0;
}

int main(void) {
  const char *lib = getenv("HUGESLAB_LIB");
  if (!lib || !*lib) {
    fprintf(stderr, "SKIP: HUGESLAB_LIB is not set\n");
    return 77;
  }
  if (access(lib, R_OK) != 0) {
    fprintf(stderr, "FAIL: HUGESLAB_LIB=%s is not readable\n", lib);
    return 1;
  }
  int preloaded = test_hugeslab_present();
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int rc = child(lib, preloaded);
    fflush(NULL);
    _exit(rc);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "FAIL: dlopen child killed by signal %d\n", WTERMSIG(st));
    return 1;
  }
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dlopen child exit status %d",
            WEXITSTATUS(st));
  return 0;
}
