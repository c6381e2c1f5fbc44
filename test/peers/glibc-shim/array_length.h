/* hugeslab peer harness: stand-in for glibc's internal <array_length.h>:
   the element count of an array object.  */
#ifndef HS_SHIM_ARRAY_LENGTH_H
#define HS_SHIM_ARRAY_LENGTH_H
#define array_length(var) (sizeof (var) / sizeof ((var)[0]))
#define array_end(var) (&(var)[array_length (var)])
#endif
