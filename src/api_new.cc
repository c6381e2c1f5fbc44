// api (C++ half): operator new and delete in every form.
//
// new: the C allocator's fast path; on failure, the std::new_handler loop,
// then std::bad_alloc (nothrow forms return nullptr). Sized and aligned
// deletes check the size against the block like free_sized().
//
// The library needs no C++ runtime: a C program must not map libstdc++ for
// operators it never calls. Every runtime symbol this file uses is a weak
// reference (the declarations below; the compiler's own references to
// __cxa_* and the personality routine adopt them), bound at load time to the
// runtime in the program's global scope (libstdc++, or libc++abi for a libc++
// program), whether the program links us or preloads us, and left null
// in a program without one. Only new_slow reaches the runtime, and only the
// parts it found bound. Without a runtime no handler can have been set and
// nothing can catch: the throwing forms print one line and abort, the
// nothrow forms return nullptr. A runtime that arrives later by dlopen() is
// not seen (COMPAT.md). The link (-Wl,--no-undefined against libc alone)
// fails if any reference here is not weak.
#include <cstddef>
#include <new>

#include "api.h"
extern "C" {
#include "os.h"
}

#define HS_EXPORT __attribute__((visibility("default")))
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)

// Types as the compiler declares these itself (it errors on any other).
extern "C" {
__attribute__((weak)) void *__cxa_allocate_exception(std::size_t) noexcept;
__attribute__((weak)) void __cxa_throw(void *, void *, void (*)(void *));
__attribute__((weak)) void *__cxa_begin_catch(void *) noexcept;
__attribute__((weak)) void __cxa_end_catch();
__attribute__((weak)) void __gxx_personality_v0();
// std::bad_alloc's type_info, vtable and destructor, which a throw
// references: named here only to test their addresses.
extern const char hs_cxx_bad_alloc_typeinfo __asm__("_ZTISt9bad_alloc") __attribute__((weak));
extern const char hs_cxx_bad_alloc_vtable __asm__("_ZTVSt9bad_alloc") __attribute__((weak));
extern const char hs_cxx_bad_alloc_dtor __asm__("_ZNSt9bad_allocD1Ev") __attribute__((weak));
}
namespace std {
__attribute__((weak)) new_handler get_new_handler() noexcept;
}

namespace {

void *alloc_or_null(std::size_t n, std::size_t align) {
  return align ? hs_api_alloc_aligned(align, n) : hs_api_malloc(n);
}

// Whether the runtime parts a step needs are bound (GOT loads: nothing is
// called, so no lazy PLT entry is bound to a missing function). They are
// tested apart because a static link (libhugeslab.a) pulls in only the
// members of libstdc++.a that something else references: a program that
// never sets a handler has no get_new_handler, but it can throw. Whatever
// links set_new_handler links get_new_handler (one object in both
// runtimes), so a missing get_new_handler means no handler.
bool can_throw() {
  return &__cxa_allocate_exception && &__cxa_throw && &hs_cxx_bad_alloc_typeinfo &&
         &hs_cxx_bad_alloc_vtable && &hs_cxx_bad_alloc_dtor;
}
bool can_catch() { return &__cxa_begin_catch && &__cxa_end_catch && &__gxx_personality_v0; }

// Retry through the new handler until it gives up (throws or is unset).
__attribute__((noinline, cold)) void *new_slow(std::size_t n, std::size_t align, bool nothrow) {
  for (;;) {
    void *p = alloc_or_null(n, align);
    if (p) return p;
    std::new_handler handler = &std::get_new_handler ? std::get_new_handler() : nullptr;
    if (!handler) {
      if (nothrow) return nullptr;
      if (!can_throw()) os_fatal("operator new(): out of memory");
      throw std::bad_alloc();
    }
    // A handler was set, so a runtime is here. Only a partial static link
    // can lack the catch side; the handler is still called then, and an
    // exception from it is not turned into nullptr.
    if (nothrow && can_catch()) {
      try {
        handler();
      } catch (...) {
        return nullptr;
      }
    } else {
      handler();
    }
  }
}

inline void *new_impl(std::size_t n) {
  void *p = hs_api_malloc(n);
  if (HS_UNLIKELY(!p)) return new_slow(n, 0, false);
  return p;
}

inline void *new_aligned(std::size_t n, std::align_val_t al) {
  void *p = hs_api_alloc_aligned(static_cast<std::size_t>(al), n);
  if (HS_UNLIKELY(!p)) return new_slow(n, static_cast<std::size_t>(al), false);
  return p;
}

inline void *new_nothrow(std::size_t n, std::size_t align) noexcept {
  void *p = alloc_or_null(n, align);
  if (HS_UNLIKELY(!p)) return new_slow(n, align, true);
  return p;
}

}  // namespace

HS_EXPORT void *operator new(std::size_t n) { return new_impl(n); }
HS_EXPORT void *operator new[](std::size_t n) { return new_impl(n); }
HS_EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n, 0); }
HS_EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return new_nothrow(n, 0); }
HS_EXPORT void *operator new(std::size_t n, std::align_val_t al) { return new_aligned(n, al); }
HS_EXPORT void *operator new[](std::size_t n, std::align_val_t al) { return new_aligned(n, al); }
HS_EXPORT void *operator new(std::size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return new_nothrow(n, static_cast<std::size_t>(al));
}
HS_EXPORT void *operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  return new_nothrow(n, static_cast<std::size_t>(al));
}

HS_EXPORT void operator delete(void *p) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete[](void *p) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete(void *p, std::size_t n) noexcept {
  hs_api_free_sized(p, n, 0, "operator delete");
}
HS_EXPORT void operator delete[](void *p, std::size_t n) noexcept {
  hs_api_free_sized(p, n, 0, "operator delete[]");
}
HS_EXPORT void operator delete(void *p, std::align_val_t) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete[](void *p, std::align_val_t) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { hs_api_free(p); }
HS_EXPORT void operator delete(void *p, std::size_t n, std::align_val_t al) noexcept {
  hs_api_free_sized(p, n, static_cast<std::size_t>(al), "operator delete");
}
HS_EXPORT void operator delete[](void *p, std::size_t n, std::align_val_t al) noexcept {
  hs_api_free_sized(p, n, static_cast<std::size_t>(al), "operator delete[]");
}
