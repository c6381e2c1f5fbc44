/* test/fuzz/replay.c: runs the fuzz harness (harness.c) over the inputs
 * named on the command line, one after the other in one process, as
 * libFuzzer would: the kept corpus as a regression test in make check,
 * against the normal library (linked, and preloaded by corpus.sh). Exit 0
 * when every input ran; a failing input aborts in the harness, which names
 * the check, after this program has named the input on stderr. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  test_require_hugeslab();
  CHECK_MSG(argc > 1, "usage: replay INPUT...");
  static uint8_t buf[1 << 20];
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    CHECK_MSG(f != NULL, "%s: cannot open", argv[i]);
    size_t n = fread(buf, 1, sizeof buf, f);
    CHECK_MSG(!ferror(f) && feof(f), "%s: unreadable, or larger than %zu bytes", argv[i], sizeof buf);
    fclose(f);
    fprintf(stderr, "replay: %s (%zu bytes)\n", argv[i], n);
    LLVMFuzzerTestOneInput(buf, n);
  }
  printf("replay: %d inputs\n", argc - 1);
  return 0;
}
