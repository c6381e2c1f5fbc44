/* Simple fork (after jemalloc's test_fork).
 *
 * Blocks of every kind (small, large, huge) allocated before fork are freed
 * in both parent and child, and both allocate again afterwards. The child
 * checks the contents it inherited and reports through its exit status; it
 * also forks a grandchild that does the same. Repeated a few times so the
 * parent forks with a heap it has already forked from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

enum { ROUNDS = 20, NBLOCKS = 6 };

static const size_t sizes[NBLOCKS] = {16, 100, 4000, 32768, 300000,
                                      (size_t)3 << 20};

static void alloc_all(unsigned char **b, unsigned char tag) {
  for (int i = 0; i < NBLOCKS; i++) {
    b[i] = malloc(sizes[i]);
    CHECK_MSG(b[i] != NULL, "malloc(%zu) failed", sizes[i]);
    memset(b[i], tag + i, sizes[i]);
  }
}

/* 0 if every block still holds tag + index. */
static int check_all(unsigned char **b, unsigned char tag) {
  for (int i = 0; i < NBLOCKS; i++)
    for (size_t j = 0; j < sizes[i]; j += 512)
      if (b[i][j] != (unsigned char)(tag + i) ||
          b[i][sizes[i] - 1] != (unsigned char)(tag + i))
        return 1;
  return 0;
}

static void free_all(unsigned char **b) {
  for (int i = 0; i < NBLOCKS; i++) free(b[i]);
}

/* Both sides after fork: check, free the inherited blocks, allocate new
 * ones, check those, free them. Returns 0 on success. */
static int use_heap(unsigned char **inherited, unsigned char tag) {
  unsigned char *fresh[NBLOCKS];
  if (check_all(inherited, tag)) return 1;
  free_all(inherited);
  alloc_all(fresh, 0x40);
  if (check_all(fresh, 0x40)) return 2;
  free_all(fresh);
  return 0;
}

static void wait_for(pid_t pid, const char *who) {
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "%s failed: %s %d", who,
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(void) {
  test_require_hugeslab();
  for (int round = 0; round < ROUNDS; round++) {
    unsigned char *b[NBLOCKS];
    unsigned char tag = (unsigned char)(round * 16);
    alloc_all(b, tag);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(10);
      int rc = use_heap(b, tag);
      if (rc == 0 && round % 5 == 0) {
        /* The child forks too: its heap (part inherited, part its own). */
        unsigned char *c[NBLOCKS];
        alloc_all(c, 0x80);
        pid_t gc = fork();
        if (gc == 0) _exit(use_heap(c, 0x80) ? 20 : 0);
        int status;
        if (gc < 0 || waitpid(gc, &status, 0) != gc || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
          rc = 3;
        else if (use_heap(c, 0x80))
          rc = 4;
      }
      _exit(rc);
    }
    CHECK_MSG(use_heap(b, tag) == 0, "parent heap broken after fork");
    wait_for(pid, "child");
  }
  printf("simple: %d forks\n", ROUNDS);
  return 0;
}
