// A static C++ binary linked with libhugeslab.a (no -plain twin: a static
// binary cannot be preloaded). api_new.cc reaches the C++ runtime only
// through weak references, and a weak reference pulls nothing out of
// libstdc++.a: this program never calls std::set_new_handler, so
// std::get_new_handler is not linked in (nor is std::nothrow, which lives in
// the same libstdc++ object: a local nothrow_t stands in). Yet every
// throwing form must still throw std::bad_alloc (the parts a throw needs are
// linked by the program's own try/catch) and the nothrow forms return
// nullptr. The 2 MiB-aligned request (its rounding overflows) must fail too,
// which only hugeslab's operator new guarantees (see intro_cxx).
#include <stdint.h>
#include <string.h>

#include <new>

#include "hugeslab.h"
#include "testutil.h"

// Not linked unless something else pulls it in; testing the premise only.
extern "C" void hs_test_get_new_handler() __asm__("_ZSt15get_new_handlerv") __attribute__((weak));

namespace {

volatile size_t huge_size = SIZE_MAX - 4096;

template <typename F>
bool throws_bad_alloc(F f) {
  try {
    f();
  } catch (const std::bad_alloc &) {
    return true;
  }
  return false;
}

}  // namespace

int main() {
  CHECK(strcmp(hs_version(), HUGESLAB_VERSION) == 0);
  if (&hs_test_get_new_handler)
    fprintf(stderr, "note: std::get_new_handler is linked in after all\n");
  const size_t n = huge_size;
  const std::nothrow_t nothrow{};
  CHECK(throws_bad_alloc([n] { operator delete(operator new(n)); }));
  CHECK(throws_bad_alloc([n] { operator delete[](operator new[](n)); }));
  CHECK(throws_bad_alloc([n] {
    operator delete(operator new(n, std::align_val_t{64}), std::align_val_t{64});
  }));
  const std::align_val_t big{(size_t)2 << 20};
  CHECK(throws_bad_alloc([n, big] { operator delete[](operator new[](n, big), big); }));
  CHECK(operator new(n, nothrow) == nullptr);
  CHECK(operator new[](n, big, nothrow) == nullptr);
  CHECK(throws_bad_alloc([] {
    char *p = new char[huge_size];
    delete[] static_cast<char *>(test_opaque(p));
  }));
  char *p = new char[100];
  memset(p, 1, 100);
  CHECK(malloc_usable_size(p) >= 100);
  delete[] p;
  printf("static_link_cxx: ok\n");
  return 0;
}
