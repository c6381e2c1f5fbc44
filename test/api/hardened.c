/* Hardened mode (HUGESLAB_CONF=hardened:true; run by hardened.sh, linked
 * and preloaded) beyond what test/death finds: the mode is on (usable size
 * is the size asked for), a freed block is zeroed, a freed block is not
 * handed out again at once (the quarantine), small slots are not handed out
 * in address order, a forked child does not repeat its parent's
 * choices, and guard pages follow slabs and page runs (a write one byte
 * past a page run that fills its pages dies with SIGSEGV; the page after
 * a slab whose last slot ends on it is PROT_NONE in /proc/self/maps, and
 * no such page exists in the default mode). Usage: hardened on (the mode must be on) | hardened (it must be
 * off, as without HUGESLAB_CONF, and the order check tells the modes
 * apart). */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define SEQ 64

/* Whether the page holding addr is mapped PROT_NONE ("---p"). */
static bool inaccessible(uintptr_t addr) {
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  char line[512];
  bool none = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && addr >= lo && addr < hi) {
      none = strncmp(perms, "---", 3) == 0;
      break;
    }
  }
  fclose(f);
  return none;
}

/* Of n blocks of 4080 bytes (4096-byte slots, the tail included), how many
 * are followed by an inaccessible page (the last slot of a slab). */
static int guarded_slots(int n) {
  int guarded = 0;
  void *b[SEQ];
  for (int i = 0; i < n; i++) {
    b[i] = test_opaque(malloc(4080));
    guarded += inaccessible((uintptr_t)b[i] + 4096);
  }
  for (int i = 0; i < n; i++) free(b[i]);
  return guarded;
}

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
    int guarded = guarded_slots(SEQ);
    printf("default: %d of %d slots of 4096 bytes followed by a guard page\n", guarded, SEQ);
    CHECK_MSG(guarded == 0, "default mode has guard pages after slabs (%d)", guarded);
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

  /* 6. Guard pages: after slabs, and after page runs, where a write one
   * byte past a run that fills its pages faults at once. */
  int guarded = guarded_slots(SEQ);
  printf("hardened: %d of %d slots of 4096 bytes followed by a guard page\n", guarded, SEQ);
  CHECK_MSG(guarded > 0, "no slab's last slot is followed by a guard page");
  char *run = test_opaque(malloc(65536 - 16)); /* with the 16-byte tail: 16 pages */
  CHECK_MSG(inaccessible((uintptr_t)run + 65536), "the page after a 16-page run is accessible");
  fflush(stdout);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    ((volatile char *)run)[65536] = 1;
    _exit(0);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "a write past a page run did not die of SIGSEGV (status %#x)",
            status);
  free(run);
  printf("hardened: ok\n");
  return 0;
}
