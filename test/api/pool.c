/* Pools (hs_pool_*): blocks of every size, aligned and intact, in mappings
 * apart from the heap that grow as the pool fills; calloc zeroed; strdup;
 * every documented error with its errno; the seal (later allocations fail
 * with EPERM, the contents stay readable, a write dies of SIGSEGV, a second
 * seal does nothing); the figures of hs_pool_stats in one process and in a
 * forked child that reads a sealed pool (every page shared, none private);
 * an unsealed pool the child keeps filling while the parent's blocks stay
 * as they were; threads filling one pool at once; destroy giving the
 * address space back; and pool_ksm offering sealed pools (only those) to
 * the kernel's same-page merging. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "hugeslab.h"
#include "testutil.h"

/* The -plain twin finds these in the preloaded library. */
TEST_WEAK(hs_pool_create)
TEST_WEAK(hs_pool_malloc)
TEST_WEAK(hs_pool_calloc)
TEST_WEAK(hs_pool_strdup)
TEST_WEAK(hs_pool_seal)
TEST_WEAK(hs_pool_destroy)
TEST_WEAK(hs_pool_stats)

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}

static bool intact(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed + i * 7)) return false;
  return true;
}

enum { BLOCKS = 5000 };

static void test_blocks(void) {
  hs_pool_t *pool = hs_pool_create(0);
  CHECK(pool != NULL);
  static unsigned char *b[BLOCKS];
  static size_t len[BLOCKS];
  size_t total = 0;
  for (int i = 0; i < BLOCKS; i++) {
    len[i] = i % 500 == 0 ? (size_t)3 << 20 : (size_t)(i * 37 % 700);
    b[i] = hs_pool_malloc(pool, len[i]);
    CHECK_MSG(b[i] != NULL, "hs_pool_malloc(%zu) failed", len[i]);
    CHECK_MSG((uintptr_t)b[i] % 16 == 0, "pool block %p not 16-byte aligned", (void *)b[i]);
    fill(b[i], len[i], (unsigned)i);
    total += len[i];
  }
  for (int i = 0; i < BLOCKS; i++) CHECK_MSG(intact(b[i], len[i], (unsigned)i), "pool block %d overwritten", i);
  /* Zero-size blocks are distinct too. */
  CHECK(hs_pool_malloc(pool, 0) != hs_pool_malloc(pool, 0));
  unsigned char *z = hs_pool_calloc(pool, 1000, 7);
  CHECK(z != NULL);
  const char *text = "a string that outlives its builder";
  char *copy = hs_pool_strdup(pool, text);
  CHECK(copy != NULL && copy != text && strcmp(copy, text) == 0);
  struct hs_pool_stats st;
  CHECK(hs_pool_stats(pool, &st) == 0);
  printf("blocks: %d blocks (%zu bytes): used %zu, mapped %zu, resident %zu, shared %zu, private %zu\n", BLOCKS,
         total, st.used, st.mapped, st.resident, st.shared, st.private_);
  CHECK(st.used >= total && st.mapped >= st.used);
  CHECK_MSG(st.resident >= total / 2 && st.resident <= st.mapped, "resident %zu", st.resident);
  CHECK_MSG(st.shared == 0 && st.private_ == st.resident, "a lone process shares nothing");
  /* Read after the figures: reading a page never written maps the kernel's
   * zero page, which pagemap shows as shared (qemu-user, which ignores
   * MADV_HUGEPAGE, maps it 4 KiB at a time). */
  for (int i = 0; i < 7000; i++) CHECK(z[i] == 0);
  hs_pool_destroy(pool);
}

static void test_errors(void) {
  hs_pool_t *pool = hs_pool_create(0);
  CHECK(pool != NULL);
  struct hs_pool_stats st;
  errno = 0;
  CHECK(hs_pool_malloc(NULL, 8) == NULL && errno == EINVAL);
  errno = 0;
  CHECK(hs_pool_calloc(pool, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(hs_pool_malloc(pool, SIZE_MAX - 8) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(hs_pool_strdup(pool, NULL) == NULL && errno == EINVAL);
  errno = 0;
  CHECK(hs_pool_create(SIZE_MAX) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(hs_pool_seal(NULL) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(hs_pool_stats(NULL, &st) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(hs_pool_stats(pool, NULL) == -1 && errno == EINVAL);
  hs_pool_destroy(NULL);
  /* The pool still works after all of that. */
  CHECK(hs_pool_strdup(pool, "still fine") != NULL);
  hs_pool_destroy(pool);
  printf("errors: EINVAL, ENOMEM as documented\n");
}

/* A child that writes to the sealed pool must die of SIGSEGV. */
static void expect_segv_on_write(char *p) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile char *)p = 'x';
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "a write to a sealed pool did not fault (status %d)",
            status);
}

static void test_seal(void) {
  hs_pool_t *pool = hs_pool_create(1 << 20);
  CHECK(pool != NULL);
  char *s = hs_pool_strdup(pool, "sealed text");
  unsigned char *big = hs_pool_malloc(pool, 300000);
  CHECK(s != NULL && big != NULL);
  fill(big, 300000, 3);
  CHECK(hs_pool_seal(pool) == 0);
  errno = 0;
  CHECK(hs_pool_malloc(pool, 8) == NULL && errno == EPERM);
  errno = 0;
  CHECK(hs_pool_calloc(pool, 2, 8) == NULL && errno == EPERM);
  errno = 0;
  CHECK(hs_pool_strdup(pool, "x") == NULL && errno == EPERM);
  CHECK(hs_pool_seal(pool) == 0);
  CHECK(strcmp(s, "sealed text") == 0 && intact(big, 300000, 3));
  expect_segv_on_write(s);
  expect_segv_on_write((char *)big + 299999);
  /* The descriptor is sealed too: its first bytes are what the handle points at. */
  expect_segv_on_write((char *)pool);
  struct hs_pool_stats st;
  CHECK(hs_pool_stats(pool, &st) == 0 && st.used >= 300000);
  hs_pool_destroy(pool);
  printf("seal: EPERM after it, contents kept, writes fault, descriptor sealed\n");
}

/* A parent fills and seals 32 MiB; its child reads every byte: the pool's
 * resident pages in the child are all shared, none private. */
static void test_fork_sealed(void) {
  enum { PIECES = 64 };
  const size_t piece = (size_t)512 << 10;
  hs_pool_t *pool = hs_pool_create(PIECES * piece);
  CHECK(pool != NULL);
  unsigned char *p[PIECES];
  for (int i = 0; i < PIECES; i++) {
    CHECK((p[i] = hs_pool_malloc(pool, piece)) != NULL);
    fill(p[i], piece, (unsigned)i);
  }
  CHECK(hs_pool_seal(pool) == 0);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < PIECES; i++) CHECK(intact(p[i], piece, (unsigned)i));
    /* The child's own heap work. */
    void *mine[1000];
    for (int i = 0; i < 1000; i++) CHECK((mine[i] = malloc(64 + i)) != NULL);
    for (int i = 0; i < 1000; i++) free(mine[i]);
    struct hs_pool_stats st;
    CHECK(hs_pool_stats(pool, &st) == 0);
    printf("fork, sealed: child: resident %zu, shared %zu, private %zu of %zu used\n", st.resident, st.shared,
           st.private_, st.used);
    CHECK_MSG(st.private_ == 0, "the child has %zu private bytes of a sealed pool", st.private_);
    CHECK_MSG(st.shared >= PIECES * piece, "only %zu bytes shared", st.shared);
    fflush(stdout);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)", status);
  hs_pool_destroy(pool);
}

/* An unsealed pool across fork: the child keeps allocating in its copy; the
 * parent's blocks and its own later allocations are unaffected. */
static void test_fork_unsealed(void) {
  hs_pool_t *pool = hs_pool_create(0);
  CHECK(pool != NULL);
  char *before = hs_pool_strdup(pool, "parent's");
  CHECK(before != NULL);
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < 20000; i++) {
      char *c = hs_pool_strdup(pool, "child's block");
      CHECK(c != NULL && strcmp(c, "child's block") == 0);
    }
    CHECK(strcmp(before, "parent's") == 0);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)", status);
  char *after = hs_pool_strdup(pool, "parent's second");
  CHECK(after != NULL && strcmp(before, "parent's") == 0 && strcmp(after, "parent's second") == 0);
  hs_pool_destroy(pool);
  printf("fork, unsealed: the child fills its copy, the parent's stays\n");
}

enum { THREADS = 4, PER_THREAD = 20000 };
static hs_pool_t *shared_pool;

static void *filler(void *arg) {
  unsigned id = (unsigned)(uintptr_t)arg;
  unsigned char **mine = malloc(PER_THREAD * sizeof *mine);
  CHECK(mine != NULL);
  for (unsigned i = 0; i < PER_THREAD; i++) {
    size_t n = 8 + (i * 13 + id) % 200;
    CHECK((mine[i] = hs_pool_malloc(shared_pool, n)) != NULL);
    fill(mine[i], n, id * 1000003u + i);
  }
  for (unsigned i = 0; i < PER_THREAD; i++)
    CHECK_MSG(intact(mine[i], 8 + (i * 13 + id) % 200, id * 1000003u + i), "thread %u block %u overwritten", id, i);
  free(mine);
  return NULL;
}

static void test_threads(void) {
  shared_pool = hs_pool_create(0);
  CHECK(shared_pool != NULL);
  pthread_t t[THREADS];
  for (unsigned i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, filler, (void *)(uintptr_t)i) == 0);
  for (unsigned i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
  hs_pool_destroy(shared_pool);
  printf("threads: %d threads filled one pool, no block overwritten\n", THREADS);
}

/* Whether the mapping holding p has `flag` in its smaps VmFlags. */
static bool vm_flag(const void *p, const char *flag) {
  FILE *f = fopen("/proc/self/smaps", "r");
  CHECK(f != NULL);
  char line[512];
  bool inside = false, found = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      char want[8];
      snprintf(want, sizeof want, " %s", flag);
      for (char *at = line + 8; (at = strstr(at, want)); at++)
        if (at[strlen(want)] == ' ' || at[strlen(want)] == '\n') found = true;
      break;
    }
  }
  fclose(f);
  return found;
}

/* pool_ksm: a sealed pool is offered to KSM (VmFlags "mg"), and only then.
 * `ksm` says which configuration this process runs under. */
static void test_ksm(bool ksm) {
  /* A control mapping: where MADV_MERGEABLE does not show in smaps (no
   * KSM, or an emulator such as qemu-user that ignores madvise), skip. */
  char *control = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(control != MAP_FAILED);
  bool honoured = madvise(control, 1 << 16, MADV_MERGEABLE) == 0 && vm_flag(control, "mg");
  munmap(control, 1 << 16);
  if (!honoured) {
    printf("ksm: MADV_MERGEABLE does not show in smaps here, not checked\n");
    return;
  }
  hs_pool_t *pool = hs_pool_create(4 << 20);
  CHECK(pool != NULL);
  char *p = hs_pool_malloc(pool, 1 << 20);
  CHECK(p != NULL);
  memset(p, 7, 1 << 20);
  CHECK_MSG(!vm_flag(p, "mg"), "an unsealed pool is already mergeable");
  CHECK(hs_pool_seal(pool) == 0);
  bool mergeable = vm_flag(p, "mg");
  printf("ksm: pool_ksm %s: sealed pool %s mergeable\n", ksm ? "on" : "off", mergeable ? "is" : "is not");
  CHECK_MSG(mergeable == ksm, "pool_ksm %s but the sealed pool is %smergeable", ksm ? "on" : "off",
            mergeable ? "" : "not ");
  hs_pool_destroy(pool);
}

/* Creating and destroying pools gives the address space back. */
static void test_destroy(void) {
  long before = test_vm_size_kib();
  for (int round = 0; round < 50; round++) {
    hs_pool_t *pool = hs_pool_create(4 << 20);
    CHECK(pool != NULL);
    for (int i = 0; i < 100; i++) CHECK(hs_pool_malloc(pool, 100000) != NULL);
    if (round % 2) CHECK(hs_pool_seal(pool) == 0);
    hs_pool_destroy(pool);
  }
  long after = test_vm_size_kib();
  printf("destroy: VmSize %ld KiB before 50 pools of 10 MB, %ld KiB after\n", before, after);
  /* A pool left mapped would show as 10 MB each (500 MB in all); the slack
   * is for emulators (qemu-user) whose own mappings move VmSize a little. */
  CHECK_MSG(after - before < 50 * 10 * 1024 / 8, "destroyed pools left %ld KiB mapped", after - before);
}

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (argc == 2 && strcmp(argv[1], "ksm") == 0) {
    const char *conf = getenv("HUGESLAB_CONF");
    CHECK_MSG(conf && strstr(conf, "pool_ksm:true"), "run `pool ksm` with HUGESLAB_CONF=pool_ksm:true");
    test_ksm(true);
    return 0;
  }
  test_blocks();
  test_errors();
  test_seal();
  test_fork_sealed();
  test_fork_unsealed();
  test_threads();
  test_destroy();
  /* The same under HUGESLAB_CONF=pool_ksm:true: test/api/pool_ksm.sh runs
   * `pool ksm` with it (no re-execution here: under qemu-user, as in the
   * aarch64 check, /proc/self/exe is the emulator). */
  test_ksm(false);
  return 0;
}
