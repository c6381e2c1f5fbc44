// Helper DSO for new_from_c's dlopen_cxx case: C++ code that arrives in a C
// process by dlopen(), after start-up. new_late_dso_new(n) does new char[n]:
// 0 if it returned memory, 1 if it threw std::bad_alloc.
#include <cstddef>
#include <new>

extern "C" __attribute__((visibility("default"))) int new_late_dso_new(std::size_t n) {
  try {
    char *p = new char[n];
    // Opaque to the compiler, which may otherwise drop the new/delete pair.
    __asm__ volatile("" : "+r"(p) : : "memory");
    delete[] p;
    return 0;
  } catch (const std::bad_alloc &) {
    return 1;
  }
}
