/* After glibc's tst-malloc-fork-deadlock: fork() while other
 * threads hold stdio locks and allocate inside them. Threads run
 * fflush(NULL) (holds glibc's FILE-list lock, then each FILE's lock) and
 * write to open_memstream FILEs and getline() from files (hold a FILE lock,
 * then malloc). If the allocator's fork handler takes its locks before
 * glibc's FILE-list lock, fork() deadlocks with them; glibc orders the
 * FILE-list lock first, and so must we. A watchdog turns a hang into a failure. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

#define FORKS 400
static atomic_int stop;
static char data_path[] = "/tmp/hs-stdio-deadlock-XXXXXX";

static void *flusher(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) fflush(NULL);
  return NULL;
}

static void *writer(void *arg) {
  uint64_t rng = (uintptr_t)arg;
  while (!atomic_load(&stop)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(m);
    for (int i = 0; i < 200; i++) fprintf(m, "%llu %0*d\n", (unsigned long long)test_rand(&rng), i % 300, i);
    fclose(m);
    test_free_libc(buf);
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    FILE *f = fopen(data_path, "r");
    CHECK(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
    }
    test_free_libc(line);
    fclose(f);
  }
  return NULL;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: fork deadlocked with stdio (watchdog)\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
  _exit(2);
}

int main(void) {
  test_require_hugeslab();
  int fd = mkstemp(data_path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 2000; i++) fprintf(f, "%*d\n", (i * 37) % 9000, i);
  fclose(f);
  signal(SIGALRM, on_alarm);
  alarm(60);
  pthread_t t[6];
  CHECK(pthread_create(&t[0], NULL, flusher, NULL) == 0);
  CHECK(pthread_create(&t[1], NULL, flusher, NULL) == 0);
  CHECK(pthread_create(&t[2], NULL, writer, (void *)1) == 0);
  CHECK(pthread_create(&t[3], NULL, writer, (void *)2) == 0);
  CHECK(pthread_create(&t[4], NULL, reader, NULL) == 0);
  CHECK(pthread_create(&t[5], NULL, reader, NULL) == 0);
  for (int i = 0; i < FORKS; i++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(20);
      void *p = malloc(100), *q = malloc(100000);
      char *s = strdup("child");
      CHECK(p && q && s);
      free(p);
      free(q);
      test_free_libc(s);
      _exit(17);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 17, "fork %d: child status 0x%x", i, st);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 6; i++) CHECK(pthread_join(t[i], NULL) == 0);
  unlink(data_path);
  printf("stdio_deadlock: %d forks with stdio-busy threads\n", FORKS);
  return 0;
}
