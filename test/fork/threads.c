/* fork while other threads are inside the allocator (after
 * glibc's tst-malloc-fork-deadlock).
 *
 * Four threads keep the allocator busy: two malloc/free blocks of many sizes
 * (small to huge), one reads lines with getline from an fmemopen stream (libc
 * allocating internally), one writes to an open_memstream and calls
 * fflush(NULL). Meanwhile the main thread forks ROUNDS times. Each child
 * mallocs and frees a few blocks of every size class and _exits with 17.
 *
 * Proves: whatever lock a busy thread held at the moment of fork, the child
 * can allocate (the allocator takes and releases its locks around fork in a
 * fixed order). A child that deadlocks is killed by its own alarm and shows
 * up as a signal; a parent that deadlocks is killed by its alarm too. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

enum { ROUNDS = 200 };

static atomic_int stop;

static void *churn(void *arg) {
  uint64_t seed = (uintptr_t)arg;
  void *keep[32] = {0};
  while (!atomic_load(&stop)) {
    unsigned i = test_rand(&seed) % 32;
    free(keep[i]);
    uint64_t r = test_rand(&seed);
    size_t size = r % 256 == 0 ? (size_t)3 << 20        /* huge */
                  : r % 16 == 0 ? 40000 + (r >> 20) % 500000 /* large */
                                : 1 + (r >> 8) % 4096;   /* small */
    keep[i] = malloc(size);
    CHECK(keep[i] != NULL);
    memset(keep[i], (int)i, size < 256 ? size : 256);
  }
  for (unsigned i = 0; i < 32; i++) free(keep[i]);
  return NULL;
}

static void *line_reader(void *arg) {
  (void)arg;
  static char text[] =
      "\nshort\n"
      "a line of forty-five characters, more or less\n"
      "xy\n"
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "\nlast\n";
  while (!atomic_load(&stop)) {
    FILE *f = fmemopen(text, sizeof text - 1, "r");
    CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0) {
      lines++;
      test_free_libc(line); /* so every getline allocates again */
      line = NULL;
      cap = 0;
    }
    test_free_libc(line);
    fclose(f);
    CHECK(lines == 6);
  }
  return NULL;
}

static void *stream_writer(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    for (int i = 0; i < 200; i++) fprintf(f, "line %d of the memstream\n", i);
    fflush(NULL);
    fclose(f);
    CHECK(len > 200 * 20);
    test_free_libc(buf);
  }
  return NULL;
}

/* The child: a few blocks of every size class, then _exit(17). */
static void child(void) {
  alarm(10);
  for (size_t size = 1; size <= ((size_t)4 << 20); size = size * 3 / 2 + 1) {
    void *b[4];
    for (int i = 0; i < 4; i++) {
      b[i] = malloc(size);
      if (!b[i]) _exit(2);
      memset(b[i], 0x77, size < 512 ? size : 512);
      ((char *)b[i])[size - 1] = 0x77;
    }
    for (int i = 0; i < 4; i++) free(b[i]);
  }
  _exit(17);
}

int main(void) {
  test_require_hugeslab();
  alarm(120);
  pthread_t t[4];
  CHECK(pthread_create(&t[0], NULL, churn, (void *)1) == 0);
  CHECK(pthread_create(&t[1], NULL, churn, (void *)2) == 0);
  CHECK(pthread_create(&t[2], NULL, line_reader, NULL) == 0);
  CHECK(pthread_create(&t[3], NULL, stream_writer, NULL) == 0);
  usleep(10000);
  for (int round = 0; round < ROUNDS; round++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child();
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 17,
              "round %d: child %s %d (a signal 14 is the watchdog: the child "
              "deadlocked in the allocator)", round,
              WIFEXITED(status) ? "exited with" : "killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    /* Let the threads run a little between forks. */
    if (round % 8 == 0) usleep(1000);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL) == 0);
  printf("threads: %d forks with 4 busy threads\n", ROUNDS);
  return 0;
}
