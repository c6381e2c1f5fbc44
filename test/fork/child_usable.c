/* The child of a fork can use the allocator fully (after jemalloc's
 * test_fork_child_usability).
 *
 * Before forking, the parent has blocks from its main thread and from a
 * second thread that is parked (alive, holding a cache) at the moment of
 * fork. The child, in which that second thread does not exist:
 *   - checks and frees every parent block, including the parked thread's;
 *   - mallocs many blocks of many sizes and frees them in a shuffled order;
 *   - creates threads that allocate, and frees their blocks in the child's
 *     main thread (and the other way round).
 * Any failure makes the child exit non-zero; a hang trips its alarm. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

enum { PARENT_BLOCKS = 2000, CHILD_BLOCKS = 20000 };

struct block {
  unsigned char *p;
  size_t size;
};

static size_t size_for(uint64_t r) {
  if (r % 500 == 0) return (size_t)2 << 20;             /* huge */
  if (r % 50 == 0) return 33000 + (r >> 16) % 300000;    /* large */
  return 2 + (r >> 8) % 2048; /* small; 2+ so first != last byte */
}

static void alloc_blocks(struct block *b, int n, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    b[i].size = size_for(test_rand(&seed));
    b[i].p = malloc(b[i].size);
    CHECK_MSG(b[i].p != NULL, "malloc(%zu) failed", b[i].size);
    b[i].p[0] = (unsigned char)i;
    b[i].p[b[i].size - 1] = (unsigned char)(i >> 3);
  }
}

/* Returns the index of the first damaged block, or -1. */
static int check_blocks(const struct block *b, int n) {
  for (int i = 0; i < n; i++)
    if (b[i].p[0] != (unsigned char)i ||
        b[i].p[b[i].size - 1] != (unsigned char)(i >> 3))
      return i;
  return -1;
}

static struct block main_blocks[PARENT_BLOCKS], thread_blocks[PARENT_BLOCKS];
static struct block child_blocks[CHILD_BLOCKS];

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int parked, released;

/* Allocates its blocks (and frees a few, so its cache holds free blocks),
 * then parks until the parent has forked. */
static void *parked_thread(void *arg) {
  (void)arg;
  alloc_blocks(thread_blocks, PARENT_BLOCKS, 2);
  for (int i = 0; i < 64; i++) free(test_opaque(malloc(16 + i * 8)));
  pthread_mutex_lock(&park_lock);
  parked = 1;
  pthread_cond_broadcast(&park_cond);
  while (!released) pthread_cond_wait(&park_cond, &park_lock);
  pthread_mutex_unlock(&park_lock);
  return NULL;
}

/* In the child: allocates blocks for the child's main thread to free, and
 * frees blocks the child's main thread allocated. */
static void *child_thread(void *arg) {
  struct block *theirs = arg;
  struct block *mine = malloc(1000 * sizeof *mine);
  if (!mine) return NULL;
  alloc_blocks(mine, 1000, 77);
  for (int i = 0; i < 1000; i++) free(theirs[i].p);
  return mine;
}

static int child(void) {
  alarm(10);
  if (check_blocks(main_blocks, PARENT_BLOCKS) >= 0) return 10;
  if (check_blocks(thread_blocks, PARENT_BLOCKS) >= 0) return 11;
  for (int i = 0; i < PARENT_BLOCKS; i++) free(main_blocks[i].p);
  for (int i = 0; i < PARENT_BLOCKS; i++) free(thread_blocks[i].p);

  alloc_blocks(child_blocks, CHILD_BLOCKS, 3);
  if (check_blocks(child_blocks, CHILD_BLOCKS) >= 0) return 12;
  uint64_t seed = 4;
  for (int i = CHILD_BLOCKS - 1; i > 0; i--) { /* shuffled frees */
    int j = (int)(test_rand(&seed) % (uint64_t)(i + 1));
    struct block tmp = child_blocks[i];
    child_blocks[i] = child_blocks[j];
    child_blocks[j] = tmp;
  }
  for (int i = 0; i < CHILD_BLOCKS; i++) free(child_blocks[i].p);

  /* Threads in the child, with frees crossing between them and main. */
  for (int round = 0; round < 4; round++) {
    alloc_blocks(child_blocks, 1000, 5 + round);
    pthread_t t;
    void *ret;
    if (pthread_create(&t, NULL, child_thread, child_blocks) != 0) return 13;
    if (pthread_join(t, &ret) != 0 || ret == NULL) return 14;
    struct block *theirs = ret;
    if (check_blocks(theirs, 1000) >= 0) return 15;
    for (int i = 0; i < 1000; i++) free(theirs[i].p);
    free(theirs);
  }
  return 0;
}

int main(void) {
  test_require_hugeslab();
  alarm(60);
  for (int round = 0; round < 3; round++) {
    pthread_t t;
    parked = released = 0;
    alloc_blocks(main_blocks, PARENT_BLOCKS, 1);
    CHECK(pthread_create(&t, NULL, parked_thread, NULL) == 0);
    pthread_mutex_lock(&park_lock);
    while (!parked) pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) _exit(child());

    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "round %d: child %s %d (10/11: inherited block damaged, 12/15: "
              "new block damaged, 13/14: thread failed, signal 14: hang)",
              round, WIFEXITED(status) ? "exited with" : "killed by signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

    pthread_mutex_lock(&park_lock);
    released = 1;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(check_blocks(main_blocks, PARENT_BLOCKS) < 0);
    CHECK(check_blocks(thread_blocks, PARENT_BLOCKS) < 0);
    for (int i = 0; i < PARENT_BLOCKS; i++) free(main_blocks[i].p);
    for (int i = 0; i < PARENT_BLOCKS; i++) free(thread_blocks[i].p);
  }
  printf("child_usable: 3 forks\n");
  return 0;
}
