// C++ misuse the core detects: a sized
// delete with a size the block cannot have, and a double delete. Prints the
// pointer on stdout first; cxx.sh checks SIGABRT and the exact stderr line.
#include <cstdio>
#include <cstring>
#include <new>

#include "testutil.h"

int main(int argc, char **argv) {
  test_require_hugeslab();
  if (argc != 2) return 2;
  char *keep = static_cast<char *>(operator new(24));  // a live neighbour
  char *p = static_cast<char *>(operator new(24));
  printf("%p\n", test_opaque(p));
  fflush(stdout);
  if (strcmp(argv[1], "sized_delete_mismatch") == 0) {
    operator delete(test_opaque(p), 4096);
  } else if (strcmp(argv[1], "double_delete") == 0) {
    operator delete(test_opaque(p));
    operator delete(test_opaque(p));
  } else {
    return 2;
  }
  operator delete(keep);
  return 0;  // not reached on hugeslab
}
