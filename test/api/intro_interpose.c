/* Interposition really happens, dynamic link (this program is
 * built linked against libhugeslab and, as -plain, run under LD_PRELOAD).
 *
 * Proves:
 *  - memory that libc allocates internally goes through our malloc/realloc
 *    and can be handled by our free/malloc_usable_size: getline() over lines
 *    of 0, 45, 80, 2, 8201 and 17 characters (its buffer grows by realloc
 *    inside libc), strdup, asprintf, open_memstream, fopen/fclose (the FILE
 *    and its buffer); every such buffer gets malloc_usable_size >= its length
 *    and is freed by the caller (hugeslab aborts on a pointer it does not own,
 *    so a libc buffer from glibc's own malloc would be caught here);
 *  - fork(): the child mallocs, reads and frees, and exits 0;
 *  - the same again from 4 threads at once (the threaded variant), after the
 *    non-threaded run in the main thread;
 *  - sbrk(0) is the same at the end of main (and in a destructor) as in a
 *    constructor that ran before main, and in every forked child: glibc's brk
 *    heap was never used, so no allocation fell through to glibc's malloc.
 *    Against glibc itself (HS_TEST_ANY_MALLOC=1, hugeslab not mapped) brk is
 *    expected to move; that is printed as a note and shows the check bites.
 * The static-link variant is a separate test, test/api/static_link.c.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void *brk_at_start;
static int on_hugeslab;
static char data_path[64];

static const size_t line_len[] = {0, 45, 80, 2, 8201, 17};
#define NLINES (sizeof line_len / sizeof line_len[0])

__attribute__((constructor(101))) static void record_brk(void) { brk_at_start = sbrk(0); }

/* Returns 1 when brk is where the constructor saw it. */
static int brk_unchanged(const char *where) {
  void *now = sbrk(0);
  if (now == brk_at_start) return 1;
  if (!on_hugeslab) {
    static int noted;
    if (noted++) return 1;
    fprintf(stderr, "note (%s): brk moved %p -> %p, as expected of glibc's malloc\n", where,
            brk_at_start, now);
    return 1;
  }
  fprintf(stderr, "FAIL (%s): sbrk(0) moved from %p to %p: something used glibc's brk heap\n",
          where, brk_at_start, now);
  return 0;
}

__attribute__((destructor)) static void check_brk_at_exit(void) {
  if (brk_at_start && !brk_unchanged("destructor")) _exit(1);
}

static void write_data_file(void) {
  strcpy(data_path, "/tmp/hs-intro-interpose-XXXXXX");
  int fd = mkstemp(data_path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  CHECK(f != NULL);
  for (size_t i = 0; i < NLINES; i++) {
    for (size_t j = 0; j < line_len[i]; j++) fputc('a' + (int)((i + j) % 26), f);
    fputc('\n', f);
  }
  CHECK(fclose(f) == 0);
}

/* getline through libc's internal realloc; the buffer is ours to free. */
static void read_lines(void) {
  FILE *f = fopen(data_path, "r");
  CHECK(f != NULL);
  char *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < NLINES; i++) {
    ssize_t got = getline(&buf, &cap, f);
    CHECK_MSG(got == (ssize_t)line_len[i] + 1, "line %zu: getline returned %zd, want %zu", i, got,
              line_len[i] + 1);
    CHECK(buf != NULL);
    CHECK_MSG(malloc_usable_size(buf) >= (size_t)got + 1,
              "getline buffer %p: usable %zu < %zd", (void *)buf, malloc_usable_size(buf), got + 1);
    for (size_t j = 0; j < line_len[i]; j++)
      CHECK(buf[j] == 'a' + (int)((i + j) % 26));
    CHECK(buf[line_len[i]] == '\n');
  }
  CHECK(getline(&buf, &cap, f) == -1);
  free(buf);
  CHECK(fclose(f) == 0);

  /* The same with a fresh buffer per line: each line's buffer is a new
   * libc-made allocation. */
  f = fopen(data_path, "r");
  CHECK(f != NULL);
  for (size_t i = 0; i < NLINES; i++) {
    char *b = NULL;
    size_t c = 0;
    CHECK(getline(&b, &c, f) == (ssize_t)line_len[i] + 1);
    CHECK(malloc_usable_size(b) >= c);
    free(b);
  }
  CHECK(fclose(f) == 0);
}

static void other_libc_allocations(void) {
  char *s = strdup("interposed strdup");
  CHECK(s != NULL && malloc_usable_size(s) >= 18);
  free(s);

  char *a = NULL;
  CHECK(asprintf(&a, "%0*d", 5000, 7) == 5000);
  CHECK(malloc_usable_size(a) >= 5001);
  free(a);

  char *ms = NULL;
  size_t mlen = 0;
  FILE *m = open_memstream(&ms, &mlen);
  CHECK(m != NULL);
  for (int i = 0; i < 2000; i++) fprintf(m, "%d,", i);
  CHECK(fclose(m) == 0);
  CHECK(ms != NULL && mlen > 0 && malloc_usable_size(ms) >= mlen + 1);
  free(ms);
}

static void fork_child_mallocs(void) {
  void *parent_block = malloc(300);
  CHECK(parent_block != NULL);
  memset(parent_block, 0x44, 300);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int ok = 1;
    for (size_t n = 1; n < ((size_t)4 << 20); n = n * 5 + 3) {
      unsigned char *p = malloc(n);
      if (!p) { ok = 0; break; }
      memset(p, 0x66, n);
      if (p[n - 1] != 0x66) ok = 0;
      free(p);
    }
    for (int i = 0; i < 300; i++)
      if (((unsigned char *)parent_block)[i] != 0x44) ok = 0;
    free(parent_block);
    read_lines();
    if (!brk_unchanged("fork child")) ok = 0;
    _exit(ok ? 0 : 3);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child status 0x%x", st);
  free(parent_block);
}

static void run_all(void) {
  read_lines();
  other_libc_allocations();
  fork_child_mallocs();
}

static void *thread_main(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) run_all();
  return NULL;
}

int main(void) {
  test_require_hugeslab();
  on_hugeslab = test_hugeslab_present();
  CHECK(brk_at_start != NULL);
  write_data_file();

  /* Non-threaded variant. */
  run_all();
  CHECK(brk_unchanged("non-threaded"));

  /* Threaded variant. */
  pthread_t t[4];
  for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, thread_main, NULL) == 0);
  run_all();
  for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL) == 0);
  CHECK(brk_unchanged("threaded"));

  unlink(data_path);
  return 0;
}
