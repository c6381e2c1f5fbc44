/* os: the only layer that talks to the kernel.
 *
 * Every mmap, munmap, madvise, mprotect, sched_getaffinity, write and /sys
 * read of the allocator is here. Functions that free paths call (os_purge,
 * os_release, os_guard, os_hugepage) preserve errno; the ones that can fail
 * for lack of memory return NULL/false with errno = ENOMEM. */
#ifndef HS_OS_H
#define HS_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

/* Check the kernel's page size is the 4 KiB we index by; abort otherwise. */
void os_init(void);

/* Reserve `size` bytes of address space aligned to `align` (a power of two
 * >= HS_PAGE), PROT_NONE, which the kernel does not charge to the commit
 * limit (it does count against RLIMIT_AS: callers reserve in step with the
 * heap). NULL + ENOMEM. */
void *os_reserve(size_t size, size_t align);

/* Make reserved pages readable and writable, charging them to the commit
 * limit: under the default overcommit heuristic a request larger than RAM +
 * swap fails here, and under strict overcommit anything over the limit does.
 * false + ENOMEM on failure. */
bool os_commit(void *addr, size_t size);

/* Map fresh zeroed read-write memory, charged like os_commit. NULL + ENOMEM. */
void *os_map(size_t size);

/* Move the pages of [from, from+size) to `to` (mremap, replacing whatever
 * is mapped there; contents move, nothing is copied or zeroed). The old
 * range is left unmapped. false on failure, errno kept. */
bool os_move(void *from, size_t size, void *to);

/* Drop the pages' contents (MADV_DONTNEED): they read back as zero. Keeps errno. */
void os_purge(void *addr, size_t size);

/* Like os_purge with MADV_FREE: the kernel takes the pages when it needs
 * them; until then they may read back as their old bytes (not as zero), and
 * RSS still counts them. Falls back to MADV_DONTNEED. Keeps errno. */
void os_purge_lazy(void *addr, size_t size);

/* A monotonic clock in milliseconds, cheap enough for slow paths (the
 * coarse clock, read through the vDSO). */
uint64_t os_now_ms(void);

/* 64 random bits from the kernel (getrandom, never blocking); where it
 * cannot give them (an old kernel, a seccomp filter), bits mixed from the
 * clocks, the pid and an address, which still differ between runs and
 * between a parent and its forked child. */
uint64_t os_random(void);

/* Sleep (nanosleep, restarted after signals). Keeps errno. */
void os_sleep_ms(unsigned ms);

/* Start a detached thread with a small stack running fn(arg); false if
 * it could not be created. Keeps errno. */
bool os_start_thread(void *(*fn)(void *), void *arg);

/* Block every signal in the calling thread (the allocator's own threads). */
void os_block_signals(void);

/* Name the calling thread (up to 15 characters), as ps -L and top -H show
 * it. Keeps errno; a failure leaves the name as it was. */
void os_name_thread(const char *name);

/* Unmap. A failure (ENOMEM near vm.max_map_count) leaks the range but never
 * crashes. Keeps errno. */
void os_release(void *addr, size_t size);

/* Make pages inaccessible (guard). false when the kernel could not (ENOMEM:
 * it could not split the mapping, near vm.max_map_count). Keeps errno. */
bool os_guard(void *addr, size_t size);

/* The most mappings the kernel gives a process (vm.max_map_count; its
 * default when it cannot be read). Keeps errno. */
unsigned long os_max_map_count(void);

/* Make committed pages read-only (`read_only`) or read-write again. false +
 * errno (ENOMEM: the kernel could not split the mapping) on failure. */
bool os_protect(void *addr, size_t size, bool read_only);

/* Offer the range to the kernel's same-page merging (MADV_MERGEABLE): KSM,
 * when it runs, shares identical pages with other processes. false + errno
 * (EINVAL: a kernel without KSM). */
bool os_mergeable(void *addr, size_t size);

/* Count the pages of [addr, addr+size) (page aligned) that are resident
 * and, of those, the ones mapped by more than this process (shared after
 * fork, or merged by KSM), from /proc/self/pagemap. false + errno when it
 * cannot be read. Allocates nothing. */
bool os_page_sharing(const void *addr, size_t size, size_t *resident, size_t *shared);

/* Bytes of AnonHugePages in the mappings for which ours(start, end, arg)
 * says true, from /proc/self/smaps; false when it cannot be read. Allocates
 * nothing. */
bool os_anon_hugepage_bytes(bool (*ours)(uintptr_t lo, uintptr_t hi, void *arg), void *arg, size_t *bytes);

/* Bytes of [addr, addr+size) (page aligned) mapped by transparent huge
 * pages, from the PAGEMAP_SCAN ioctl on /proc/self/pagemap (Linux 6.7+).
 * false + ENOTSUP on a kernel without it (the answer is cached), false +
 * errno when pagemap cannot be read. Allocates nothing. */
bool os_hugepage_resident(const void *addr, size_t size, size_t *bytes);

/* Calls of os_purge/os_purge_lazy so far and the bytes they covered. */
void os_returned(uint64_t *calls, uint64_t *bytes);

/* Ask for (on) or against (off) transparent huge pages on the range. Keeps errno. */
void os_hugepage(void *addr, size_t size, bool on);

/* Whether the process has an address-space limit (RLIMIT_AS, `ulimit -v`),
 * read now: a program may set one at any time. Keeps errno. */
bool os_address_space_limited(void);

/* CPUs this process may run on (at least 1). */
unsigned os_cpu_count(void);

/* THP mode from /sys: "always", "madvise", "never" or "unknown". */
const char *os_thp_mode(void);

/* Turn thread cancellation off around a report, so that nothing the
 * allocator prints can be cut short by a pending cancel (open, read and
 * write are cancellation points): returns the state os_cancel_restore puts
 * back. The cancel, if any, is acted on at the caller's next cancellation
 * point. Keep errno. */
int os_cancel_off(void);
void os_cancel_restore(int state);

/* write(2) all of buf to stderr, not cancellable; keeps errno. */
void os_write_stderr(const char *buf, size_t len);

/* A report file: open `path` for appending (created 0644, close-on-exec);
 * -1 + errno on failure. os_write_fd writes all of buf (retrying short
 * writes and EINTR, giving up on an error), keeping errno and cancellation
 * off; os_close_fd closes, keeping errno. */
int os_open_append(const char *path);
unsigned long os_pid(void);
void os_write_fd(int fd, const char *buf, size_t len);
void os_close_fd(int fd);

/* Report a caller's invalid use: "hugeslab: CALL(): REASON 0xPTR" on stderr,
 * then abort(). Allocates nothing, takes no lock. */
HS_NORETURN void os_report_pointer(const char *call, const char *reason, const void *ptr);

/* Report an internal failure ("hugeslab: MSG") and abort. */
HS_NORETURN void os_fatal(const char *msg);

/* Small formatting helpers for messages built without stdio; each returns
 * the number of characters written (no terminator). */
size_t os_format_hex(char *out, uintptr_t v);
size_t os_format_dec(char *out, uint64_t v);

#endif
