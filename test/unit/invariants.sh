#!/bin/bash
# Structural invariants of docs/design.md that a grep or the linker
# can prove:
#  - only src/os.c talks to the kernel (no mmap/madvise/... elsewhere);
#  - each layer includes only layers below it (the order listed in 2. below);
#  - the library imports nothing that can call malloc: its undefined symbols
#    are all on an allow-list of non-allocating functions;
#  - initial-exec TLS: no __tls_get_addr import.
# (__getauxval: libgcc's constructor choosing aarch64's atomics; it does not
# allocate.)
set -eu
src="$HS_SRCDIR/src"
lib="$HUGESLAB_LIB"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# 1. kernel calls only in os.c
calls='\b(mmap|munmap|mremap|madvise|mprotect|brk|sbrk|syscall|open|openat|read|write|close|sched_getaffinity|prctl|ioctl)[[:space:]]*\('
for f in "$src"/*.c "$src"/*.h "$src"/*.cc; do
  [ "$(basename "$f")" = os.c ] && continue
  if grep -nE "$calls" "$f" | grep -v '^\s*[0-9]*:\s*/\?\*' >/dev/null; then
    grep -nE "$calls" "$f" | sed "s|^|$(basename "$f"):|"
    bad "$(basename "$f") makes a kernel call outside os.c"
  fi
done

# 2. layer order (lowest first); a file may include only its own or lower layers.
order=(prefix compiler memcheck lock os meta chunkmap sizeclass slab chunk config arena huge checked tcache purge pool fork stats init api api_new)
# The one call upward, documented in init.h: a thread's first malloc or free
# lands in tcache's boot path, which must start the allocator first.
upward_ok=" tcache:init "

rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
for f in "$src"/*.c "$src"/*.h "$src"/*.cc; do
  name=$(basename "$f"); layer=${name%.*}
  me=$(rank "$layer")
  [ "$me" -ge 0 ] || { bad "$name is not a layer listed in this script's layer order"; continue; }
  for inc in $(grep -oE '^#include "[a-z_]+\.h"' "$f" | sed -E 's/.*"([a-z_]+)\.h"/\1/'); do
    [ "$inc" = build-config ] && continue
    r=$(rank "$inc")
    [ "$r" -ge 0 ] || continue
    [ "$r" -le "$me" ] || [[ "$upward_ok" == *" $layer:$inc "* ]] || bad "$name (layer $layer) includes $inc.h, a higher layer"
  done
done

# 3. imports: nothing that allocates (no stdio but malloc_info's fwrite, no dlsym, no getenv).
allow='^(mmap|munmap|mremap|madvise|mprotect|write|read|pread|pread64|open|open64|close|ioctl|getpid|sched_getaffinity|__sched_cpucount|sysconf|syscall|prctl|getrlimit|getrlimit64|abort|memset|memcpy|memmove|memcmp|memchr|strlen|strchr|strncmp|strstr|strcmp|fputs|fwrite|environ|__environ|__errno_location|__stack_chk_fail|__cxa_finalize|__gmon_start__|_ITM_.*|_IO_list_(lock|unlock|resetlock)|pthread_(mutex_lock|mutex_unlock|mutex_trylock|mutex_init|self|equal|key_create|setspecific|atfork|setcancelstate|sigmask|attr_init|attr_destroy|attr_setdetachstate|attr_setstacksize)|clock_gettime|nanosleep|sigfillset|__libc_single_threaded|__getauxval|__register_atfork|__cxa_(begin_catch|end_catch|allocate_exception|throw|rethrow|call_unexpected)|__gxx_personality_v0|_Unwind_Resume|_ZSt15get_new_handlerv|_ZNSt9bad_allocD1Ev|_ZTISt9bad_alloc|_ZTVSt9bad_alloc|__cxa_throw_bad_array_new_length)$'
# One import may allocate: pthread_create, called only where purge.c starts
# the background thread, with no allocator lock held and every thread cache
# consistent (tcache.c's flushes), so a nested malloc is served like any other.
allow_nested='^(pthread_create)$'
while read -r sym; do
  base=${sym%%@*}
  [[ "$base" =~ $allow_nested ]] && continue
  [[ "$base" =~ $allow ]] || bad "libhugeslab imports $sym (not on the non-allocating allow-list)"
done < <(nm -D --undefined-only "$lib" | awk '{print $2}')

# 4. TLS
if nm -D --undefined-only "$lib" | grep -q __tls_get_addr; then bad "imports __tls_get_addr (TLS not initial-exec)"; fi
# Initial-exec: the dynamic section says STATIC_TLS (x86-64's linker sets it)
# or the TLS relocations are TP-relative ones (aarch64's does not set the
# flag); a TLSDESC or DTPMOD relocation would mean a dynamic TLS model.
if readelf -rW "$lib" | grep -qE 'TLSDESC|DTPMOD'; then bad "dynamic-model TLS relocation: thread-cache pointer is not initial-exec"; fi
readelf -d "$lib" | grep -q STATIC_TLS || readelf -rW "$lib" | grep -qE 'TPOFF|TPREL' ||
  bad "no STATIC_TLS flag and no TP-relative TLS relocation: thread-cache pointer is not initial-exec"

# 5. The repository stands on its own: no file cites a document outside it,
# every test docs/design.md names as a proof exists, and every file its
# Markdown links to.
top="$HS_SRCDIR"
outside='DESIGN\.md|CONFORMANCE|\.\./shared/|STYLE\.md'
for d in src include test bench docs scripts README.md LD_PRELOAD.md COMPAT.md configure.ac Makefile.am; do
  [ -e "$top/$d" ] || continue
  while IFS= read -r hit; do
    case $hit in "$top/test/unit/invariants.sh:"*) continue ;; esac
    bad "cites a document outside the repository: ${hit#"$top/"}"
  done < <(grep -rInE "$outside" "$top/$d" --include='*.[ch]' --include='*.cc' --include='*.sh' \
             --include='*.am' --include='*.md' --include='*.py' --include='*.ac' --include=run 2>/dev/null || true)
done
if [ -f "$top/docs/design.md" ]; then
  for t in $(grep -oE '`test/[a-z_]+/[A-Za-z0-9_.]+`' "$top/docs/design.md" | tr -d '`' | sort -u); do
    [ -e "$top/$t" ] || [ -e "$top/$t.c" ] || [ -e "$top/$t.cc" ] || bad "docs/design.md names $t, which does not exist"
  done
else
  bad "no docs/design.md"
fi

# Every file a Markdown document of ours links to or shows (README's chart)
# is in the repository.
for md in "$top"/README.md "$top"/LD_PRELOAD.md "$top"/COMPAT.md "$top"/docs/*.md "$top"/bench/README.md; do
  [ -f "$md" ] || continue
  for target in $(grep -oE '\]\([^)#[:space:]]+' "$md" | sed 's/^](//' | grep -vE '^[a-z]+:' | sort -u); do
    [ -e "$(dirname "$md")/$target" ] || bad "${md#"$top/"} links to $target, which does not exist"
  done
done

[ "$fail" = 0 ] && echo "invariants: all hold"
exit "$fail"
