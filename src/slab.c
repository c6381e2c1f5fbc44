/* slab: see slab.h. */
#include "slab.h"

#include "sizeclass.h"

const uint8_t slab_no_state = SLOT_NONE;

void slab_init(struct slab *s, struct chunk *c, uintptr_t base, unsigned first_page, unsigned pages,
               unsigned cls, uint32_t size, uint32_t magic, unsigned slots, uint8_t *run_state) {
  s->base = base;
  s->chunk = c;
  s->first_page = (uint16_t)first_page;
  s->pages = (uint16_t)pages;
  s->cls = (uint8_t)cls;
  s->size = size;
  s->magic = magic;
  s->slots = (uint16_t)slots;
  s->nfree = (uint16_t)slots;
  unsigned words = (slots + 63) / 64;
  for (unsigned w = 0; w < words; w++) s->bitmap[w] = ~(uint64_t)0;
  if (slots % 64) s->bitmap[words - 1] = ((uint64_t)1 << (slots % 64)) - 1;
  s->state = run_state ? run_state : (uint8_t *)&s->bitmap[words];
  s->state[slots] = SLOT_NONE;
}

unsigned slab_take(struct slab *s, struct slot_ref *out, unsigned max) {
  unsigned words = (s->slots + 63u) / 64u, n = 0;
  for (unsigned w = 0; w < words && n < max; w++) {
    uint64_t bits = s->bitmap[w];
    while (bits && n < max) {
      unsigned b = (unsigned)__builtin_ctzll(bits);
      bits &= bits - 1;
      uint32_t idx = w * 64 + b;
      out[n].ptr = (void *)(s->base + (uintptr_t)idx * s->size);
      out[n].state = &s->state[idx];
      n++;
    }
    s->bitmap[w] = bits;
  }
  s->nfree = (uint16_t)(s->nfree - n);
  return n;
}

/* ---- the partial-slab heap ------------------------------------------------ */

/* Two heap roots (prev and next NULL) made one: the higher becomes the first
 * child of the lower. */
static struct slab *heap_meld(struct slab *a, struct slab *b) {
  if (b->base < a->base) {
    struct slab *t = a;
    a = b;
    b = t;
  }
  b->prev = a;
  b->next = a->child;
  if (a->child) a->child->prev = b;
  a->child = b;
  return a;
}

/* A sibling list made one heap: pairs melded left to right, then the pairs
 * right to left (the two-pass rule that gives the amortized bound). */
static struct slab *heap_combine(struct slab *first) {
  struct slab *pairs = NULL; /* melded pairs, last first, linked by next */
  while (first) {
    struct slab *a = first, *b = a->next;
    first = b ? b->next : NULL;
    a->prev = a->next = NULL;
    if (b) {
      b->prev = b->next = NULL;
      a = heap_meld(a, b);
    }
    a->next = pairs;
    pairs = a;
  }
  if (!pairs) return NULL;
  struct slab *root = pairs;
  pairs = pairs->next;
  root->next = NULL;
  while (pairs) {
    struct slab *next = pairs->next;
    pairs->next = NULL;
    root = heap_meld(root, pairs);
    pairs = next;
  }
  return root;
}

void slab_heap_insert(struct slab **root, struct slab *s) {
  s->prev = s->next = s->child = NULL;
  *root = *root ? heap_meld(*root, s) : s;
}

void slab_heap_merge(struct slab **into, struct slab **from) {
  if (*from) *into = *into ? heap_meld(*into, *from) : *from;
  *from = NULL;
}

void slab_heap_remove(struct slab **root, struct slab *s) {
  if (s == *root) {
    *root = heap_combine(s->child);
  } else {
    if (s->prev->child == s) s->prev->child = s->next;
    else s->prev->next = s->next;
    if (s->next) s->next->prev = s->prev;
    struct slab *rest = heap_combine(s->child);
    if (rest) *root = heap_meld(*root, rest);
  }
  s->prev = s->next = s->child = NULL;
}

struct slab *slab_heap_next(struct slab *s) {
  if (s->child) return s->child;
  for (;;) {
    if (s->next) return s->next;
    /* Up: back along the siblings to the first child, whose prev is the parent. */
    while (s->prev && s->prev->child != s) s = s->prev;
    if (!s->prev) return NULL;
    s = s->prev;
  }
}
