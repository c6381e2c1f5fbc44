/* Peak resident set of a minimal C program, for no_libstdcxx.sh, which runs
 * it plain (glibc) and under LD_PRELOAD. argv[1] is "none" (like true(1):
 * nothing allocated, so the figure is the cost of loading the library) or
 * "malloc" (one malloc and free first: loading plus the allocator's first-use
 * set-up). Prints "VmHWM KIB" then "hugeslab 0|1" (whether the library is
 * mapped). VmHWM is read with open/read into the stack, before stdio or the
 * maps scan can allocate anything. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "none") && strcmp(argv[1], "malloc"))) {
    fprintf(stderr, "usage: rss_probe none|malloc\n");
    return 2;
  }
  if (!strcmp(argv[1], "malloc")) free(test_opaque(malloc(1)));
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return 2;
  ssize_t len = 0, n;
  while (len < (ssize_t)sizeof buf - 1 &&
         (n = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
    len += n;
  close(fd);
  buf[len > 0 ? len : 0] = '\0';
  const char *hwm = strstr(buf, "\nVmHWM:");
  if (!hwm) return 2;
  long kib = strtol(hwm + strlen("\nVmHWM:"), NULL, 10);
  printf("VmHWM %ld\nhugeslab %d\n", kib, test_hugeslab_present());
  return 0;
}
