/* strbuild: strings built by appending small pieces with realloc.
 *
 * Models the naive string builder found in many C programs (log formatting,
 * JSON emitters, shell-like tools): the buffer is realloc'd to exactly the
 * new length on every append, never over-allocated by the program itself.
 * BUILDERS strings grow at once, interleaved, so the block after a buffer is
 * usually taken and in-place growth only works if the allocator left room
 * (size classes, or a page run with free pages behind it). Finished strings
 * go to a ring of KEEP results; the oldest result is freed when a new one
 * arrives. Final lengths are log-uniform, 64 bytes to 256 KiB.
 *
 * Knobs: -t threads (default 2, each with its own builders); -s scales the
 * number of appends per thread. */
#include "wl.h"

enum { BUILDERS = 32, KEEP = 64, MIN_LEN = 64, MAX_LEN = 256 << 10 };
static const uint64_t APPENDS = 9000000; /* per thread at -s 1 */

struct builder {
  char *buf;
  size_t len, target;
};

struct worker {
  uint64_t seed, appends, sum;
};

static uint64_t fold(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i += 61) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h ^ n;
}

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  struct builder b[BUILDERS] = {{0}};
  char *kept[KEEP] = {0};
  size_t next_keep = 0;
  static const char piece[] = "the quick brown fox jumps over the lazy dog; 0123456789";

  for (int i = 0; i < BUILDERS; i++) b[i].target = wl_logsize(&s, MIN_LEN, MAX_LEN);
  for (uint64_t a = 0; a < w->appends; a++) {
    uint64_t x = wl_rand(&s);
    struct builder *sb = &b[x % BUILDERS];
    size_t n = 1 + (size_t)((x >> 16) % 40);
    char *p = realloc(sb->buf, sb->len + n + 1);
    if (!p) wl_die("realloc(%zu) returned NULL", sb->len + n + 1);
    memcpy(p + sb->len, piece + (x >> 8) % 16, n);
    sb->len += n;
    p[sb->len] = 0;
    sb->buf = p;
    if (sb->len >= sb->target) {
      sum += fold(sb->buf, sb->len);
      free(kept[next_keep]);
      kept[next_keep] = sb->buf;
      next_keep = (next_keep + 1) % KEEP;
      sb->buf = NULL;
      sb->len = 0;
      sb->target = wl_logsize(&s, MIN_LEN, MAX_LEN);
    }
  }
  for (int i = 0; i < BUILDERS; i++) {
    if (b[i].buf) sum += fold(b[i].buf, b[i].len);
    free(b[i].buf);
  }
  for (int i = 0; i < KEEP; i++) free(kept[i]);
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "strbuild: realloc-heavy string building", 2, 0.2);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) {
    w[i].seed = wl_mix(17, (uint64_t)i);
    w[i].appends = wl_scaled(&o, APPENDS);
  }
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  wl_result("strbuild", sum, (uint64_t)o.threads * wl_scaled(&o, APPENDS));
  free(w);
  return 0;
}
