/* mallinfo2, mallinfo, malloc_info, malloc_trim, mallopt,
 * malloc_stats; and hs_version().
 *
 * Proves:
 *  - mallinfo2().uordblks grows by at least n while a malloc(n) is live, for
 *    a small (100 B), a large (200 KiB) and a huge (8 MiB) block.  glibc
 *    counts blocks it mmaps in hblkhd instead, so when the test runs against
 *    glibc (HS_TEST_ANY_MALLOC=1, hugeslab not mapped) uordblks + hblkhd is
 *    what must grow; with hugeslab, uordblks alone.
 *  - the old mallinfo() is exported and its uordblks grows the same way for
 *    a small block;
 *  - malloc_info(0, fp) writes an XML document that starts with "<malloc";
 *  - malloc_trim(0) returns 0 or 1, keeps the contents of live blocks, and
 *    the heap keeps working after it;
 *  - mallopt(-1000, 1) returns 0 and leaves errno alone (glibc returns 1,
 *    accepted only when running against glibc);
 *  - malloc_stats() writes something to stderr (fd 2) and returns;
 *  - hs_version() (hugeslab-specific, skipped when absent under
 *    HS_TEST_ANY_MALLOC=1) equals HUGESLAB_VERSION and looks like "X.Y.Z".
 */
#include <ctype.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hugeslab.h"
#include "testutil.h"

extern __typeof__(hs_version) hs_version __attribute__((weak));

static int on_hugeslab;

/* Bytes the allocator reports in use for the caller. */
static size_t in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return on_hugeslab ? mi.uordblks : mi.uordblks + mi.hblkhd;
}

static void check_growth(size_t n) {
  size_t before = in_use();
  void *p = malloc(n);
  CHECK(p != NULL);
  memset(p, 1, n);
  size_t after = in_use();
  CHECK_MSG(after >= before + n, "malloc(%zu): in-use bytes went %zu -> %zu (grew by less than %zu)",
            n, before, after, n);
  free(p);
}

static void check_old_mallinfo(void) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo before = mallinfo();
  void *p = malloc(1000);
  CHECK(p != NULL);
  memset(p, 2, 1000);
  struct mallinfo after = mallinfo();
#pragma GCC diagnostic pop
  CHECK_MSG(after.uordblks >= before.uordblks + 1000,
            "mallinfo().uordblks went %d -> %d after malloc(1000)", before.uordblks,
            after.uordblks);
  free(p);
}

static void check_malloc_info(void) {
  FILE *f = tmpfile();
  CHECK(f != NULL);
  void *keep = malloc(5000);  /* something to report */
  CHECK(keep != NULL);
  CHECK(malloc_info(0, f) == 0);
  free(keep);
  CHECK(fflush(f) == 0);
  long len = ftell(f);
  CHECK_MSG(len > 0, "malloc_info wrote nothing");
  rewind(f);
  char head[64] = {0};
  CHECK(fread(head, 1, sizeof head - 1, f) > 0);
  const char *s = head;
  while (isspace((unsigned char)*s)) s++;
  CHECK_MSG(strncmp(s, "<malloc", 7) == 0, "malloc_info output starts with \"%.20s\"", s);
  fclose(f);
}

static void check_trim(void) {
  enum { N = 4000 };
  static unsigned char *blk[N];
  static size_t len[N];
  uint64_t rng = 0x7a1d;
  for (unsigned i = 0; i < N; i++) {
    len[i] = 1 + test_rand(&rng) % ((i % 97) ? 16384 : 600000);
    blk[i] = malloc(len[i]);
    CHECK(blk[i] != NULL);
    memset(blk[i], (int)(i & 0xff), len[i]);
  }
  for (unsigned i = 0; i < N; i++)
    if (i % 10) { free(blk[i]); blk[i] = NULL; }
  int rc = malloc_trim(0);
  CHECK_MSG(rc == 0 || rc == 1, "malloc_trim(0) returned %d", rc);
  /* Live blocks kept their contents: trim may only drop free memory. */
  for (unsigned i = 0; i < N; i++) {
    if (!blk[i]) continue;
    for (size_t j = 0; j < len[i]; j++)
      CHECK_MSG(blk[i][j] == (unsigned char)(i & 0xff), "block %u byte %zu lost after malloc_trim", i, j);
  }
  /* The heap still works, also in the memory trim gave back. */
  for (unsigned i = 0; i < N; i++) {
    if (blk[i]) continue;
    blk[i] = malloc(len[i]);
    CHECK(blk[i] != NULL);
    memset(blk[i], 0x33, len[i]);
  }
  rc = malloc_trim(64 << 10);
  CHECK_MSG(rc == 0 || rc == 1, "malloc_trim(64 KiB) returned %d", rc);
  for (unsigned i = 0; i < N; i++) free(blk[i]);
  rc = malloc_trim(0);
  CHECK_MSG(rc == 0 || rc == 1, "malloc_trim(0) returned %d", rc);
  void *p = malloc(100);
  CHECK(p != NULL);
  free(p);
}

static void check_mallopt(void) {
  errno = 31337;
  int rc = mallopt(-1000, 1);
  /* 0 is what hugeslab owes (as scudo does).  glibc 2.36 returns 1 for an
   * unknown parameter, so against glibc only the errno half is checked. */
  if (on_hugeslab)
    CHECK_MSG(rc == 0, "mallopt(-1000, 1) returned %d", rc);
  else
    CHECK_MSG(rc == 0 || rc == 1, "mallopt(-1000, 1) returned %d", rc);
  CHECK_MSG(errno == 31337, "mallopt(-1000, 1) set errno to %d", errno);
}

static void check_malloc_stats(void) {
  char path[] = "/tmp/hs-intro-stats-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  fflush(stderr);
  int saved = dup(2);
  CHECK(saved >= 0);
  CHECK(dup2(fd, 2) == 2);
  void *p = malloc(777);
  malloc_stats();
  free(p);
  fflush(stderr);
  CHECK(dup2(saved, 2) == 2);
  close(saved);
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  CHECK_MSG(st.st_size > 0, "malloc_stats() wrote nothing to stderr");
  close(fd);
}

static void check_version(void) {
  if (!hs_version) {
    const char *any = getenv("HS_TEST_ANY_MALLOC");
    CHECK_MSG(any && strcmp(any, "1") == 0, "hs_version is not defined at run time");
    fprintf(stderr, "note: hs_version() absent (not hugeslab), version check skipped\n");
    return;
  }
  const char *v = hs_version();
  CHECK(v != NULL);
  CHECK_MSG(strcmp(v, HUGESLAB_VERSION) == 0, "hs_version() = \"%s\", header says \"%s\"", v,
            HUGESLAB_VERSION);
  /* digits '.' digits '.' digits */
  const char *s = v;
  for (int part = 0; part < 3; part++) {
    CHECK_MSG(isdigit((unsigned char)*s), "hs_version() \"%s\" is not X.Y.Z", v);
    while (isdigit((unsigned char)*s)) s++;
    if (part < 2) {
      CHECK_MSG(*s == '.', "hs_version() \"%s\" is not X.Y.Z", v);
      s++;
    }
  }
  CHECK_MSG(*s == '\0' || *s == '-' || *s == '+', "hs_version() \"%s\" has trailing junk", v);
}

int main(void) {
  test_require_hugeslab();
  on_hugeslab = test_hugeslab_present();

  check_growth(100);
  check_growth(200 << 10);
  check_growth(8 << 20);
  check_old_mallinfo();
  check_malloc_info();
  check_trim();
  check_mallopt();
  check_malloc_stats();
  check_version();
  return 0;
}
