/* cache-thrash: active false sharing.
 *
 * Models Berger et al.'s cache-thrash test (Hoard, 2000): every thread
 * repeatedly allocates a small object, writes to it many times, and frees it.
 * An allocator that hands objects in the same cache line to different threads
 * makes those writes bounce the line between cores; one with per-thread
 * memory does not. The time is nearly all writes, so a slow run here means
 * shared lines, not a slow malloc.
 *
 * Knobs: -t threads (default 2); -s scales the objects per thread. Object
 * size 8 bytes, 2,000 writes of each byte per object. */
#include "wl.h"

enum { OBJ_SIZE = 8, WRITES = 2000 };
static const uint64_t OBJECTS = 50000; /* per thread at -s 1 */

struct worker {
  uint64_t objects, sum;
};

static void *work(void *arg) {
  struct worker *w = arg;
  w->sum = wl_write_objects(w->objects, OBJ_SIZE, WRITES);
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "cache-thrash: active false sharing", 2, 0.2);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) w[i].objects = wl_scaled(&o, OBJECTS);
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  wl_result("cache-thrash", sum, (uint64_t)o.threads * wl_scaled(&o, OBJECTS));
  free(w);
  return 0;
}
