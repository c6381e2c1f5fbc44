/* A purge pass ends when the only chunk with dirty pages holds nothing but
 * short free runs. Two chunks of 9-page runs: the second is freed whole
 * (and goes back whole), then every other run of the first, so an excess
 * pass meets one dirty chunk whose runs are all shorter than the runs a
 * shrinking arena gives back at once; it sends the chunk to the tail of the
 * queue, meets it again at the head, and must stop there. (It once went
 * round for ever with the arena lock held: glibc's tst-malloc-thread-fail
 * hung one run in eight.) An alarm turns a hang into a failure. */
#include <signal.h>
#include <unistd.h>
#include "testutil.h"

enum { RUNS = 112, RUN_BYTES = 33 << 10 }; /* 9 pages each: two chunks' worth */

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: a free hung (a purge pass did not end)\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
  _exit(1);
}

int main(void) {
  test_require_hugeslab();
  signal(SIGALRM, on_alarm);
  alarm(60);
  static char *run[RUNS];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < RUNS; i++) {
      run[i] = malloc(RUN_BYTES);
      CHECK(run[i] != NULL);
      run[i][0] = run[i][RUN_BYTES - 1] = 1; /* dirty: touched pages */
    }
    for (int i = RUNS / 2; i < RUNS; i++) free(run[i]);
    for (int i = 0; i < RUNS / 2; i += 2) free(run[i]);
    usleep(2000);
    free(test_opaque(malloc(RUN_BYTES))); /* one more release: another pass */
    for (int i = 1; i < RUNS / 2; i += 2) free(run[i]);
  }
  printf("purge_short_runs: 20 rounds, every free returned\n");
  return 0;
}
