// api (C++ half): operator new and delete in every form.
//
// new: the C allocator's fast path; on failure, the std::new_handler loop,
// then std::bad_alloc (nothrow forms return nullptr). Sized and aligned
// deletes check the size against the block like free_sized().
#include <cstddef>
#include <new>

#include "api.h"

#define HS_EXPORT __attribute__((visibility("default")))
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)

namespace {

void *alloc_or_null(std::size_t n, std::size_t align) {
  return align ? hs_api_alloc_aligned(align, n) : hs_api_malloc(n);
}

// Retry through the new handler until it gives up (throws or is unset).
__attribute__((noinline)) void *new_slow(std::size_t n, std::size_t align, bool nothrow) {
  for (;;) {
    void *p = alloc_or_null(n, align);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
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
  if (HS_UNLIKELY(!p)) {
    try {
      return new_slow(n, align, true);
    } catch (...) {
      return nullptr;
    }
  }
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
