/* free and errno, alignment of plain malloc.
 *
 * - free(NULL) is a no-op that leaves errno alone, whatever errno held.
 * - free(p) leaves errno alone on every path: small (slab) blocks, large
 *   blocks (page runs up to 1 MiB), huge blocks (their own mapping above
 *   1 MiB), frees that overflow the thread cache and flush it to the arena,
 *   and frees after many large blocks went back (so purging may run inside
 *   free).  Then the same again while the process is at vm.max_map_count:
 *   every mmap/mprotect/munmap that would add a mapping fails with ENOMEM,
 *   and free must still keep errno (a failing syscall inside free is the
 *   classic way errno leaks out).  malloc in that state must give either a
 *   usable block or NULL with ENOMEM.
 * - every malloc(n) result is aligned to 16 (alignof(max_align_t) on
 *   x86-64 and aarch64): the glibc sizes 2, 8, 13, 16, 23, 43, 123, every
 *   size up to 4 KiB and sizes up to the huge path, all kept live so each
 *   result is a distinct block.
 */
#include <malloc.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

/* errno values free must not disturb: 0 (an allocator that "restores" a
 * stale value is caught), the value a failing syscall would leave, and
 * values no syscall returns. */
static const int sentinels[] = {0, ENOMEM, EINVAL, 4242, -7};
#define NSENT (sizeof sentinels / sizeof sentinels[0])

static unsigned char pattern(const void *p, size_t i) {
  return (unsigned char)(((uintptr_t)p >> 4) * 31u + i * 7u + 1u);
}

/* Writes a pattern over the first and last bytes of each 4 KiB page of p
 * (every byte for small blocks), so corruption between malloc and free shows. */
static void fill(unsigned char *p, size_t n) {
  if (n <= 8192) {
    for (size_t i = 0; i < n; i++) p[i] = pattern(p, i);
    return;
  }
  for (size_t i = 0; i < n; i += 4096) p[i] = pattern(p, i);
  p[n - 1] = pattern(p, n - 1);
}

static void verify(const unsigned char *p, size_t n) {
  if (n <= 8192) {
    for (size_t i = 0; i < n; i++)
      CHECK_MSG(p[i] == pattern(p, i), "block %p size %zu corrupted at %zu", (void *)p, n, i);
    return;
  }
  for (size_t i = 0; i < n; i += 4096)
    CHECK_MSG(p[i] == pattern(p, i), "block %p size %zu corrupted at %zu", (void *)p, n, i);
  CHECK(p[n - 1] == pattern(p, n - 1));
}

/* free(p) with errno set to sentinel k; checks errno afterwards. */
static void free_keeps_errno(void *p, size_t n, int k) {
  if (p) verify(p, n);
  errno = sentinels[k % NSENT];
  free(p);
  int e = errno;
  CHECK_MSG(e == sentinels[k % NSENT], "free(%p) of size %zu changed errno %d -> %d", p, n,
            sentinels[k % NSENT], e);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  CHECK_MSG(p != NULL, "malloc(%zu) failed", n);
  fill(p, n);
  return p;
}

static void test_free_null(void) {
  for (size_t k = 0; k < NSENT; k++) free_keeps_errno(NULL, 0, (int)k);
}

/* Sizes that reach each path: slab classes, page runs (<= 1 MiB), huge. */
static const size_t path_sizes[] = {
  1, 16, 24, 100, 512, 1000, 4096, 8000, 16384, 32768,          /* small */
  32769, 40000, 65536, 100000, 262144, 524288, 1048575, 1048576, /* large */
  1048577, 2097152, 2097153, 4194304, 9000000, 33554432,         /* huge  */
};
#define NPATH (sizeof path_sizes / sizeof path_sizes[0])

static void test_free_paths(void) {
  /* One block at a time: the block goes to the thread cache or is unmapped. */
  for (int round = 0; round < 3; round++)
    for (size_t i = 0; i < NPATH; i++) {
      void *p = xmalloc(path_sizes[i]);
      free_keeps_errno(p, path_sizes[i], (int)(i + round));
    }

  /* Many blocks of one size, freed in a row: the thread cache overflows and
   * flushes to the arena, slabs become empty and may be released. */
  enum { N = 4000 };
  static void *ptrs[N];
  static const size_t bulk_sizes[] = {16, 48, 256, 3000, 32768, 65536};
  for (size_t s = 0; s < sizeof bulk_sizes / sizeof bulk_sizes[0]; s++) {
    size_t n = bulk_sizes[s];
    size_t count = n >= 32768 ? N / 16 : N;
    for (size_t i = 0; i < count; i++) ptrs[i] = xmalloc(n);
    for (size_t i = 0; i < count; i++) free_keeps_errno(ptrs[i], n, (int)i);
  }

  /* Many large and huge blocks freed, with malloc_trim in between, so the
   * frees that follow may purge (madvise) or unmap. */
  for (int round = 0; round < 4; round++) {
    for (size_t i = 0; i < 64; i++) ptrs[i] = xmalloc(path_sizes[10 + i % 14]);
    for (size_t i = 0; i < 64; i += 2) free_keeps_errno(ptrs[i], path_sizes[10 + i % 14], (int)i);
    errno = 4242;
    malloc_trim(0);
    errno = 0;
    for (size_t i = 1; i < 64; i += 2) free_keeps_errno(ptrs[i], path_sizes[10 + i % 14], (int)i);
  }
}

/* free keeps errno under vm.max_map_count exhaustion.  A PROT_NONE
 * reservation is split by mprotect'ing every other page until the kernel
 * refuses with ENOMEM; at that point no new mapping can be created and no
 * existing one split. */
static void test_free_at_map_limit(void) {
  long maxmap = 0;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  if (f) {
    if (fscanf(f, "%ld", &maxmap) != 1) maxmap = 0;
    fclose(f);
  }
  if (maxmap <= 0 || maxmap > 300000) {
    fprintf(stderr, "note: vm.max_map_count=%ld, map-limit part skipped\n", maxmap);
    return;
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t npages = (size_t)maxmap * 2 + 1024;
  unsigned char *res = mmap(NULL, npages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (res == MAP_FAILED) {
    fprintf(stderr, "note: cannot reserve %zu pages, map-limit part skipped\n", npages);
    return;
  }

  /* Blocks on every path, allocated before the limit is reached. */
  void *blocks[NPATH * 4];
  size_t sizes[NPATH * 4];
  size_t nb = 0;
  for (int r = 0; r < 4; r++)
    for (size_t i = 0; i < NPATH; i++) {
      sizes[nb] = path_sizes[i];
      blocks[nb++] = xmalloc(path_sizes[i]);
    }

  size_t split = 0;
  int reached = 0;
  for (size_t pg = 1; pg + 1 < npages; pg += 2) {
    if (mprotect(res + pg * page, page, PROT_READ) != 0) {
      CHECK_MSG(errno == ENOMEM, "mprotect failed with errno %d", errno);
      reached = 1;
      break;
    }
    split++;
  }
  CHECK_MSG(reached, "split %zu pages without reaching vm.max_map_count=%ld", split, maxmap);

  /* At the limit: frees keep errno, mallocs succeed or say ENOMEM. */
  for (size_t i = 0; i < nb; i++) {
    free_keeps_errno(blocks[i], sizes[i], (int)i);
    size_t n = path_sizes[(i * 7) % NPATH];
    errno = 0;
    void *p = malloc(n);
    if (p == NULL) {
      CHECK_MSG(errno == ENOMEM, "malloc(%zu) at map limit: NULL with errno %d", n, errno);
    } else {
      fill(p, n);
      free_keeps_errno(p, n, (int)i + 1);
    }
  }

  CHECK(munmap(res, npages * page) == 0);
  /* Once mappings are available again the allocator works normally. */
  for (size_t i = 0; i < NPATH; i++) free_keeps_errno(xmalloc(path_sizes[i]), path_sizes[i], (int)i);
}

static void test_malloc_alignment(void) {
  static const size_t glibc_sizes[] = {2, 8, 13, 16, 23, 43, 123};
  enum { NLIVE = 4097 + 40 };
  static void *live[NLIVE];
  static size_t live_n[NLIVE];
  size_t nl = 0;
  CHECK(alignof(max_align_t) <= 16);
  for (size_t i = 0; i < sizeof glibc_sizes / sizeof glibc_sizes[0]; i++) {
    live_n[nl] = glibc_sizes[i];
    live[nl++] = xmalloc(glibc_sizes[i]);
  }
  for (size_t n = 0; n <= 4096; n++) {
    live_n[nl] = n;
    live[nl++] = xmalloc(n);
  }
  for (size_t i = 0; i < NPATH; i++) {
    live_n[nl] = path_sizes[i];
    live[nl++] = xmalloc(path_sizes[i]);
  }
  for (size_t i = 0; i < nl; i++)
    CHECK_MSG((uintptr_t)live[i] % 16 == 0, "malloc(%zu) = %p is not 16-aligned", live_n[i], live[i]);
  for (size_t i = 0; i < nl; i++) free_keeps_errno(live[i], live_n[i], (int)i);
}

int main(void) {
  test_require_hugeslab();
  test_free_null();
  test_free_paths();
  test_malloc_alignment();
  test_free_at_map_limit();
  return 0;
}
