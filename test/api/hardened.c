/* Hardened mode (HUGESLAB_CONF=hardened:true; run by hardened.sh, linked
 * and preloaded) beyond what test/death finds: the mode is on (usable size
 * is the size asked for), a freed block is zeroed, a freed block is not
 * handed out again at once (the quarantine), small slots are not handed out
 * in address order, and a forked child does not repeat its parent's
 * choices. Usage: hardened on (the mode must be on) | hardened (it must be
 * off, as without HUGESLAB_CONF, and the order check tells the modes
 * apart). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define SEQ 64

/* Of SEQ fresh blocks of 64 bytes, how many lie above the one before. */
static int in_address_order(void **blocks) {
  int rising = 0;
  for (int i = 0; i < SEQ; i++) blocks[i] = test_opaque(malloc(64));
  for (int i = 1; i < SEQ; i++) rising += (char *)blocks[i] > (char *)blocks[i - 1];
  return rising;
}

int main(int argc, char **argv) {
  test_require_hugeslab();
  bool want_on = argc > 1 && strcmp(argv[1], "on") == 0;

  /* 1. On: the usable size is what was asked for (a class size when off). */
  void *p40 = test_opaque(malloc(40));
  size_t usable = malloc_usable_size(p40);
  printf("hardened: malloc_usable_size(malloc(40)) = %zu\n", usable);
  CHECK_MSG((usable == 40) == want_on, "usable size %zu: hardened mode is %s", usable, want_on ? "off" : "on");
  free(p40);
  void *blocks[SEQ];
  if (!want_on) {
    /* Off: the same count as 4. below, to show it tells the modes apart. */
    int rising = in_address_order(blocks);
    printf("default: %d of %d blocks above the one before\n", rising, SEQ - 1);
    CHECK_MSG(rising >= SEQ - 4, "default mode hands out blocks out of address order (%d of %d)", rising, SEQ - 1);
    return 0;
  }

  /* 2. Zero on free: the freed block's bytes read back as zero (it waits
   * in the quarantine, still mapped). */
  unsigned char *p = test_opaque(malloc(200));
  memset(p, 0xab, 200);
  free(p);
  size_t nonzero = 0;
  for (int i = 0; i < 200; i++) nonzero += ((volatile unsigned char *)p)[i] != 0;
  CHECK_MSG(nonzero == 0, "%zu bytes of a freed block not zeroed", nonzero);

  /* 3. Quarantine: the next thousand allocations of its size do not get it. */
  void *stale = test_opaque(malloc(96));
  free(stale);
  void *later[1000];
  for (int i = 0; i < 1000; i++) {
    later[i] = test_opaque(malloc(96));
    CHECK_MSG(later[i] != stale, "a freed block came back after %d allocations", i);
  }
  for (int i = 0; i < 1000; i++) free(later[i]);

  /* 4. Random slots: not in address order, as the default mode's are. */
  int rising = in_address_order(blocks);
  printf("hardened: %d of %d blocks above the one before\n", rising, SEQ - 1);
  CHECK_MSG(rising < SEQ * 3 / 4, "%d of %d blocks in address order", rising, SEQ - 1);

  /* 5. After fork the child's choices are its own: from the same heap,
   * parent and child do not take the same sequence of slots. */
  int fds[2];
  CHECK(pipe(fds) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  void *mine[SEQ];
  for (int i = 0; i < SEQ; i++) mine[i] = test_opaque(malloc(64));
  if (pid == 0) {
    ssize_t w = write(fds[1], mine, sizeof mine);
    _exit(w == (ssize_t)sizeof mine ? 0 : 1);
  }
  void *theirs[SEQ];
  CHECK(read(fds[0], theirs, sizeof theirs) == (ssize_t)sizeof theirs);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  int same = 0;
  for (int i = 0; i < SEQ; i++) same += mine[i] == theirs[i];
  printf("hardened: parent and child took the same slot %d times of %d\n", same, SEQ);
  CHECK_MSG(same < SEQ / 2, "the child repeated its parent's slot choices (%d of %d)", same, SEQ);
  for (int i = 0; i < SEQ; i++) free(mine[i]);
  for (int i = 0; i < SEQ; i++) free(blocks[i]);
  printf("hardened: ok\n");
  return 0;
}
