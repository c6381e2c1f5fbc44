/* A forked child that reads and frees its parent's blocks does not copy the
 * parent's heap (docs/design.md, "Fork").
 *
 * The parent fills HEAP bytes with 64-byte blocks and forks. The child
 *   1. reads every block and checks its contents;
 *   2. mallocs and frees 1 MiB worth of small blocks;
 *   3. frees FREES of the parent's blocks, spread so that each lies in a
 *      different 4 KiB page;
 * and measures Private_Dirty in /proc/self/smaps_rollup before and after.
 * Private_Dirty counts pages this process has written since the fork (its
 * own copies); the parent's untouched pages stay shared and are not counted.
 * An allocator that writes into a block when it is freed (an in-band free
 * list, as glibc's) copies one page per free: FREES pages = 32 MiB. hugeslab
 * keeps its metadata out of line and puts the child's new blocks in fresh
 * slabs, so the growth is the child's own new blocks, some descriptor
 * pages and its stack: far under the limit of 16 MiB. glibc is expected to
 * FAIL this test (HS_TEST_ANY_MALLOC=1 shows it): that is what it detects.
 *
 * Copies on a transparent huge page: recent kernels split the huge page and
 * copy 4 KiB on a write fault in a COW mapping, older ones could copy all
 * 2 MiB, so how much a single stray write costs varies by kernel. The limit
 * leaves room for a few such copies of descriptor pages, not for a copy per
 * freed block. Skips (77) when smaps_rollup is unavailable. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define HEAP ((size_t)64 << 20)
#define BLOCK 64
#define NBLOCKS (HEAP / BLOCK)
#define FREES 8192
#define LIMIT_KIB (16 * 1024)

static void say(const char *msg) {
  ssize_t w = write(2, msg, strlen(msg));
  (void)w;
}

static unsigned char pattern(size_t block, size_t byte) {
  return (unsigned char)(block * 31 + byte);
}

/* Exit codes: 0 ok, 10 contents damaged, 11 malloc failed, 12 smaps
 * unreadable, 13 too much copied. */
static int child(unsigned char **blocks) {
  alarm(30);
  long start = test_private_dirty_kib();
  if (start < 0) return 12;

  for (size_t i = 0; i < NBLOCKS; i++)
    for (size_t j = 0; j < BLOCK; j++)
      if (blocks[i][j] != pattern(i, j)) return 10;
  long after_read = test_private_dirty_kib();

  enum { OWN = (1 << 20) / BLOCK };
  static unsigned char *own[OWN];
  for (size_t i = 0; i < OWN; i++) {
    own[i] = malloc(BLOCK);
    if (!own[i]) return 11;
    memset(own[i], 0x33, BLOCK);
  }
  for (size_t i = 0; i < OWN; i++) free(own[i]);

  /* One block out of every NBLOCKS / FREES: 8 KiB apart when the blocks are
   * packed, so each lies in its own page. */
  for (size_t i = 0; i < FREES; i++) free(blocks[i * (NBLOCKS / FREES)]);
  long end = test_private_dirty_kib();

  char msg[200];
  snprintf(msg, sizeof msg,
           "cow: child Private_Dirty %ld kB at fork, +%ld kB after reading "
           "%zu MiB, +%ld kB after its own allocations and %d frees\n",
           start, after_read - start, HEAP >> 20, end - start, FREES);
  say(msg);
  return end - start < LIMIT_KIB ? 0 : 13;
}

int main(void) {
  test_require_hugeslab();
  if (test_private_dirty_kib() < 0) {
    printf("cow: /proc/self/smaps_rollup unavailable, skipping\n");
    return 77;
  }
  /* The pointer array lives outside the heap being measured. */
  unsigned char **blocks = mmap(NULL, NBLOCKS * sizeof *blocks,
                                PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(blocks != MAP_FAILED);
  for (size_t i = 0; i < NBLOCKS; i++) {
    blocks[i] = malloc(BLOCK);
    CHECK(blocks[i] != NULL);
    for (size_t j = 0; j < BLOCK; j++) blocks[i][j] = pattern(i, j);
  }
  fflush(stdout);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) _exit(child(blocks));
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child %s %d (10: inherited block damaged, 11: malloc failed, "
            "12: smaps_rollup unreadable, 13: the child copied %d MiB or more "
            "of the parent's heap, signal 14: hang)",
            WIFEXITED(status) ? "exited with" : "killed by signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
            LIMIT_KIB / 1024);

  for (size_t i = 0; i < NBLOCKS; i++) free(blocks[i]);
  munmap(blocks, NBLOCKS * sizeof *blocks);
  return 0;
}
