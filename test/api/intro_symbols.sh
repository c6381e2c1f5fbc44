#!/bin/bash
# The full symbol set is exported by the shared library, and
# nothing else leaks out of it.
#
# Proves, from `nm -D --defined-only $HUGESLAB_LIB`:
#  1. every name in REQUIRED below is defined and exported (the C, POSIX and
#     glibc entry points, glibc's __libc_* aliases, hs_version/hs_thread_flush
#     and every C++ operator new/delete form for 64-bit size_t);
#  2. no other symbol is exported (the library builds with
#     -fvisibility=hidden), except:
#       - anything named hs_* (the public extension API);
#       - the toolchain's own symbols in TOOLCHAIN below;
#       - glibc's other public malloc aliases in GLIBC_EXTRA below (glibc
#         exports them too, so defining them hides nothing internal);
#       - weak or unique symbols (nm type W, V or u) in namespace std, which
#         g++ emits with default visibility for inline library code such as
#         std::bad_alloc's constructor; they are listed as a note.
# A symbol version suffix (@VER / @@VER) is ignored.
set -eu

: "${HUGESLAB_LIB:?HUGESLAB_LIB must name libhugeslab.so}"
if [ ! -f "$HUGESLAB_LIB" ]; then
  echo "FAIL: HUGESLAB_LIB=$HUGESLAB_LIB does not exist"
  exit 1
fi
NM=${NM:-nm}
if ! command -v "$NM" >/dev/null 2>&1; then
  echo "SKIP: no nm"
  exit 77
fi

REQUIRED="
malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign
valloc pvalloc malloc_usable_size free_sized free_aligned_sized cfree
malloc_trim mallinfo mallinfo2 mallopt malloc_stats malloc_info
__libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign
hs_version hs_thread_flush hs_fork_settle hs_fork_stats hs_stats_print hs_ctl_get
hs_pool_create hs_pool_malloc hs_pool_calloc hs_pool_strdup hs_pool_seal
hs_pool_destroy hs_pool_stats
_Znwm _Znam _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm
_ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t
_ZnwmSt11align_val_t _ZnamSt11align_val_t
_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
_ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
_ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t
_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t
"

# Linker- and crt-defined names that may appear in a shared object's dynamic
# symbol table depending on the binutils version.
TOOLCHAIN="_init _fini _edata _end __bss_start _DYNAMIC _GLOBAL_OFFSET_TABLE_"

# Not required, but glibc exports these public aliases as well.
GLIBC_EXTRA="__libc_valloc __libc_pvalloc __libc_mallinfo __libc_mallopt"

table=$("$NM" -D --defined-only "$HUGESLAB_LIB")
if [ -z "$table" ]; then
  echo "FAIL: nm -D --defined-only $HUGESLAB_LIB printed nothing"
  exit 1
fi

# "ADDR TYPE NAME[@[@]VER]" -> "TYPE NAME"; version definitions (type A) dropped.
pairs=$(printf '%s\n' "$table" | awk 'NF >= 3 && $2 != "A" { n = $3; sub(/@.*/, "", n); print $2, n }' | sort -u)
names=$(printf '%s\n' "$pairs" | awk '{ print $2 }' | sort -u)

fail=0
missing=""
for s in $REQUIRED; do
  if ! printf '%s\n' "$names" | grep -qxF -- "$s"; then
    missing="$missing $s"
  fi
done
if [ -n "$missing" ]; then
  echo "FAIL: not exported by $HUGESLAB_LIB:$missing"
  fail=1
fi

extra=""
stdweak=""
while read -r type name; do
  [ -n "$name" ] || continue
  case " $(echo $REQUIRED) " in *" $name "*) continue ;; esac
  case " $TOOLCHAIN " in *" $name "*) continue ;; esac
  case " $GLIBC_EXTRA " in *" $name "*) continue ;; esac
  case "$name" in hs_*) continue ;; esac
  case "$type:$name" in
    [WVu]:_ZNSt* | [WVu]:_ZNKSt* | [WVu]:_ZTISt* | [WVu]:_ZTSSt* | [WVu]:_ZTVSt*)
      stdweak="$stdweak $name"; continue ;;
  esac
  extra="$extra $name($type)"
done <<EOF
$pairs
EOF
if [ -n "$extra" ]; then
  echo "FAIL: exported but not part of the API (should be hidden):$extra"
  fail=1
fi
if [ -n "$stdweak" ]; then
  echo "note: weak std:: symbols exported by the toolchain (allowed):$stdweak"
fi

if [ "$fail" = 0 ]; then
  echo "ok: $(printf '%s\n' "$names" | wc -l) exported names checked in $HUGESLAB_LIB"
fi
exit "$fail"
