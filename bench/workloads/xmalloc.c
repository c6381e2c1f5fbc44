/* xmalloc: producer threads allocate, consumer threads free.
 *
 * Models the pattern of Lever and Boreham's xmalloc test: every block is
 * freed by a thread other than the one that allocated it, so an allocator
 * whose frees go back to the allocating thread's heap pays for the remote
 * free path on every block, and one that keeps freed blocks in the freeing
 * thread's cache piles memory up on the consumer side.
 *
 * Threads are paired: producer i hands batches of BATCH pointers to consumer
 * i through a bounded queue (mutex and condition variables, one lock per
 * batch, so the queue costs little next to the BATCH frees).
 *
 * Knobs: -t total threads (default 2: one pair; an odd count rounds down,
 * minimum one pair); -s scales the batches per producer. */
#include "wl.h"

enum { BATCH = 256, DEPTH = 16, MIN_SIZE = 16, MAX_SIZE = 2048 };
static const uint64_t BATCHES = 25000; /* per producer at -s 1 */

struct pair {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  void **queue[DEPTH];
  unsigned head, count;
  uint64_t seed, batches, sum;
};

static void push(struct pair *p, void **batch) {
  pthread_mutex_lock(&p->lock);
  while (p->count == DEPTH) pthread_cond_wait(&p->not_full, &p->lock);
  p->queue[(p->head + p->count) % DEPTH] = batch;
  p->count++;
  pthread_cond_signal(&p->not_empty);
  pthread_mutex_unlock(&p->lock);
}

static void **pop(struct pair *p) {
  pthread_mutex_lock(&p->lock);
  while (p->count == 0) pthread_cond_wait(&p->not_empty, &p->lock);
  void **b = p->queue[p->head];
  p->head = (p->head + 1) % DEPTH;
  p->count--;
  pthread_cond_signal(&p->not_full);
  pthread_mutex_unlock(&p->lock);
  return b;
}

static void *producer(void *arg) {
  struct pair *p = arg;
  uint64_t s = p->seed;
  for (uint64_t b = 0; b < p->batches; b++) {
    /* The batch array itself is allocated here and freed by the consumer too. */
    void **batch = wl_malloc(sizeof *batch * BATCH);
    for (int i = 0; i < BATCH; i++) {
      uint64_t x = wl_rand(&s);
      size_t n = wl_logsize(&s, MIN_SIZE, MAX_SIZE);
      batch[i] = wl_malloc(n);
      wl_stamp(batch[i], n, x);
    }
    push(p, batch);
  }
  return NULL;
}

static void *consumer(void *arg) {
  struct pair *p = arg;
  uint64_t sum = 0;
  for (uint64_t b = 0; b < p->batches; b++) {
    void **batch = pop(p);
    for (int i = 0; i < BATCH; i++) {
      sum += wl_check(batch[i]);
      free(batch[i]);
    }
    free(batch);
  }
  p->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "xmalloc: producers allocate, consumers free", 2, 0.2);
  int pairs = o.threads / 2 < 1 ? 1 : o.threads / 2;
  struct pair *p = wl_malloc(sizeof *p * (size_t)pairs);
  pthread_t *t = wl_malloc(sizeof *t * 2 * (size_t)pairs);
  uint64_t sum = 0;

  for (int i = 0; i < pairs; i++) {
    memset(&p[i], 0, sizeof p[i]);
    pthread_mutex_init(&p[i].lock, NULL);
    pthread_cond_init(&p[i].not_empty, NULL);
    pthread_cond_init(&p[i].not_full, NULL);
    p[i].seed = wl_mix(7, (uint64_t)i);
    p[i].batches = wl_scaled(&o, BATCHES);
    if (pthread_create(&t[2 * i], NULL, producer, &p[i]) != 0 ||
        pthread_create(&t[2 * i + 1], NULL, consumer, &p[i]) != 0)
      wl_die("pthread_create failed");
  }
  for (int i = 0; i < 2 * pairs; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < pairs; i++) sum += p[i].sum;
  wl_result("xmalloc", sum, (uint64_t)pairs * wl_scaled(&o, BATCHES) * BATCH);
  free(p);
  free(t);
  return 0;
}
