/* bigzero: big buffers of changing size, each zeroed by the program.
 *
 * Models a program that keeps a set of large scratch buffers and replaces
 * one at a time with a buffer of another size (decoders, compressors,
 * columnar batches, image pipelines), clearing each new buffer with memset
 * before it uses it, as such programs do whatever the allocator gave them:
 * LIVE buffers of 5 to 25 MiB (uniform, page multiples), and at every round
 * the oldest is freed and a new one of a random size is allocated and
 * zeroed, then stamped every 64 KiB. The time is the memset (the same bytes
 * under every allocator) plus whatever the allocator makes it cost on top:
 * a block whose pages were given back faults them in again while the
 * program zeroes them (a fresh mapping per block costs a page fault per
 * 4 KiB, or per 2 MiB on huge pages), where reused resident memory does
 * not. Peak RSS tells what keeping freed memory around costs.
 *
 * One thread (the shape is single-threaded; -t is ignored). Knobs: -s
 * scales the rounds (2000 at -s 1; --quick: a fifth). */
#include "wl.h"

enum { LIVE = 20, STAMP = 64 << 10 };
static const size_t MIN_SIZE = (size_t)5 << 20, MAX_SIZE = (size_t)25 << 20;
static const uint64_t ROUNDS = 2000;

static uint64_t stamp(unsigned char *p, size_t n, uint64_t tag) {
  for (size_t i = 0; i < n; i += STAMP) p[i] = (unsigned char)(tag + i / STAMP);
  return tag ^ n;
}

static uint64_t verify(const unsigned char *p, size_t n, uint64_t tag) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += STAMP) {
    if (p[i] != (unsigned char)(tag + i / STAMP)) wl_die("a big block lost its contents");
    /* Bytes between stamps were zeroed and must still read as zero. */
    if (i + 1 < n && p[i + 1] != 0) wl_die("a big block's zeroed bytes changed");
    sum += p[i];
  }
  return sum + n;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "bigzero: big buffers of random size, zeroed by the program", 1, 0.2);
  uint64_t rounds = wl_scaled(&o, ROUNDS), s = wl_mix(29, 0), sum = 0;
  unsigned char *live[LIVE] = {0};
  size_t size[LIVE] = {0};
  uint64_t tag[LIVE] = {0};
  for (uint64_t r = 0; r < rounds + LIVE; r++) {
    int k = (int)(r % LIVE);
    if (live[k]) {
      sum += verify(live[k], size[k], tag[k]);
      free(live[k]);
      live[k] = NULL;
    }
    if (r >= rounds) continue; /* the last LIVE rounds only free */
    size[k] = (size_t)wl_range(&s, MIN_SIZE >> 12, MAX_SIZE >> 12) << 12;
    tag[k] = wl_rand(&s);
    live[k] = wl_malloc(size[k]);
    memset(live[k], 0, size[k]);
    sum += stamp(live[k], size[k], tag[k]);
  }
  wl_result("bigzero", sum, rounds);
  return 0;
}
