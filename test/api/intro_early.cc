// malloc before main and before our own constructor.
//
// Proves:
//  - C++ static initialisation may allocate: `static void *p = malloc(8)` at
//    namespace scope (filled there, checked in main, freed via atexit), and a
//    static object whose constructor uses operator new through std::vector;
//  - another DSO's constructor may use the allocator while libraries are
//    still being initialised (test/api/intro_early_dso.c, linked after
//    libhugeslab so that its constructor runs first; under LD_PRELOAD the
//    preloaded library is also initialised after it).  It starts with one
//    chosen entry point (HS_EARLY_FIRST) and then uses them all: malloc,
//    free(NULL) and free(non-NULL), realloc, calloc, memalign,
//    posix_memalign, aligned_alloc, valloc and malloc_usable_size; main
//    frees a block it made;
//  - main re-runs this program once per first entry point, so lazy
//    initialisation from each of them is tried (as far as libc and libstdc++
//    have not called malloc even earlier: their own start-up allocations are
//    early calls too, and happen in every run).
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "testutil.h"

extern "C" int intro_early_dso_result;
extern "C" void *intro_early_dso_block;

namespace {

unsigned char *fill8(void *p) {
  if (p) memset(p, 0x7c, 8);
  return static_cast<unsigned char *>(p);
}

void free_early();

// Namespace-scope initialisers run before main, in this order.
unsigned char *early_p = fill8(malloc(8));
int early_registered = atexit(free_early);

void free_early() {
  free(early_p);
  early_p = nullptr;
}

struct EarlyObject {
  std::vector<int> v;
  int *raw;
  EarlyObject() : v(5000, 9), raw(new int[300]) {
    for (int i = 0; i < 300; i++) raw[i] = i;
  }
  ~EarlyObject() { delete[] raw; }
};
EarlyObject early_object;

const char *const first_modes[] = {"malloc", "calloc", "realloc", "memalign", "posix_memalign",
                                   "aligned_alloc", "valloc", "usable", "free"};

void check_this_process() {
  CHECK_MSG(early_p != nullptr, "malloc(8) during static initialisation returned NULL");
  CHECK(malloc_usable_size(early_p) >= 8);
  for (int i = 0; i < 8; i++) CHECK(early_p[i] == 0x7c);
  CHECK(early_registered == 0);
  CHECK(early_object.v.size() == 5000 && early_object.v[4999] == 9);
  for (int i = 0; i < 300; i++) CHECK(early_object.raw[i] == i);

  const char *mode = getenv("HS_EARLY_FIRST");
  CHECK_MSG(intro_early_dso_result != -1, "the helper DSO's constructor did not run");
  CHECK_MSG(intro_early_dso_result == 0, "helper DSO constructor (first call %s) failed at step %d",
            mode ? mode : "malloc", intro_early_dso_result);
  unsigned char *b = static_cast<unsigned char *>(intro_early_dso_block);
  CHECK(b != nullptr && malloc_usable_size(b) >= 333);
  for (int i = 0; i < 333; i++) CHECK(b[i] == 0x5e);
  free(b);
}

}  // namespace

int main() {
  test_require_hugeslab();
  check_this_process();
  if (getenv("HS_EARLY_CHILD")) return 0;

  for (const char *mode : first_modes) {
    fflush(nullptr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      setenv("HS_EARLY_FIRST", mode, 1);
      setenv("HS_EARLY_CHILD", "1", 1);
      execl("/proc/self/exe", "intro_early", static_cast<char *>(nullptr));
      _exit(99);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run with first call %s: status 0x%x", mode,
              st);
  }
  return 0;
}
