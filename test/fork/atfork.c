/* pthread_atfork handlers that allocate, registered before and after the
 * allocator's own (after snmalloc's protect_fork test).
 *
 * Set E is registered in a constructor of priority 101, before this
 * program's first malloc. An allocator that registers its fork handlers when
 * it initialises (on its first call) therefore registers after E: E's prepare
 * runs after the allocator has taken its locks, and E's parent/child handlers
 * run before the allocator releases them. Set L is registered in main after
 * the first malloc, so it brackets the allocator's handlers from outside.
 * (If the allocator registers from its own constructor instead, both sets
 * come after it; the test still runs, but only covers the "after" order.)
 *
 * Every handler mallocs, writes and frees blocks of several sizes; prepare
 * keeps one block that the parent and child handlers free. A handler that
 * deadlocks trips an alarm (SIGALRM: failure); the counters prove every
 * handler ran the expected number of times, in parent and child. The forks
 * happen with and without another thread allocating. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

enum { ROUNDS = 100 };

struct handler_set {
  void *kept;    /* allocated in prepare, freed in parent / child */
  int prepares;  /* handler run counts */
  int parents;
  int children;
};

static struct handler_set early, late;

/* Allocation inside a handler; returns 0 on failure (the handler cannot
 * report in any other way). */
static int exercise(void) {
  static const size_t sizes[] = {8, 100, 5000, 200000, (size_t)3 << 20};
  for (int i = 0; i < 5; i++) {
    void *p = malloc(sizes[i]);
    if (!p) return 0;
    memset(p, 0x6b, sizes[i] < 4096 ? sizes[i] : 4096);
    void *q = realloc(p, sizes[i] + 1000);
    if (!q) return 0;
    free(q);
  }
  void *c = calloc(10, 10);
  if (!c) return 0;
  free(c);
  return 1;
}

static void prepare(struct handler_set *s) {
  s->prepares++;
  if (!exercise()) abort();
  s->kept = malloc(48);
  if (!s->kept) abort();
  memset(s->kept, 0x48, 48);
}

static void after(struct handler_set *s, int *counter) {
  (*counter)++;
  unsigned char *k = s->kept;
  for (int i = 0; i < 48; i++)
    if (k[i] != 0x48) abort();
  free(k);
  s->kept = NULL;
  if (!exercise()) abort();
}

static void early_prepare(void) { prepare(&early); }
static void early_parent(void) { after(&early, &early.parents); }
static void early_child(void) { after(&early, &early.children); }
static void late_prepare(void) { prepare(&late); }
static void late_parent(void) { after(&late, &late.parents); }
static void late_child(void) { after(&late, &late.children); }

__attribute__((constructor(101))) static void register_early(void) {
  if (pthread_atfork(early_prepare, early_parent, early_child) != 0) abort();
}

static atomic_int stop;

static void *churn(void *arg) {
  uint64_t seed = (uintptr_t)arg;
  while (!atomic_load(&stop)) {
    size_t size = 1 + test_rand(&seed) % 70000;
    void *p = malloc(size);
    CHECK(p != NULL);
    memset(p, 1, size < 64 ? size : 64);
    free(p);
  }
  return NULL;
}

static void fork_rounds(int rounds) {
  for (int i = 0; i < rounds; i++) {
    int child_expect = early.children + 1;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(10);
      /* In the child, each child handler ran exactly once more and the
       * parent handlers did not. */
      int ok = early.children == child_expect &&
               late.children == child_expect && early.kept == NULL &&
               late.kept == NULL && exercise();
      _exit(ok ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child %s %d (signal 14: a handler or the child deadlocked)",
              WIFEXITED(status) ? "exited with" : "killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    CHECK(early.kept == NULL && late.kept == NULL);
  }
}

int main(void) {
  test_require_hugeslab();
  alarm(60);
  free(test_opaque(malloc(1))); /* the allocator is initialised now */
  CHECK(pthread_atfork(late_prepare, late_parent, late_child) == 0);

  fork_rounds(ROUNDS / 2);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, churn, (void *)53) == 0);
  fork_rounds(ROUNDS / 2);
  atomic_store(&stop, 1);
  CHECK(pthread_join(t, NULL) == 0);

  CHECK_MSG(early.prepares == ROUNDS && early.parents == ROUNDS &&
                late.prepares == ROUNDS && late.parents == ROUNDS,
            "handler counts: early %d/%d, late %d/%d, want %d", early.prepares,
            early.parents, late.prepares, late.parents, ROUNDS);
  printf("atfork: %d forks, handlers allocating before and after the "
         "allocator's\n", ROUNDS);
  return 0;
}
