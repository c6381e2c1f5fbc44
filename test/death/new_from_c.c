/* operator new in a process without a C++ runtime (api_new.cc). A C program
 * finds the exported operators with dlsym and calls them, so no libstdc++ is
 * loaded (the library must not bring one). argv[1] is the case:
 *   new, new_array, new_aligned: an impossible request must print
 *     "hugeslab: operator new(): out of memory" and abort: with no runtime no
 *     handler can be set and no bad_alloc can be thrown or caught;
 *   nothrow: the nothrow forms return NULL for an impossible request and
 *     memory for a possible one (exit 0);
 *   dlopen_cxx (argv[2]: a C++ DSO): the runtime comes later, by dlopen(); the
 *     library's references to it were settled at load time, so a new in that
 *     DSO aborts like `new` instead of throwing (COMPAT.md).
 * new_from_c.sh runs every case linked and preloaded. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void *op(const char *name) {
  void *f = dlsym(RTLD_DEFAULT, name);
  Dl_info info;
  CHECK_MSG(f != NULL, "%s not found", name);
  CHECK_MSG(dladdr(f, &info) && info.dli_fname && strstr(info.dli_fname, "libhugeslab"),
            "%s is not hugeslab's", name);
  return f;
}

int main(int argc, char **argv) {
  /* A direct reference, so that the linked build keeps libhugeslab even
   * under --as-needed (every operator is reached through dlsym). */
  free(test_opaque(malloc(16)));
  test_require_hugeslab();
  if (argc < 2) return 2;
  CHECK_MSG(dlsym(RTLD_DEFAULT, "__cxa_throw") == NULL,
            "a C++ runtime is loaded into this C program");
  const size_t huge = test_opaque_size(SIZE_MAX - 4096);
  const char nothrow_tag = 0; /* std::nothrow_t: an empty object, passed by reference */
  void *(*new_)(size_t) = (void *(*)(size_t))op("_Znwm");
  void *(*new_array)(size_t) = (void *(*)(size_t))op("_Znam");
  void *(*new_aligned)(size_t, size_t) = (void *(*)(size_t, size_t))op("_ZnwmSt11align_val_t");
  void *(*new_nothrow)(size_t, const void *) =
      (void *(*)(size_t, const void *))op("_ZnwmRKSt9nothrow_t");
  void *(*new_array_nothrow)(size_t, const void *) =
      (void *(*)(size_t, const void *))op("_ZnamRKSt9nothrow_t");
  void *(*new_aligned_nothrow)(size_t, size_t, const void *) =
      (void *(*)(size_t, size_t, const void *))op("_ZnwmSt11align_val_tRKSt9nothrow_t");
  void (*delete_)(void *) = (void (*)(void *))op("_ZdlPv");

  if (strcmp(argv[1], "new") == 0) {
    test_opaque(new_(huge));
  } else if (strcmp(argv[1], "new_array") == 0) {
    test_opaque(new_array(huge));
  } else if (strcmp(argv[1], "new_aligned") == 0) {
    test_opaque(new_aligned(huge, 4096));
  } else if (strcmp(argv[1], "nothrow") == 0) {
    CHECK(new_nothrow(huge, &nothrow_tag) == NULL);
    CHECK(new_array_nothrow(huge, &nothrow_tag) == NULL);
    CHECK(new_aligned_nothrow(huge, 64, &nothrow_tag) == NULL);
    void *p = new_nothrow(100, &nothrow_tag);
    CHECK(p != NULL);
    memset(p, 1, 100);
    delete_(p);
    p = new_(100);
    CHECK(p != NULL);
    delete_(p);
    return 0;
  } else if (strcmp(argv[1], "dlopen_cxx") == 0 && argc == 3) {
    void *dso = dlopen(argv[2], RTLD_NOW);
    CHECK_MSG(dso != NULL, "dlopen: %s", dlerror());
    int (*late_new)(size_t) = (int (*)(size_t))dlsym(dso, "new_late_dso_new");
    CHECK(late_new != NULL);
    CHECK(late_new(100) == 0);
    fprintf(stderr, "FAIL: new_late_dso_new returned %d\n", late_new(huge));
    return 1;
  } else {
    return 2;
  }
  fprintf(stderr, "FAIL: %s returned\n", argv[1]);
  return 1;
}
