/* Interposition in a static binary: linked statically
 * with libhugeslab.a, the program's malloc family is ours even though it
 * only calls malloc/free and libc's own allocating functions: hs_version()
 * resolves (the archive member was pulled in), the brk heap glibc's malloc
 * would use never moves, and libc-internal allocations (strdup, getline,
 * fopen, open_memstream) go through us (malloc_usable_size accepts them). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hugeslab.h"
#include "testutil.h"

int main(void) {
  void *brk_start = sbrk(0);
  CHECK(strcmp(hs_version(), HUGESLAB_VERSION) == 0);
  char *s = strdup("static");
  CHECK(s && malloc_usable_size(s) >= 7);
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  CHECK(m);
  for (int i = 0; i < 1000; i++) fprintf(m, "line %d\n", i);
  fclose(m);
  CHECK(buf && malloc_usable_size(buf) >= len);
  FILE *f = fmemopen(buf, len, "r");
  CHECK(f);
  char *line = NULL;
  size_t cap = 0;
  int lines = 0;
  while (getline(&line, &cap, f) > 0) lines++;
  fclose(f);
  CHECK(lines == 1000 && malloc_usable_size(line) >= cap);
  void *blocks[1000];
  for (int i = 0; i < 1000; i++) CHECK((blocks[i] = malloc((size_t)(i * 37 % 70000) + 1)));
  for (int i = 0; i < 1000; i++) free(blocks[i]);
  free(line);
  free(buf);
  free(s);
  CHECK_MSG(sbrk(0) == brk_start, "brk moved: glibc's malloc was used");
  printf("static_link: ok\n");
  return 0;
}
