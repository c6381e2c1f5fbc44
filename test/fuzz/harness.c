/* test/fuzz/harness.c: one fuzzer input is one sequence of allocator calls.
 *
 * Every byte string is a valid program: an opcode byte picks the call, the
 * bytes after it its slot, size and alignment. Up to SLOTS blocks are live
 * at once; each is filled with its own byte when it is made and checked in
 * full (sampled past 64 KiB) whenever it is resized or freed, so a block
 * handed out twice, an overlap, a lost realloc copy or a write by the
 * allocator into a live block shows as a content mismatch. Every result is
 * checked against the contract (alignment, usable size, zeroing, the errno
 * of an impossible request). Frees come from this thread and from a worker
 * thread (blocks move both ways), sized frees with the size asked for, and a
 * pool is filled, sealed and destroyed. At the end of an input every block
 * is freed, so inputs do not depend on each other.
 *
 * Built twice: with libFuzzer over the prefixed, sanitized copy (make fuzz,
 * test/fuzz/run.sh; the calls are renamed by src/prefix.h), and with
 * test/fuzz/replay.c against the normal library, which replays the kept
 * corpus in make check. A failure prints one line and aborts. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hugeslab.h"
#include "testutil.h"

/* Weak: the preloaded replay (replay-plain) links nothing of ours and finds
 * these in the preloaded library. */
TEST_WEAK(free_sized)
TEST_WEAK(free_aligned_sized)
TEST_WEAK(hs_thread_flush)
TEST_WEAK(hs_pool_create)
TEST_WEAK(hs_pool_malloc)
TEST_WEAK(hs_pool_calloc)
TEST_WEAK(hs_pool_strdup)
TEST_WEAK(hs_pool_seal)
TEST_WEAK(hs_pool_stats)
TEST_WEAK(hs_pool_destroy)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 64
#define FULL_CHECK_BYTES (64 << 10)

/* How a block was made: which frees it admits. */
enum origin { FROM_MALLOC, FROM_ALIGNED_ALLOC, FROM_OTHER_ALIGNED };

struct block {
  unsigned char *p; /* NULL: the slot is empty */
  size_t size;      /* bytes filled with `fill` and checked */
  size_t asked;     /* the size the program asked for (sized frees) */
  size_t align;     /* alignment asked for (FROM_ALIGNED_ALLOC) */
  unsigned char fill;
  enum origin origin;
};

static struct block live[SLOTS];

struct input {
  const uint8_t *at, *end;
};

static unsigned take8(struct input *in) { return in->at < in->end ? *in->at++ : 0; }
static unsigned take16(struct input *in) { return take8(in) | take8(in) << 8; }

static void fail(const char *what, const void *p, size_t n) {
  fprintf(stderr, "fuzz: %s (block %p, %zu bytes)\n", what, p, n);
  abort();
}

/* A size from tiny to a few MiB, most of them small, as programs ask. */
static size_t take_size(struct input *in) {
  unsigned kind = take8(in), bits = take16(in);
  switch (kind & 15) {
    case 0: case 1: case 2: case 3: case 4: case 5: return bits % 129;
    case 6: case 7: case 8: case 9: return bits % 4097;
    case 10: case 11: return bits % 65537;
    case 12: case 13: return (size_t)bits * 8;            /* up to 512 KiB */
    case 14: return ((size_t)1 << 20) + (size_t)bits * 8; /* around 1-1.5 MiB */
    default: return ((size_t)2 << 20) + (size_t)bits * 24; /* 2-3.5 MiB: huge blocks */
  }
}

/* A power of two from 1 to 64 KiB, and now and then 2 MiB. */
static size_t take_align(struct input *in) {
  unsigned b = take8(in);
  if (b == 255) return (size_t)2 << 20;
  return (size_t)1 << (b % 17);
}

static void fill_block(struct block *b) {
  if (b->size) memset(b->p, b->fill, b->size);
}

/* Every byte of small blocks; first and last 4 KiB and every 509th byte of
 * big ones (their middle pages are still checked, at a stride that meets
 * every page). */
static void check_block(const struct block *b, const char *when) {
  const unsigned char *p = b->p;
  size_t n = b->size;
  if (n <= FULL_CHECK_BYTES) {
    for (size_t i = 0; i < n; i++)
      if (p[i] != b->fill) fail(when, p, n);
    return;
  }
  for (size_t i = 0; i < 4096; i++)
    if (p[i] != b->fill || p[n - 1 - i] != b->fill) fail(when, p, n);
  for (size_t i = 4096; i < n - 4096; i += 509)
    if (p[i] != b->fill) fail(when, p, n);
}

static void check_new(const void *p, size_t asked, size_t align, const char *call) {
  if (!p) fail(call, p, asked);
  size_t want = align > 16 ? align : 16;
  if ((uintptr_t)p % want) fail("misaligned result", p, asked);
  if (malloc_usable_size((void *)p) < asked) fail("usable size below the size asked for", p, asked);
}

static void place(unsigned slot, void *p, size_t asked, size_t align, enum origin origin, unsigned fill) {
  struct block *b = &live[slot];
  b->p = p;
  b->size = b->asked = asked;
  b->align = align;
  b->origin = origin;
  b->fill = (unsigned char)fill;
  fill_block(b);
}

/* Check the slot's block and free it the way `how` picks among those its
 * origin admits. */
static void release(unsigned slot, unsigned how) {
  struct block *b = &live[slot];
  if (!b->p) return;
  check_block(b, "block changed while live");
  if (b->origin == FROM_MALLOC && how % 3 == 1) free_sized(b->p, b->asked);
  else if (b->origin == FROM_ALIGNED_ALLOC && how % 3 == 1) free_aligned_sized(b->p, b->align, b->asked);
  else free(b->p);
  b->p = NULL;
}

/* ---- the worker thread: frees and allocates on request, one at a time ---- */

struct request {
  enum { NOTHING, FREE_BLOCK, MAKE_BLOCK, FLUSH } what;
  struct block block;
  bool done;
};

static pthread_mutex_t worker_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t worker_wake = PTHREAD_COND_INITIALIZER;
static struct request worker_job;
static bool worker_started;

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&worker_lock);
  for (;;) {
    while (worker_job.what == NOTHING || worker_job.done) pthread_cond_wait(&worker_wake, &worker_lock);
    struct block *b = &worker_job.block;
    if (worker_job.what == FREE_BLOCK) {
      check_block(b, "block changed before its cross-thread free");
      free(b->p);
    } else if (worker_job.what == MAKE_BLOCK) {
      b->p = malloc(b->asked);
      check_new(b->p, b->asked, 0, "malloc failed in the worker");
      fill_block(b);
    } else {
      hs_thread_flush();
    }
    worker_job.done = true;
    pthread_cond_broadcast(&worker_wake);
  }
  return NULL;
}

/* Run one request on the worker and wait for it. */
static void on_worker(struct request *job) {
  pthread_mutex_lock(&worker_lock);
  if (!worker_started) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker_main, NULL) != 0) fail("pthread_create", NULL, 0);
    pthread_detach(t);
    worker_started = true;
  }
  job->done = false;
  worker_job = *job;
  pthread_cond_broadcast(&worker_wake);
  while (!worker_job.done) pthread_cond_wait(&worker_wake, &worker_lock);
  *job = worker_job;
  worker_job.what = NOTHING;
  pthread_mutex_unlock(&worker_lock);
}

/* ---- a pool: filled, checked, sealed, destroyed ---- */

static void pool_round(struct input *in) {
  hs_pool_t *pool = hs_pool_create(take16(in) * 64);
  if (!pool) fail("hs_pool_create failed", NULL, 0);
  unsigned count = take8(in) % 32 + 1;
  unsigned char *blocks[32];
  size_t sizes[32];
  for (unsigned i = 0; i < count; i++) {
    sizes[i] = take16(in) % 3000;
    blocks[i] = i % 3 == 2 ? hs_pool_calloc(pool, 1, sizes[i]) : hs_pool_malloc(pool, sizes[i]);
    if (!blocks[i] || (uintptr_t)blocks[i] % 16) fail("hs_pool_malloc", blocks[i], sizes[i]);
    if (i % 3 == 2)
      for (size_t j = 0; j < sizes[i]; j++)
        if (blocks[i][j]) fail("hs_pool_calloc not zeroed", blocks[i], sizes[i]);
    memset(blocks[i], (int)i + 1, sizes[i]);
  }
  char *s = hs_pool_strdup(pool, "sealed pools stay shared");
  if (!s || strcmp(s, "sealed pools stay shared") != 0) fail("hs_pool_strdup", s, 0);
  struct hs_pool_stats st;
  if (hs_pool_stats(pool, &st) != 0 || st.used < count || st.mapped < st.used) fail("hs_pool_stats", pool, st.used);
  if (take8(in) & 1) {
    if (hs_pool_seal(pool) != 0) fail("hs_pool_seal", pool, 0);
    errno = 0;
    if (hs_pool_malloc(pool, 8) != NULL || errno != EPERM) fail("hs_pool_malloc into a sealed pool", pool, 8);
  }
  for (unsigned i = 0; i < count; i++)
    for (size_t j = 0; j < sizes[i]; j++)
      if (blocks[i][j] != (unsigned char)(i + 1)) fail("pool block changed", blocks[i], sizes[i]);
  hs_pool_destroy(pool);
}

/* ---- requests no allocator can grant: NULL and the right errno ---- */

/* The compiler must not see the impossible size (-Walloc-size-larger-than). */
static size_t opaque_size(size_t n) {
  __asm__ volatile("" : "+r"(n));
  return n;
}

static void impossible(struct input *in) {
  size_t huge = opaque_size(SIZE_MAX - take16(in));
  void *p;
  errno = 0;
  switch (take8(in) % 6) {
    case 0: p = malloc(huge); break;
    case 1: p = calloc(huge / 2 + 1, 2); break;
    case 2: p = realloc(NULL, huge); break;
    case 3: p = reallocarray(NULL, huge / 3 + 1, 4); break;
    case 4: p = aligned_alloc(64, huge); break;
    default: {
      void *out = &out;
      int rc = posix_memalign(&out, 24, 64); /* not a power of two */
      if (rc != EINVAL || out != &out) fail("posix_memalign accepted alignment 24", out, 64);
      return;
    }
  }
  if (p || errno != ENOMEM) fail("an impossible request did not fail with ENOMEM", p, huge);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct input in = {data, data + size};
  unsigned fill = 1;
  while (in.at < in.end) {
    unsigned op = take8(&in) % 20, slot = take8(&in) % SLOTS;
    struct block *b = &live[slot];
    fill = fill % 251 + 1;
    switch (op) {
      case 0: case 1: case 2: { /* malloc */
        release(slot, op);
        size_t n = take_size(&in);
        void *p = malloc(n);
        check_new(p, n, 0, "malloc failed");
        place(slot, p, n, 0, FROM_MALLOC, fill);
        break;
      }
      case 3: { /* calloc: zeroed, even where the block was used before */
        release(slot, op);
        size_t n = take_size(&in), count = take8(&in) % 4 + 1, elem = n / count;
        unsigned char *p = calloc(count, elem);
        check_new(p, count * elem, 0, "calloc failed");
        for (size_t i = 0; i < count * elem; i++)
          if (p[i]) fail("calloc block not zeroed", p, count * elem);
        place(slot, p, count * elem, 0, FROM_MALLOC, fill);
        break;
      }
      case 4: case 5: case 6: { /* realloc: the old bytes stay, the new ones are ours */
        size_t n = take_size(&in);
        if (!b->p) {
          void *p = realloc(NULL, n);
          check_new(p, n, 0, "realloc(NULL) failed");
          place(slot, p, n, 0, FROM_MALLOC, fill);
          break;
        }
        check_block(b, "block changed before realloc");
        if (n == 0 && op == 6) { /* realloc(p, 0) frees p and returns NULL, as glibc's */
          if (realloc(b->p, 0) != NULL) fail("realloc(p, 0) returned a block", b->p, 0);
          b->p = NULL;
          break;
        }
        if (n == 0) n = 1;
        unsigned char *p = op == 5 ? reallocarray(b->p, 1, n) : realloc(b->p, n);
        check_new(p, n, 0, "realloc failed");
        b->p = p;
        b->size = n < b->size ? n : b->size;
        check_block(b, "realloc lost the block's bytes");
        memset(p + b->size, b->fill, n - b->size);
        b->size = b->asked = n;
        b->origin = FROM_MALLOC;
        break;
      }
      case 7: case 8: { /* the aligned calls */
        release(slot, op);
        size_t n = take_size(&in), align = take_align(&in);
        void *p = NULL;
        enum origin origin = FROM_OTHER_ALIGNED;
        if (op == 7) {
          p = aligned_alloc(align, n);
          origin = FROM_ALIGNED_ALLOC;
        } else if (take8(&in) & 1) {
          p = memalign(align, n);
        } else {
          if (align < sizeof(void *)) align = sizeof(void *);
          int rc = posix_memalign(&p, align, n);
          if (rc != 0) fail("posix_memalign failed", NULL, n);
        }
        check_new(p, n, align, "aligned allocation failed");
        place(slot, p, n, align, origin, fill);
        break;
      }
      case 9: { /* page-aligned */
        release(slot, op);
        size_t n = take_size(&in);
        void *p = (take8(&in) & 1) ? valloc(n) : pvalloc(n);
        check_new(p, n, 4096, "valloc/pvalloc failed");
        place(slot, p, n, 4096, FROM_OTHER_ALIGNED, fill);
        break;
      }
      case 10: case 11: case 12: /* free, free_sized, free_aligned_sized */
        release(slot, op);
        break;
      case 13: /* the usable size is the program's to write */
        if (b->p) {
          check_block(b, "block changed while live");
          size_t usable = malloc_usable_size(b->p);
          if (usable < b->size) fail("usable size shrank", b->p, usable);
          b->size = usable;
          fill_block(b);
        }
        break;
      case 14: /* a cross-thread free */
        if (b->p) {
          struct request job = {.what = FREE_BLOCK, .block = *b};
          on_worker(&job);
          b->p = NULL;
        }
        break;
      case 15: { /* a block made by the other thread, freed by this one */
        release(slot, op);
        struct request job = {.what = MAKE_BLOCK, .block = {.asked = take_size(&in), .fill = (unsigned char)fill}};
        job.block.size = job.block.asked;
        job.block.origin = FROM_MALLOC;
        on_worker(&job);
        *b = job.block;
        break;
      }
      case 16: { /* caches back to the arenas, here or there; trim */
        unsigned what = take8(&in) % 3;
        if (what == 0) hs_thread_flush();
        else if (what == 1) {
          struct request job = {.what = FLUSH};
          on_worker(&job);
        } else {
          malloc_trim(take16(&in));
        }
        break;
      }
      case 17: { /* the statistics read every live block's state */
        struct mallinfo2 mi = mallinfo2();
        size_t sum = 0;
        for (unsigned i = 0; i < SLOTS; i++)
          if (live[i].p) sum += live[i].asked;
        if (mi.uordblks < sum) fail("mallinfo2 counts less in use than is live", NULL, mi.uordblks);
        break;
      }
      case 18:
        pool_round(&in);
        break;
      default:
        impossible(&in);
        break;
    }
  }
  for (unsigned i = 0; i < SLOTS; i++) release(i, i);
  return 0;
}
