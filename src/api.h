/* api: the exported symbols. These hidden entry points serve api_new.cc
 * (C++ operators) without going through the PLT. */
#ifndef HS_API_H
#define HS_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* malloc / free, called directly. */
void *hs_api_malloc(size_t n);
void hs_api_free(void *p);
/* Aligned allocation for a power-of-two `align`; NULL + ENOMEM. */
void *hs_api_alloc_aligned(size_t align, size_t n);
/* Free with a size the caller claims (0 = unknown) and an alignment (0 =
 * none): reports `call`(): size mismatch when the block cannot have it. */
void hs_api_free_sized(void *p, size_t size, size_t align, const char *call);

#ifdef __cplusplus
}
#endif

#endif
