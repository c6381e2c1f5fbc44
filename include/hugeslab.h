/* hugeslab public extension API.
 *
 * The standard C, POSIX and glibc allocation functions (malloc, free, ...)
 * keep their usual declarations in <stdlib.h> and <malloc.h>; this header adds
 * what those headers may lack and the hs_ extensions. */
#ifndef HUGESLAB_H
#define HUGESLAB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUGESLAB_VERSION "0.1.0"

/* The library's version string, e.g. "0.1.0". */
const char *hs_version(void);

/* C23 sized deallocation (glibc 2.41+ declares them; older glibc does not).
 * `size` must be the size passed to the allocation; a size the block cannot
 * have is reported and the process aborts. NULL is accepted. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Return this thread's cached free blocks to their arenas now (they are
 * returned anyway at thread exit). */
void hs_thread_flush(void);

#ifdef __cplusplus
}
#endif

#endif
