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
