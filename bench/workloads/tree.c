/* tree: build a large binary search tree and a chained hash map, read them
 * back, then tear both down.
 *
 * Models a program phase that builds a big pointer-linked structure (a
 * compiler's AST, an in-memory index) and then frees all of it: millions of
 * small allocations of a few sizes with no frees, followed by millions of
 * frees in an order unrelated to allocation order (the tree is freed
 * post-order, the map bucket by bucket). It rewards fast bump-like
 * allocation, dense packing (the lookups walk the structure), and a cheap
 * free of blocks that are no longer in any thread cache. The hash map grows
 * by doubling, so its bucket arrays are large blocks reallocated ~20 times.
 *
 * Knobs: -t threads (default 2, each builds its own structures); -s scales
 * the number of keys per thread (500,000 at -s 1). */
#include "wl.h"

static const uint64_t KEYS = 500000;

struct node {
  uint64_t key;
  struct node *left, *right;
  char *name; /* a separate string block, 8 to 64 bytes */
};

struct entry {
  struct entry *next;
  uint64_t hash;
  char key[]; /* the string, NUL-terminated */
};

struct map {
  struct entry **bucket;
  size_t mask, count;
};

static char *make_name(uint64_t key, uint64_t *s) {
  size_t n = (size_t)wl_range(s, 8, 64);
  char *p = wl_malloc(n);
  snprintf(p, n, "%016llx-%llu", (unsigned long long)key, (unsigned long long)(key % 99991));
  return p;
}

static void tree_insert(struct node **root, struct node *n) {
  while (*root) root = n->key < (*root)->key ? &(*root)->left : &(*root)->right;
  *root = n;
}

/* In-order walk: fold keys in order, so a mis-linked tree changes the sum. */
static uint64_t tree_fold(const struct node *n, uint64_t acc) {
  while (n) {
    acc = tree_fold(n->left, acc);
    acc = acc * 31 + n->key + (uint64_t)strlen(n->name);
    n = n->right;
  }
  return acc;
}

static void tree_free(struct node *n) {
  while (n) {
    struct node *right = n->right;
    tree_free(n->left);
    free(n->name);
    free(n);
    n = right;
  }
}

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static void map_grow(struct map *m) {
  size_t size = (m->mask + 1) * 2;
  struct entry **b = calloc(size, sizeof *b);
  if (!b) wl_die("calloc failed");
  for (size_t i = 0; i <= m->mask; i++) {
    struct entry *e = m->bucket[i];
    while (e) {
      struct entry *next = e->next;
      e->next = b[e->hash & (size - 1)];
      b[e->hash & (size - 1)] = e;
      e = next;
    }
  }
  free(m->bucket);
  m->bucket = b;
  m->mask = size - 1;
}

static void map_put(struct map *m, const char *key) {
  size_t len = strlen(key);
  struct entry *e = wl_malloc(sizeof *e + len + 1);
  memcpy(e->key, key, len + 1);
  e->hash = str_hash(key);
  e->next = m->bucket[e->hash & m->mask];
  m->bucket[e->hash & m->mask] = e;
  if (++m->count > m->mask) map_grow(m);
}

static int map_has(const struct map *m, const char *key) {
  uint64_t h = str_hash(key);
  for (const struct entry *e = m->bucket[h & m->mask]; e; e = e->next)
    if (e->hash == h && strcmp(e->key, key) == 0) return 1;
  return 0;
}

struct worker {
  uint64_t seed, keys, sum;
};

static void *work(void *arg) {
  struct worker *w = arg;
  uint64_t s = w->seed, sum = 0;
  struct node *root = NULL;
  struct map m = {calloc(16, sizeof(struct entry *)), 15, 0};
  char key[32];
  if (!m.bucket) wl_die("calloc failed");

  for (uint64_t i = 0; i < w->keys; i++) {
    struct node *n = wl_malloc(sizeof *n);
    n->key = wl_rand(&s);
    n->left = n->right = NULL;
    n->name = make_name(n->key, &s);
    tree_insert(&root, n);
    snprintf(key, sizeof key, "k%llu", (unsigned long long)(n->key >> 20));
    map_put(&m, key);
  }
  sum = tree_fold(root, 0);
  /* Look up every other key again; each hit must be there. */
  s = w->seed;
  for (uint64_t i = 0; i < w->keys; i++) {
    uint64_t k = wl_rand(&s);
    wl_rand(&s); /* make_name's draw */
    if (i % 2) continue;
    snprintf(key, sizeof key, "k%llu", (unsigned long long)(k >> 20));
    if (!map_has(&m, key)) wl_die("hash map lost key %s", key);
    sum += 1;
  }
  tree_free(root);
  for (size_t i = 0; i <= m.mask; i++) {
    struct entry *e = m.bucket[i];
    while (e) {
      struct entry *next = e->next;
      free(e);
      e = next;
    }
  }
  free(m.bucket);
  w->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  struct wl_opts o = wl_parse(argc, argv, "tree: build a big tree and hash map, then free them", 2, 0.2);
  struct worker *w = wl_malloc(sizeof *w * (size_t)o.threads);
  uint64_t sum = 0;
  for (int i = 0; i < o.threads; i++) {
    w[i].seed = wl_mix(13, (uint64_t)i);
    w[i].keys = wl_scaled(&o, KEYS);
  }
  wl_spawn_join(o.threads, work, w, sizeof *w);
  for (int i = 0; i < o.threads; i++) sum += w[i].sum;
  wl_result("tree", sum, (uint64_t)o.threads * wl_scaled(&o, KEYS) * 3);
  free(w);
  return 0;
}
