/* What the allocator prints cannot be cut short by thread cancellation
 * (glibc's tst-malloc-stats-cancellation): a thread with a cancel pending
 * (deferred) calls malloc_stats() and malloc_info(); each report comes out
 * whole, and the cancel is acted on at the thread's next cancellation point,
 * not inside them (open, read and write are cancellation points, and
 * malloc_stats reads a /sys file before it writes). malloc_stats ends with
 * glibc's own summary lines ("max mmap regions", "max mmap bytes"). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

static FILE *info_out;
static volatile int returned_from_stats, returned_from_info;

static void *reporter(void *arg) {
  (void)arg;
  pthread_cancel(pthread_self()); /* pending: deferred cancellation */
  malloc_stats();
  returned_from_stats = 1;
  malloc_info(0, info_out);
  returned_from_info = 1;
  pthread_testcancel();
  return NULL; /* not reached */
}

static char *slurp(int fd) {
  static char buf[1 << 16];
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  CHECK(n >= 0);
  buf[n] = 0;
  return buf;
}

int main(void) {
  test_require_hugeslab();
  char path[] = "/tmp/hs-cancel-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  info_out = tmpfile();
  CHECK(info_out);
  free(malloc(100));
  free(malloc(4 << 20)); /* a huge mapping: "max mmap regions" is then at least 1 */

  int saved_stderr = dup(2);
  CHECK(saved_stderr >= 0 && dup2(fd, 2) == 2);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, reporter, NULL) == 0);
  void *result;
  CHECK(pthread_join(t, &result) == 0);
  CHECK(dup2(saved_stderr, 2) == 2);

  CHECK_MSG(result == PTHREAD_CANCELED, "the thread was not cancelled at all");
  CHECK_MSG(returned_from_stats, "the thread was cancelled inside malloc_stats");
  CHECK_MSG(returned_from_info, "the thread was cancelled inside malloc_info");
  const char *stats = slurp(fd);
  /* hugeslab's report: its first line, its last field, then glibc's
   * summary, whose last line is "max mmap bytes". */
  CHECK_MSG(strstr(stats, "hugeslab") && strstr(stats, "arenas = ") && strstr(stats, "max mmap bytes   = "),
            "malloc_stats output incomplete: [%s]", stats);
  const char *regions = strstr(stats, "max mmap regions = ");
  CHECK_MSG(regions && atol(regions + strlen("max mmap regions = ")) >= 1, "max mmap regions: [%s]", stats);
  fflush(info_out);
  const char *info = slurp(fileno(info_out));
  CHECK_MSG(strstr(info, "<malloc") && strstr(info, "</malloc>"), "malloc_info output incomplete: [%s]", info);
  printf("cancel_print: both reports whole, cancel acted on afterwards\n");
  return 0;
}
