/* fork() from a signal handler in a single-threaded process (after
 * glibc's tst-mallocfork and tst-mallocfork2): the signal may
 * interrupt malloc, free, realloc or fork() itself while it holds an
 * allocator lock, so the atfork handlers must not wait on a lock: in a
 * single-threaded process they only try the locks, and take none when one is
 * busy. A separate process (not a thread: this one must stay single-threaded)
 * sends SIGUSR1 as fast as it can; the handler forks, the child exits at once
 * and the handler reaps it. The main loop allocates and frees every kind of
 * block (small, page run, huge, realloc growth) and forks now and then
 * itself, so signals land inside the allocator's locked sections and inside
 * fork(). A deadlock is caught by alarm(): SIGALRM's default action kills
 * the test, which then fails. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"

static volatile sig_atomic_t handler_forks, handler_failures;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid < 0) {
    handler_failures++;
  } else {
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) handler_failures++;
    handler_forks++;
  }
  errno = saved;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  test_require_hugeslab();
  struct sigaction sa = {.sa_handler = on_usr1};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  alarm(120);

  pid_t parent = getpid();
  pid_t sender = fork();
  CHECK(sender >= 0);
  if (sender == 0) {
    /* The sender only signals; it stops when the parent is gone. */
    for (;;) {
      if (kill(parent, SIGUSR1) != 0) _exit(0);
      usleep(5000);
    }
  }

  enum { SLOTS = 256 };
  void *blocks[SLOTS] = {0};
  uint64_t rng = 42;
  unsigned own_forks = 0;
  double end = now() + 3.0;
  unsigned long ops = 0;
  for (unsigned long i = 0; now() < end || handler_forks < 200; i++, ops++) {
    CHECK_MSG(now() < end + 60, "only %d forks from the handler in 63 s", (int)handler_forks);
    uint64_t r = test_rand(&rng);
    unsigned slot = (unsigned)(r % SLOTS);
    size_t size;
    switch ((r >> 8) % 64) {
      case 0: size = (size_t)(r >> 16) % (3u << 20) + (1u << 20); break; /* huge */
      case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: /* page run */
        size = (size_t)(r >> 16) % (256u << 10) + 32768;
        break;
      default: size = (size_t)(r >> 16) % 4096 + 1; break;
    }
    if ((r >> 12) % 4 == 0 && blocks[slot]) {
      void *q = realloc(blocks[slot], size);
      CHECK(q);
      blocks[slot] = q;
    } else {
      free(blocks[slot]);
      blocks[slot] = malloc(size);
      CHECK(blocks[slot]);
    }
    ((char *)blocks[slot])[0] = (char)i;
    if (i % 500 == 0) {
      pid_t pid = fork();
      CHECK(pid >= 0);
      if (pid == 0) {
        /* A child of an ordinary fork can allocate. */
        void *p = malloc(100);
        _exit(p ? 0 : 3);
      }
      int status;
      while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
      CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      own_forks++;
    }
  }
  kill(sender, SIGKILL);
  waitpid(sender, NULL, 0);
  for (unsigned s = 0; s < SLOTS; s++) free(blocks[s]);
  CHECK_MSG(handler_failures == 0, "%d forks from the signal handler failed", (int)handler_failures);
  printf("signal_fork: %lu operations, %d forks from the handler, %u from the loop\n", ops, (int)handler_forks, own_forks);
  return 0;
}
