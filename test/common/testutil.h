/* Shared helpers for hugeslab's test programs.
 *
 * A test is one program: exit 0 = pass, 77 = skip, anything else = fail.
 * Every test calls test_require_hugeslab() first, so a run in which the
 * library was not actually linked or preloaded fails instead of silently
 * testing glibc. Setting HS_TEST_ANY_MALLOC=1 lifts that check, to validate a
 * test against glibc itself. */
#ifndef HS_TESTUTIL_H
#define HS_TESTUTIL_H

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/wait.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* #pragma weak NAME for an API function a test probes for: the name is
 * macro-expanded first, so that it is the prefixed name in a build
 * configured --with-symbol-prefix (src/prefix.h), which #pragma weak is not. */
#define TEST_PRAGMA_(text) _Pragma(#text)
#define TEST_WEAK(name) TEST_PRAGMA_(weak name)

/* free() for memory that libc allocated itself (getline, open_memstream,
 * strdup): __builtin_free calls the symbol free, which a prefixed build
 * leaves to the sanitizer's malloc that libc allocated from, and which is
 * hugeslab's own free in every other build. */
static inline void test_free_libc(void *p) { __builtin_free(p); }

/* Keep the compiler from proving a pointer unused and dropping its malloc. */
static inline void *test_opaque(void *p) {
  __asm__ volatile("" : "+r"(p) : : "memory");
  return p;
}

/* The same for a size: the compiler cannot see an impossible request (and
 * -Walloc-size-larger-than stays quiet about the ones tests make on purpose). */
static inline size_t test_opaque_size(size_t n) {
  __asm__ volatile("" : "+r"(n));
  return n;
}

/* 1 if libhugeslab.so is mapped into this process or its symbols are linked in. */
static inline int test_hugeslab_present(void) {
  FILE *maps = fopen("/proc/self/maps", "r");
  char line[4096];
  int found = 0;
  if (!maps) return 0;
  while (fgets(line, sizeof line, maps))
    if (strstr(line, "libhugeslab")) { found = 1; break; }
  fclose(maps);
  return found;
}

static inline void test_require_hugeslab(void) {
  const char *any = getenv("HS_TEST_ANY_MALLOC");
  if (any && strcmp(any, "1") == 0) return;
  if (!test_hugeslab_present()) {
    fprintf(stderr, "FAIL: libhugeslab is not mapped into this test process\n");
    exit(1);
  }
}

/* Deterministic PRNG (splitmix64) so failures reproduce. */
static inline uint64_t test_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* This process's VmSize and VmRSS in KiB, from /proc/self/statm. */
static inline void test_vm_kib(long *size, long *rss) {
  FILE *f = fopen("/proc/self/statm", "r");
  long s = 0, r = 0;
  CHECK(f != NULL);
  CHECK(fscanf(f, "%ld %ld", &s, &r) == 2);
  fclose(f);
  long kib = sysconf(_SC_PAGESIZE) / 1024;
  *size = s * kib;
  *rss = r * kib;
}

static inline long test_vm_size_kib(void) {
  long size, rss;
  test_vm_kib(&size, &rss);
  return size;
}

static inline long test_rss_kib(void) {
  long size, rss;
  test_vm_kib(&size, &rss);
  return rss;
}

/* Bytes the allocator reports in use. glibc leaves mmapped blocks out of
 * uordblks and hugeslab counts them there too, so both fields are summed:
 * only differences across a test are compared. */
static inline size_t test_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* This process's Private_Dirty in KiB from /proc/self/smaps_rollup, read
 * with plain system calls (no stdio, no malloc: the measurement must not
 * disturb what it measures); -1 if unavailable. */
static inline long test_private_dirty_kib(void) {
  char buf[4096];
  int fd = open("/proc/self/smaps_rollup", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *line = strstr(buf, "\nPrivate_Dirty:");
  return line ? strtol(line + strlen("\nPrivate_Dirty:"), NULL, 10) : -1;
}

/* Run this program again as `argv0 name` with HUGESLAB_CONF=conf (each case
 * of a test that needs its own configuration); whether it exited with 0. */
static inline bool test_run_case(const char *argv0, const char *name, const char *conf) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    setenv("HUGESLAB_CONF", conf, 1);
    execl("/proc/self/exe", argv0, name, (char *)NULL);
    _exit(127);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif
