/* hugeslab peer harness: stand-in for glibc's internal <malloc-size.h>.
   tst-mallocalign1 checks that malloc's results are aligned to
   MALLOC_ALIGNMENT; the alignment every malloc owes its callers is that of
   max_align_t (16 on x86-64 and aarch64, which is also glibc's value).  */
#ifndef HS_SHIM_MALLOC_SIZE_H
#define HS_SHIM_MALLOC_SIZE_H
#include <stddef.h>
#define MALLOC_ALIGNMENT _Alignof (max_align_t)
#define MALLOC_ALIGN_MASK (MALLOC_ALIGNMENT - 1)
#endif
