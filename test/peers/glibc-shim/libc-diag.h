/* hugeslab peer harness: stand-in for glibc's internal <libc-diag.h>.
   glibc's malloc tests use these macros only to silence compiler warnings
   around their deliberate misuse (malloc (-1), use after realloc, ...);
   here they map straight onto GCC's diagnostic pragmas.  The VERSION
   argument (the GCC version the comment refers to) is ignored.  */
#ifndef HS_SHIM_LIBC_DIAG_H
#define HS_SHIM_LIBC_DIAG_H
#define HS_DIAG_STR(x) #x
#define DIAG_PUSH_NEEDS_COMMENT _Pragma ("GCC diagnostic push")
#define DIAG_POP_NEEDS_COMMENT _Pragma ("GCC diagnostic pop")
#define DIAG_IGNORE_NEEDS_COMMENT(version, option) \
  _Pragma (HS_DIAG_STR (GCC diagnostic ignored option))
#define DIAG_IGNORE_Os_NEEDS_COMMENT(version, option) \
  DIAG_IGNORE_NEEDS_COMMENT (version, option)
#endif
