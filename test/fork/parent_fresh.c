/* While its child still reads the heap, a parent that frees some of its
 * blocks and allocates new ones does not copy the pages the child shares:
 * the parent's new blocks go to fresh slabs too, not into the holes it just
 * made (fork_fresh, fork_settle_ms, hs_fork_settle).
 *
 * The parent fills HEAP bytes with 64-byte blocks and frees one in ten (a
 * hole in every page) and forks. The child reads the whole heap, tells the
 * parent, waits, and measures its own Private_Dirty. Meanwhile the parent
 * allocates and writes as many blocks as it freed, frees another one in ten
 * and allocates those again. Every page the parent writes that the child
 * still maps becomes the child's alone and counts in the child's
 * Private_Dirty. Each case re-executes this program with its HUGESLAB_CONF:
 *   - default: the child's Private_Dirty stays under 4 MiB;
 *   - fork_fresh:false: the parent fills the holes, nearly every page is
 *     copied (at least half the heap), which proves the measurement;
 *   - fork_settle_ms:-1 with hs_fork_settle() called by the parent before it
 *     allocates: the holes are filled again at once (at least half copied);
 *   - fork_settle_ms:0: the parent does not retire its slabs at all (at
 *     least half copied).
 * The child's hs_fork_stats must agree: at least 90% of its resident heap
 * still shared in the default case, at most half in the others.
 * thp:never keeps copies at 4 KiB (a kernel may copy a whole huge page). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hugeslab.h"
#include "testutil.h"

TEST_WEAK(hs_fork_settle)
TEST_WEAK(hs_fork_stats)

#define HEAP ((size_t)32 << 20)
#define BLOCK 64
#define NBLOCKS (HEAP / BLOCK)

static unsigned char pattern(size_t block) { return (unsigned char)(block * 31 + 7); }

/* The parent's churn: free one block in ten (from `phase`) and allocate as
 * many again, written, into fresh[] (mapped after the fork: the array the
 * child reads is only read here, so the test itself copies none of it). */
static size_t churn(unsigned char *const *blocks, size_t phase, unsigned char **fresh) {
  size_t n = 0;
  for (size_t i = phase; i < NBLOCKS; i += 10) free(blocks[i]);
  for (size_t i = phase; i < NBLOCKS; i += 10) {
    CHECK((fresh[n] = malloc(BLOCK)) != NULL);
    memset(fresh[n++], pattern(i), BLOCK);
  }
  return n;
}

struct outcome {
  long grown_kib;                /* the child's Private_Dirty growth */
  struct hs_fork_stats fork;     /* the child's view of its heap at the end */
};

static struct outcome run(bool settle_first) {
  unsigned char **blocks = mmap(NULL, NBLOCKS * sizeof *blocks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                -1, 0);
  CHECK(blocks != MAP_FAILED);
  for (size_t i = 0; i < NBLOCKS; i++) {
    CHECK((blocks[i] = malloc(BLOCK)) != NULL);
    memset(blocks[i], pattern(i), BLOCK);
  }
  for (size_t i = 0; i < NBLOCKS; i += 10) {
    free(blocks[i]);
    blocks[i] = NULL;
  }
  int ready[2], go[2], result[2];
  CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(result) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(60);
    long start = test_private_dirty_kib();
    unsigned sum = 0;
    for (size_t i = 0; i < NBLOCKS; i++)
      if (blocks[i]) sum += blocks[i][BLOCK - 1];
    char c = (char)sum;
    if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(2);
    struct outcome o = {.grown_kib = test_private_dirty_kib() - start};
    if (hs_fork_stats(&o.fork) != 0) _exit(4);
    _exit(write(result[1], &o, sizeof o) == sizeof o ? 0 : 3);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  unsigned char **fresh = mmap(NULL, NBLOCKS / 4 * sizeof *fresh, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(fresh != MAP_FAILED);
  if (settle_first) hs_fork_settle();
  size_t nfresh = churn(blocks, 1, fresh);
  nfresh += churn(blocks, 5, fresh + nfresh);
  CHECK(write(go[1], &c, 1) == 1);
  struct outcome o;
  CHECK(read(result[0], &o, sizeof o) == sizeof o);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (size_t i = 0; i < NBLOCKS; i++) {
    if (i % 10 == 0 || i % 10 == 1 || i % 10 == 5) continue;
    CHECK(blocks[i][0] == pattern(i));
    free(blocks[i]);
  }
  for (size_t i = 0; i < nfresh; i++) free(fresh[i]);
  munmap(fresh, NBLOCKS / 4 * sizeof *fresh);
  munmap(blocks, NBLOCKS * sizeof *blocks);
  return o;
}

static const struct {
  const char *name, *conf;
  bool settle_first, shares;
} cases[] = {
    {"default", "thp:never", false, true},
    {"off", "thp:never,fork_fresh:false", false, false},
    {"settled", "thp:never,fork_settle_ms:-1", true, false},
    {"no-wait", "thp:never,fork_settle_ms:0", false, false},
};

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (test_private_dirty_kib() < 0) {
    printf("parent_fresh: /proc/self/smaps_rollup unavailable, skipping\n");
    return 77;
  }
  if (argc == 2) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      if (strcmp(argv[1], cases[i].name) != 0) continue;
      struct outcome o = run(cases[i].settle_first);
      long grown = o.grown_kib;
      size_t res = o.fork.heap_resident, shared = o.fork.heap_shared;
      printf("%s (HUGESLAB_CONF=%s): the child's Private_Dirty grew %ld KiB while the parent churned 20%% of a %zu MiB "
             "heap; hs_fork_stats: %zu of %zu KiB shared, forks %u, retired %d\n",
             cases[i].name, cases[i].conf, grown, HEAP >> 20, shared >> 10, res >> 10, o.fork.forks, o.fork.retired);
      CHECK(o.fork.forks == 1 && o.fork.heap_private == res - shared && res >= HEAP / 2);
      if (cases[i].shares) {
        CHECK_MSG(grown < 4096, "the parent's new blocks copied %ld KiB of shared pages", grown);
        CHECK_MSG(shared >= res / 10 * 9, "hs_fork_stats: only %zu of %zu bytes shared", shared, res);
        CHECK(o.fork.retired == 1);
      } else {
        CHECK_MSG(grown > (long)(HEAP >> 11), "only %ld KiB copied: the measurement does not see the copies", grown);
        CHECK_MSG(shared <= res / 2, "hs_fork_stats: %zu of %zu bytes shared after the copies", shared, res);
      }
      return 0;
    }
    return 2;
  }
  /* Before any fork nothing is shared; NULL is refused. */
  struct hs_fork_stats alone;
  void *keep = malloc(1 << 16);
  CHECK(keep != NULL);
  memset(keep, 1, 1 << 16);
  CHECK(hs_fork_stats(&alone) == 0);
  CHECK_MSG(alone.heap_resident >= (1 << 16) && alone.heap_shared == 0 && alone.forks == 0 && !alone.retired,
            "a process that never forked: resident %zu, shared %zu, forks %u", alone.heap_resident, alone.heap_shared,
            alone.forks);
  errno = 0;
  CHECK(hs_fork_stats(NULL) == -1 && errno == EINVAL);
  free(keep);
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool ok = test_run_case(argv[0], cases[i].name, cases[i].conf);
    if (!ok) printf("%s: FAILED\n", cases[i].name);
    failed += !ok;
  }
  return failed ? 1 : 0;
}
