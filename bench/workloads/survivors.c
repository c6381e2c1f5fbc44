/* survivors: free a random 90% of many small blocks; how close does RSS get
 * to what the survivors pin?
 *
 * Allocates ~224 MiB of small blocks (16 to 512 bytes, uniform), every byte
 * written, frees a random 90% of them (each block independently, so the
 * survivors are scattered over the whole heap), calls malloc_trim(0) and
 * reads RSS. Then it computes the floor no allocator can go below without
 * moving blocks: the distinct 4 KiB pages touched by a surviving block (the
 * page of its first byte through the page of its last) times 4 KiB, plus the
 * program's own footprint (its RSS at start, before any allocation). It
 * reports RSS after the trim, the floor and their ratio.
 *
 * The blocks are chained through their first word (no arrays), so the
 * survivors are the only live blocks. The floor's page list lives in mmap'd
 * scratch and is built after RSS is read.
 * Knobs: -s scales the size (--quick: a fifth); --free-pct P frees P% instead
 * of 90% (0 is the sanity case: the ratio should be about 1). -t is ignored. */
#include "mem.h"

enum { MIN_SIZE = 16, MAX_SIZE = 512 };
static const double TOTAL = 224.0 * (1 << 20);

struct blk {
  struct blk *next;
  uint64_t check; /* size in the low 10 bits, a hash of the index above */
};

static uint64_t check_of(uint64_t i, size_t size) { return (wl_mix(i, 5) << 10) | size; }

int main(int argc, char **argv) {
  long own = mem_rss_kib();
  const char *pct_arg = mem_take_opt(&argc, argv, "--free-pct", "90");
  struct wl_opts o = wl_parse(argc, argv, "survivors: free a random 90% of small blocks [--free-pct P]", 1, 0.2);
  char *end;
  double pct = strtod(pct_arg, &end);
  if (*end || pct < 0 || pct > 100) wl_die("--free-pct wants 0 to 100, not '%s'", pct_arg);
  uint64_t s = 0x5a17, sum = 0, n = 0, kept = 0;
  uint64_t cut = pct >= 100 ? UINT64_MAX : (uint64_t)(pct / 100.0 * 18446744073709551616.0);
  struct blk *head = NULL;
  double total = TOTAL * o.scale, bytes = 0, live = 0;

  /* Allocate; the chain is newest first. */
  while (bytes < total) {
    size_t size = (size_t)wl_range(&s, MIN_SIZE, MAX_SIZE);
    struct blk *b = wl_malloc(size);
    memset(b, (int)(n & 0xff), size);
    b->next = head;
    b->check = check_of(n, size);
    head = b;
    bytes += (double)size;
    n++;
  }
  long full = mem_rss_kib();

  /* Free each block with probability pct (the draw is fixed by the seed). */
  struct blk **link = &head;
  uint64_t i = n;
  while (*link) {
    struct blk *b = *link;
    i--;
    size_t size = (size_t)(b->check & 1023);
    unsigned char last = size > sizeof *b ? ((unsigned char *)b)[size - 1] : (unsigned char)(i & 0xff);
    if (b->check != check_of(i, size) || last != (unsigned char)(i & 0xff))
      wl_die("block %p was clobbered", (void *)b);
    sum += b->check;
    if (pct > 0 && wl_rand(&s) <= cut) {
      *link = b->next;
      free(b);
    } else {
      link = &b->next;
      kept++;
      live += (double)size;
    }
  }
  mem_trim();
  long after_trim = mem_rss_kib();

  struct mem_pages pages = {0};
  for (struct blk *b = head; b; b = b->next) mem_pages_add(&pages, b, (size_t)(b->check & 1023));
  double floor_kib = (double)mem_pages_count(&pages) * (MEM_PAGE / 1024) + (double)own;

  mem_metric("own_footprint", (double)own, "KiB", "own footprint (RSS at start)");
  mem_metric("rss_full", (double)full, "KiB", "RSS with every block allocated");
  mem_metric("live", live / 1024, "KiB", "live bytes after the frees");
  mem_metric("rss_after_trim", (double)after_trim, "KiB", "RSS after the frees and malloc_trim(0)");
  mem_target("rss_after_trim", "<=", 1.02 * floor_kib + 2048, "KiB", "1.02 × floor + 2 MiB");
  mem_metric("floor", floor_kib, "KiB", "floor: 4 KiB pages touched by survivors + own footprint");
  mem_metric("rss_over_floor", (double)after_trim / floor_kib, "x", "RSS after trim / floor");
  printf("info freed %.0f%% of %" PRIu64 " blocks, %" PRIu64 " kept\n", pct, n, kept);
  mem_trim_info();

  /* Free the survivors, verifying them again. */
  i = kept;
  while (head) {
    struct blk *next = head->next;
    sum += head->check & 1023;
    free(head);
    head = next;
    i--;
  }
  if (i != 0) wl_die("lost survivors");
  wl_result("survivors", sum, n);
  return 0;
}
