/* large: big blocks, 64 KiB to 64 MiB.
 *
 * Models programs that allocate buffers (image tiles, network and file
 * buffers, columnar batches): sizes log-uniform from 64 KiB to 64 MiB, a
 * window of WINDOW live blocks per thread, every page of a new block written
 * once (so the cost of fresh pages from the kernel is counted, as a real
 * program would pay it), and one block in four grown by half with realloc.
 * It measures how the allocator gets, caches and returns large runs and
 * mappings: mmap/munmap per block, page faults, huge pages, and the RSS the
 * cached memory holds.
 *
 * Knobs: -t threads (default 2); -s scales the blocks per thread. */
#include "wl.h"

enum { WINDOW = 3, PAGE = 4096 };
static const size_t MIN_SIZE = 64 << 10, MAX_SIZE = 64 << 20;
static const uint64_t BLOCKS = 160; /* per thread at -s 1 */

struct worker {
  uint64_t seed, blocks, sum;
};

/* Write one byte per page (in place of the program's own first pass). */
static void touch(unsigned char *p, size_t from, size_t to, uint64_t tag) {
  for (size_t i = from; i < to; i += PAGE) p[i] = (unsigned char)(tag + i / PAGE);
  p[to - 1] = (unsigned char)tag;
}

static uint64_t verify(const unsigned char *p, size_t n, uint64_t tag) {
  /* Sample a few pages: first, last, middle. */
  uint64_t sum = 0;
  size_t pages[3] = {0, (n / 2) & ~(size_t)(PAGE - 1), (n - 1) & ~(size_t)(PAGE - 1)};
  for (int i = 0; i < 3; i++) {
    if (p[pages[i]] != (unsigned char)(tag + pages[i] / PAGE)) wl_die("large block lost its contents");
    sum += p[pages[i]];
  }
  return sum + n;
}

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  unsigned char *live[WINDOW] = {0};
  size_t size[WINDOW] = {0};
  uint64_t tag[WINDOW] = {0};

  for (uint64_t b = 0; b < w->blocks; b++) {
    int k = (int)(b % WINDOW);
    if (live[k]) {
      sum += verify(live[k], size[k], tag[k]);
      free(live[k]);
    }
    size[k] = wl_logsize(&s, MIN_SIZE, MAX_SIZE);
    tag[k] = wl_rand(&s);
    live[k] = wl_malloc(size[k]);
    touch(live[k], 0, size[k], tag[k]);
    if ((tag[k] & 3) == 0) {
      size_t m = size[k] + size[k] / 2;
      unsigned char *p = realloc(live[k], m);
      if (!p) wl_die("realloc(%zu) returned NULL", m);
      touch(p, size[k], m, tag[k] >> 8);
      /* The first half must have moved with the block. */
      sum += verify(p, size[k], tag[k]);
      /* verify() samples the last page as well: restamp it for the new size. */
      touch(p, 0, m, tag[k]);
      live[k] = p;
      size[k] = m;
    }
  }
  for (int k = 0; k < WINDOW; k++)
    if (live[k]) {
      sum += verify(live[k], size[k], tag[k]);
      free(live[k]);
    }
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "large: 64 KiB to 64 MiB blocks", 2, 0.15);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) {
    w[i].seed = wl_mix(19, (uint64_t)i);
    w[i].blocks = wl_scaled(&o, BLOCKS);
  }
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  wl_result("large", sum, (uint64_t)o.threads * wl_scaled(&o, BLOCKS));
  free(w);
  return 0;
}
