/* redislike: a cache server that loses most of its keys, then idles.
 *
 * Builds a ~400 MB heap the way Redis holds keys: a chained hash table of
 * pointers (grown by doubling) to entries (a 32-byte struct: next, key,
 * value, expiry), each with a key string (16 to 48 bytes), a value header (a
 * 24-byte struct: type, refcount, pointer) and a value string (16 to 128
 * bytes): four small blocks per key. Then it deletes all keys but the oldest
 * 1% (in bucket order, unrelated to where the blocks lie) and shrinks the
 * table as Redis does when it is under 10% full. The oldest keys are kept
 * so the survivors pin few pages: scattered survivors are what `survivors`
 * measures; here the question is how fast the freed memory goes back.
 *
 * After the frees the server idles with light periodic work: every 100 ms,
 * 1,000 operations (half SETs of new short-lived keys, each evicting the
 * oldest such key once 1,000 are live; half overwrites of a surviving key's
 * value). RSS is sampled every 250 ms for 6 s (longer if 2 × decay_ms is
 * longer). decay_ms is read from HUGESLAB_CONF (`decay_ms:N`), else 1000 is
 * assumed; hugeslab's target is RSS at 2 × decay_ms ≤ 1.2 × start RSS + 4 MiB,
 * the start RSS being the program's RSS before the build.
 *
 * Knobs: -s scales the heap (--quick: a fifth); the timings do not scale.
 * -t is ignored. */
#include "mem.h"

static const double TOTAL = 400e6; /* bytes requested at -s 1 */
enum { KEEP_PER_MILLE = 10, TRICKLE_KEYS = 1000, OPS_PER_TICK = 1000 };
static const double TICK_MS = 100, SAMPLE_MS = 250, MIN_RUN_MS = 6000;

struct robj {
  uint32_t type, refcount;
  char *ptr;
  uint64_t len;
};

struct entry {
  struct entry *next;
  char *key;
  struct robj *val;
  uint64_t id; /* creation order; the checksum and the keep/delete choice use it */
};

static struct entry **table;
static size_t mask, count;
static uint64_t rng = 0x4ed15;

/* The bucket hash: of the key's id, not its string, so rehashing reads no
 * key blocks (Redis hashes the string, which would make the build slower,
 * not the heap different). */
static uint64_t hash_of(const struct entry *e) { return wl_mix(e->id, 0x5eed); }

static struct entry *make_entry(uint64_t id) {
  size_t klen = (size_t)wl_range(&rng, 16, 48), vlen = (size_t)wl_range(&rng, 16, 128);
  struct entry *e = wl_malloc(sizeof *e);
  e->key = wl_malloc(klen);
  int n = snprintf(e->key, klen, "k:%010" PRIu64 ":", id); /* 13 chars: klen >= 16 */
  memset(e->key + n, 'x', klen - 1 - (size_t)n);
  e->key[klen - 1] = '\0';
  e->val = wl_malloc(sizeof *e->val);
  e->val->type = 0;
  e->val->refcount = 1;
  e->val->len = vlen;
  e->val->ptr = wl_malloc(vlen);
  memset(e->val->ptr, (int)('a' + id % 26), vlen);
  e->id = id;
  return e;
}

static uint64_t free_entry(struct entry *e) {
  uint64_t sum = e->id + (unsigned char)e->val->ptr[e->val->len - 1] + strlen(e->key);
  free(e->val->ptr);
  free(e->val);
  free(e->key);
  free(e);
  return sum;
}

static void resize(size_t buckets) {
  struct entry **t = calloc(buckets, sizeof *t);
  if (!t) wl_die("calloc of %zu buckets failed", buckets);
  for (size_t b = 0; table && b <= mask; b++)
    for (struct entry *e = table[b], *next; e; e = next) {
      next = e->next;
      size_t nb = hash_of(e) & (buckets - 1);
      e->next = t[nb];
      t[nb] = e;
    }
  free(table);
  table = t;
  mask = buckets - 1;
}

static void insert(struct entry *e) {
  if (!table || count + 1 > mask + 1) resize(table ? (mask + 1) * 2 : 4);
  size_t b = hash_of(e) & mask;
  e->next = table[b];
  table[b] = e;
  count++;
}

static void remove_entry(struct entry *e) {
  struct entry **p = &table[hash_of(e) & mask];
  while (*p != e) {
    if (!*p) wl_die("key %" PRIu64 " not in the table", e->id);
    p = &(*p)->next;
  }
  *p = e->next;
  count--;
}

/* HUGESLAB_CONF's decay_ms, else 1000. */
static double decay_ms(int *from_conf) {
  const char *c = getenv("HUGESLAB_CONF");
  *from_conf = 0;
  for (const char *p = c; p && *p;) {
    if (strncmp(p, "decay_ms:", 9) == 0) {
      *from_conf = 1;
      return strtod(p + 9, NULL);
    }
    p = strchr(p, ',');
    if (p) p++;
  }
  return 1000;
}

int main(int argc, char **argv) {
  long start = mem_rss_kib();
  struct wl_opts o = wl_parse(argc, argv, "redislike: a 400 MB key-value heap, 99% deleted, then idle", 1, 0.2);
  int conf;
  double decay = decay_ms(&conf), target_ms = 2 * decay;
  uint64_t sum = 0, ops = 0, id = 0;
  double total = TOTAL * o.scale, bytes = 0;

  /* Build. */
  while (bytes < total) {
    struct entry *e = make_entry(id++);
    insert(e);
    bytes += (double)(sizeof *e + sizeof *e->val + e->val->len) + (double)strlen(e->key) + 1;
  }
  uint64_t built = id, keep = built * KEEP_PER_MILLE / 1000;
  long peak = mem_hwm_kib();
  if (peak < 0) peak = mem_rss_kib();

  /* Delete all but the oldest 1%, bucket by bucket; then shrink the table. */
  for (size_t b = 0; b <= mask; b++)
    for (struct entry **p = &table[b]; *p;) {
      struct entry *e = *p;
      if (e->id >= keep) {
        *p = e->next;
        count--;
        sum += free_entry(e);
      } else {
        p = &e->next;
      }
    }
  size_t buckets = 4;
  while (buckets < count) buckets *= 2;
  resize(buckets);
  ops = built;

  /* Idle with a trickle; RSS samples on a fixed schedule from t0. */
  struct entry *ring[TRICKLE_KEYS] = {0}; /* short-lived keys, oldest evicted first */
  struct entry *kept[64];                  /* a few survivors whose values get overwritten */
  size_t nkept = 0, ring_at = 0;
  for (size_t b = 0; b <= mask && nkept < 64; b++)
    for (struct entry *e = table[b]; e && nkept < 64; e = e->next) kept[nkept++] = e;
  double run_ms = target_ms > MIN_RUN_MS ? target_ms : MIN_RUN_MS;
  enum { MAX_SAMPLES = 2048 };
  double t_sample[MAX_SAMPLES];
  long rss[MAX_SAMPLES];
  int nsamples = 0, target_sample = -1;
  /* Every SAMPLE_MS up to run_ms, and 2 × decay_ms where that is off the grid. */
  for (double t = SAMPLE_MS; t < run_ms + 1e-6 && nsamples < MAX_SAMPLES - 1; t += SAMPLE_MS) {
    if (target_sample < 0 && target_ms < t - 1e-6) {
      target_sample = nsamples;
      t_sample[nsamples++] = target_ms;
    } else if (target_sample < 0 && target_ms < t + 1e-6) {
      target_sample = nsamples;
    }
    t_sample[nsamples++] = t;
  }
  if (target_sample < 0) {
    target_sample = nsamples;
    t_sample[nsamples++] = target_ms;
  }

  long after_free = mem_rss_kib();
  double t0 = mem_now_ms(), next_tick = t0 + TICK_MS;
  for (int k = 0; k < nsamples; k++) {
    double due = t0 + t_sample[k];
    while (next_tick <= due) {
      mem_sleep_until(next_tick);
      for (int op = 0; op < OPS_PER_TICK; op++, ops++) {
        if ((op & 1) && nkept > 0) {
          struct robj *v = kept[wl_rand(&rng) % nkept]->val;
          size_t vlen = (size_t)wl_range(&rng, 16, 128);
          sum += (unsigned char)v->ptr[v->len - 1];
          free(v->ptr);
          v->ptr = wl_malloc(vlen);
          memset(v->ptr, (int)('A' + op % 26), vlen);
          v->len = vlen;
        } else {
          if (ring[ring_at]) {
            remove_entry(ring[ring_at]);
            sum += free_entry(ring[ring_at]);
          }
          ring[ring_at] = make_entry(id++);
          insert(ring[ring_at]);
          ring_at = (ring_at + 1) % TRICKLE_KEYS;
        }
      }
      next_tick += TICK_MS;
    }
    mem_sleep_until(due);
    rss[k] = mem_rss_kib();
  }

  /* The floor of the end state: pages touched by every live block. */
  struct mem_pages pages = {0};
  mem_pages_add(&pages, table, (mask + 1) * sizeof *table);
  for (size_t b = 0; b <= mask; b++)
    for (struct entry *e = table[b]; e; e = e->next) {
      mem_pages_add(&pages, e, sizeof *e);
      mem_pages_add(&pages, e->key, strlen(e->key) + 1);
      mem_pages_add(&pages, e->val, sizeof *e->val);
      mem_pages_add(&pages, e->val->ptr, e->val->len);
    }
  double floor_kib = (double)mem_pages_count(&pages) * (MEM_PAGE / 1024) + (double)start;

  char label[128];
  mem_metric("start_rss", (double)start, "KiB", "start RSS (before the build)");
  mem_metric("peak_rss", (double)peak, "KiB", "peak RSS (VmHWM after the build)");
  mem_metric("rss_after_free", (double)after_free, "KiB", "RSS right after deleting 99% of the keys");
  static const double at[] = {1000, 2000, 4000, 6000};
  for (size_t a = 0; a < sizeof at / sizeof at[0]; a++)
    for (int k = 0; k < nsamples; k++)
      if (t_sample[k] > at[a] - 1e-9 && t_sample[k] < at[a] + 1e-9) {
        char name[32];
        snprintf(name, sizeof name, "rss_at_%.0fs", at[a] / 1000);
        snprintf(label, sizeof label, "RSS %.0f s after the frees (trickle running)", at[a] / 1000);
        mem_metric(name, (double)rss[k], "KiB", label);
      }
  snprintf(label, sizeof label, "RSS at 2 × decay_ms = %.0f ms after the frees", target_ms);
  mem_metric("rss_at_2x_decay", (double)rss[target_sample], "KiB", label);
  mem_target("rss_at_2x_decay", "<=", 1.2 * (double)start + 4096, "KiB", "1.2 × start RSS + 4 MiB");
  mem_metric("floor", floor_kib, "KiB", "floor at the end: pages touched by live blocks + start RSS");
  printf("info decay_ms %.0f (%s)\n", decay, conf ? "from HUGESLAB_CONF" : "not set, 1000 assumed");
  printf("info keys %" PRIu64 " built, %" PRIu64 " kept\n", built, keep);
  printf("# RSS every %.0f ms after the frees (KiB):", SAMPLE_MS);
  for (int k = 0; k < nsamples; k++) printf(" %.0f:%ld", t_sample[k], rss[k]);
  printf("\n");

  /* Tear down. */
  for (size_t b = 0; b <= mask; b++)
    for (struct entry *e = table[b], *next; e; e = next) {
      next = e->next;
      sum += free_entry(e);
    }
  free(table);
  wl_result("redislike", sum, ops);
  return 0;
}
