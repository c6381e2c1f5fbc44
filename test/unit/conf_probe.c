/* Helper for conf.sh: allocates a little and exits; the configuration's
 * effects (warnings, stats at exit) are what conf.sh reads. */
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"

int main(void) {
  test_require_hugeslab();
  void *p = malloc(100);
  CHECK(p);
  free(p);
  puts("probe ok");
  return 0;
}
