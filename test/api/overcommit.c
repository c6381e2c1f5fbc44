/* A request the machine cannot back fails with NULL + ENOMEM (as glibc's
 * does), because memory that will be written is charged to the kernel's
 * commit limit: under the default heuristic (vm.overcommit_memory = 0) a
 * single request larger than RAM + swap is refused, under strict overcommit
 * (2) anything over CommitLimit. Asked through every path that can reach the
 * kernel with such a size: malloc (huge), calloc, realloc of a live block
 * (which stays intact), posix_memalign, aligned_alloc, memalign. Then an
 * ordinary large block still works. Mode 1 (always overcommit) grants
 * anything: skipped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

static long long meminfo_kib(const char *key) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  long long v = -1;
  size_t klen = strlen(key);
  CHECK(f);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') v = atoll(line + klen + 1);
  fclose(f);
  return v;
}

#define EXPECT_ENOMEM(expr, what)                                                                    \
  do {                                                                                               \
    errno = 0;                                                                                       \
    void *p_ = (expr);                                                                               \
    int e_ = errno;                                                                                  \
    CHECK_MSG(p_ == NULL, "%s of %zu GiB returned %p: the request was not charged", what, big >> 30, p_); \
    CHECK_MSG(e_ == ENOMEM, "%s: errno %d, want ENOMEM", what, e_);                                 \
  } while (0)

int main(void) {
  test_require_hugeslab();
  FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
  int mode = -1;
  CHECK(f && fscanf(f, "%d", &mode) == 1);
  fclose(f);
  long long ram = meminfo_kib("MemTotal"), swap = meminfo_kib("SwapTotal"), limit = meminfo_kib("CommitLimit");
  CHECK(ram > 0 && swap >= 0 && limit > 0);
  size_t big;
  if (mode == 0) big = (size_t)(ram + swap) * 1024 * 2;
  else if (mode == 2) big = (size_t)limit * 1024 * 2;
  else {
    printf("SKIP: vm.overcommit_memory = %d grants every request\n", mode);
    return 77;
  }
  big = test_opaque_size(big);
  EXPECT_ENOMEM(malloc(big), "malloc");
  EXPECT_ENOMEM(calloc(1, big), "calloc");
  EXPECT_ENOMEM(calloc(big / 4096, 4096), "calloc(n, 4096)");
  EXPECT_ENOMEM(aligned_alloc(1 << 21, big), "aligned_alloc(2 MiB)");
  EXPECT_ENOMEM(memalign(4096, big), "memalign(4096)");
  void *out = &out;
  errno = 0;
  CHECK_MSG(posix_memalign(&out, 64, big) == ENOMEM && out == &out && errno == ENOMEM, "posix_memalign");

  char *keep = malloc(100000);
  CHECK(keep);
  memset(keep, 0x5a, 100000);
  EXPECT_ENOMEM(realloc(keep, big), "realloc");
  for (size_t i = 0; i < 100000; i++) CHECK_MSG(keep[i] == 0x5a, "realloc failure changed byte %zu", i);
  free(keep);

  /* An ordinary large block is still granted, and writable. */
  size_t ok = (size_t)256 << 20;
  char *p = malloc(ok);
  CHECK(p);
  for (size_t i = 0; i < ok; i += 4096) p[i] = 1;
  free(p);
  printf("overcommit: mode %d, %zu GiB refused with ENOMEM everywhere\n", mode, big >> 30);
  return 0;
}
