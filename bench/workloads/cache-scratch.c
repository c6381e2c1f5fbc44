/* cache-scratch: passive false sharing.
 *
 * Models Berger et al.'s cache-scratch test (Hoard, 2000): the main thread
 * allocates one small object per worker, back to back, so they likely share
 * a cache line, and hands one to each worker. Each worker frees its object
 * and then allocates, writes and frees small objects in a loop. An allocator
 * that gives the freed object (or its neighbours) back to the worker that
 * freed it makes the workers write to one line from several cores.
 *
 * Knobs: -t threads (default 2); -s scales the objects per thread. Object
 * size 8 bytes, 2,000 writes of each byte per object. */
#include "wl.h"

enum { OBJ_SIZE = 8, WRITES = 2000 };
static const uint64_t OBJECTS = 50000; /* per thread at -s 1 */

struct worker {
  void *first; /* allocated by main, freed by this worker */
  uint64_t objects, sum;
};

static void *work(void *arg) {
  struct worker *w = arg;
  free(w->first);
  w->sum = wl_write_objects(w->objects, OBJ_SIZE, WRITES);
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "cache-scratch: passive false sharing", 2, 0.2);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) {
    w[i].first = wl_malloc(OBJ_SIZE);
    memset(w[i].first, i, OBJ_SIZE);
    w[i].objects = wl_scaled(&o, OBJECTS);
  }
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  wl_result("cache-scratch", sum, (uint64_t)o.threads * wl_scaled(&o, OBJECTS));
  free(w);
  return 0;
}
