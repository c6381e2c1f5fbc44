/* The partial-slab heap (slab_heap_*, linked statically): after every one of
 * a long random sequence of inserts and removals (of the root and of any
 * member) the root is the member with the lowest address, and a traversal
 * meets every member exactly once; merging a second heap (the slabs not in
 * the first) makes one heap of all of them, and merging an empty heap
 * changes nothing; popping the root repeatedly yields the members in
 * address order. A broken link, a lost subtree or a wrong meld
 * shows up as a wrong root or a miscount. */
#include <stdio.h>
#include <stdlib.h>
#include "slab.h"
#include "testutil.h"

enum { SLABS = 3000, STEPS = 60000 };

static struct slab slabs[SLABS];
static bool member[SLABS];

static size_t check_heap(struct slab *root, size_t expect) {
  uintptr_t lowest = UINTPTR_MAX;
  for (size_t i = 0; i < SLABS; i++)
    if (member[i] && slabs[i].base < lowest) lowest = slabs[i].base;
  if (expect == 0) {
    CHECK_MSG(root == NULL, "an empty heap has a root");
    return 0;
  }
  CHECK_MSG(root != NULL && root->base == lowest, "root %#lx, lowest member %#lx", root ? (unsigned long)root->base : 0UL,
            (unsigned long)lowest);
  CHECK(root->prev == NULL && root->next == NULL);
  static unsigned seen[SLABS];
  memset(seen, 0, sizeof seen);
  size_t n = 0;
  for (struct slab *s = root; s; s = slab_heap_next(s)) {
    size_t i = (size_t)(s - slabs);
    CHECK_MSG(i < SLABS && member[i], "traversal met a slab not in the heap");
    CHECK_MSG(++seen[i] == 1, "traversal met slab %zu twice", i);
    if (s->child) CHECK_MSG(s->child->base > s->base, "a child below its parent");
    n++;
    CHECK(n <= expect);
  }
  CHECK_MSG(n == expect, "traversal met %zu of %zu slabs", n, expect);
  return n;
}

int main(void) {
  uint64_t seed = 12345;
  /* Distinct addresses in random order. */
  for (size_t i = 0; i < SLABS; i++) slabs[i].base = 0x100000 + (uintptr_t)i * 4096;
  for (size_t i = SLABS - 1; i > 0; i--) {
    size_t j = test_rand(&seed) % (i + 1);
    uintptr_t t = slabs[i].base;
    slabs[i].base = slabs[j].base;
    slabs[j].base = t;
  }
  struct slab *root = NULL;
  size_t count = 0;
  for (size_t step = 0; step < STEPS; step++) {
    size_t i = test_rand(&seed) % SLABS;
    unsigned op = (unsigned)(test_rand(&seed) % 8);
    if (op == 0 && root) {
      size_t r = (size_t)(root - slabs);
      slab_heap_remove(&root, root);
      member[r] = false;
      count--;
    } else if (member[i]) {
      slab_heap_remove(&root, &slabs[i]);
      member[i] = false;
      count--;
    } else {
      slab_heap_insert(&root, &slabs[i]);
      member[i] = true;
      count++;
    }
    /* A full check is O(n): every step while small, then every 97th. */
    if (count < 64 || step % 97 == 0) check_heap(root, count);
  }
  check_heap(root, count);
  struct slab *other = NULL, *empty = NULL;
  slab_heap_merge(&root, &empty);
  check_heap(root, count);
  for (size_t i = 0; i < SLABS; i++)
    if (!member[i]) slab_heap_insert(&other, &slabs[i]);
  for (size_t i = 0; i < SLABS; i++) member[i] = true;
  slab_heap_merge(&root, &other);
  CHECK_MSG(other == NULL, "a merged heap keeps its root");
  count = SLABS;
  check_heap(root, count);
  slab_heap_merge(&empty, &root);
  root = empty;
  check_heap(root, count);
  uintptr_t last = 0;
  size_t popped = 0;
  while (root) {
    CHECK_MSG(root->base > last, "pops out of address order");
    last = root->base;
    member[root - slabs] = false;
    slab_heap_remove(&root, root);
    popped++;
  }
  CHECK(popped == count);
  printf("slab heap: %d random steps, %zu slabs popped in address order\n", STEPS, popped);
  return 0;
}
