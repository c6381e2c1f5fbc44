/* Helper DSO for intro_early: its constructor calls the allocator
 * while shared libraries are still being initialised, before main and, as
 * the test links it (after libhugeslab on the link line) or preloads the
 * library, before libhugeslab's own constructor.
 *
 * HS_EARLY_FIRST picks the entry point called first (getenv does not
 * allocate): malloc, calloc, realloc, memalign, posix_memalign,
 * aligned_alloc, valloc, usable (malloc_usable_size(NULL)), free (free(NULL)).
 * Then every entry point is exercised: malloc, free(non-NULL), realloc grow
 * and shrink, calloc, memalign, malloc_usable_size.  What was checked is
 * left in intro_early_dso_result for main to read: 0 = all fine, otherwise
 * the number of the first failing step. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int intro_early_dso_result = -1;    /* -1: the constructor never ran */
void *intro_early_dso_block;        /* a block main must be able to free */

static int first_call(const char *mode) {
  void *p = NULL;
  if (!mode || strcmp(mode, "malloc") == 0) p = malloc(24);
  else if (strcmp(mode, "calloc") == 0) p = calloc(3, 8);
  else if (strcmp(mode, "realloc") == 0) p = realloc(NULL, 24);
  else if (strcmp(mode, "memalign") == 0) p = memalign(64, 24);
  else if (strcmp(mode, "posix_memalign") == 0) { if (posix_memalign(&p, 64, 24)) return 0; }
  else if (strcmp(mode, "aligned_alloc") == 0) p = aligned_alloc(64, 64);
  else if (strcmp(mode, "valloc") == 0) p = valloc(24);
  else if (strcmp(mode, "usable") == 0) return malloc_usable_size(NULL) == 0;
  else if (strcmp(mode, "free") == 0) { free(NULL); return 1; }
  else return 0;
  if (!p || malloc_usable_size(p) < 24) return 0;
  memset(p, 0x11, 24);
  free(p);
  return 1;
}

static int exercise(void) {
  unsigned char *p = malloc(40);
  if (!p) return 10;
  memset(p, 0xab, 40);
  if (malloc_usable_size(p) < 40) return 11;
  p = realloc(p, 100000);             /* grow: moves to a large block */
  if (!p || p[39] != 0xab || malloc_usable_size(p) < 100000) return 12;
  p = realloc(p, 20);                 /* shrink */
  if (!p || p[19] != 0xab) return 13;
  free(p);                            /* free(non-NULL) */
  unsigned *c = calloc(1000, sizeof *c);
  if (!c) return 14;
  for (int i = 0; i < 1000; i++)
    if (c[i]) return 15;
  free(c);
  void *m = memalign(4096, 5000);
  if (!m || ((uintptr_t)m & 4095) || malloc_usable_size(m) < 5000) return 16;
  free(m);
  void *h = malloc((size_t)3 << 20);  /* huge */
  if (!h) return 17;
  memset(h, 1, (size_t)3 << 20);
  free(h);
  intro_early_dso_block = malloc(333);
  if (!intro_early_dso_block) return 18;
  memset(intro_early_dso_block, 0x5e, 333);
  return 0;
}

__attribute__((constructor)) static void early_ctor(void) {
  if (!first_call(getenv("HS_EARLY_FIRST"))) {
    intro_early_dso_result = 1;
    return;
  }
  intro_early_dso_result = exercise();
}
