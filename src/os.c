/* os: kernel primitives. See os.h for each function's contract. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void os_init(void) {
  long page = sysconf(_SC_PAGESIZE);
  if (page != (long)HS_PAGE) os_fatal("unsupported page size (hugeslab needs 4 KiB pages)");
}

void *os_reserve(size_t size, size_t align) {
  if (align < HS_PAGE) align = HS_PAGE;
  size_t len = size + align;
  if (len < size) {
    errno = ENOMEM;
    return NULL;
  }
  /* No MAP_NORESERVE: PROT_NONE is not charged to the commit limit, and
   * without the flag os_commit's mprotect charges what becomes writable. */
  char *raw = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  char *start = (char *)HS_ALIGN_UP((uintptr_t)raw, align);
  int saved = errno;
  if (start > raw) munmap(raw, (size_t)(start - raw));
  char *end = start + size;
  if (raw + len > end) munmap(end, (size_t)(raw + len - end));
  errno = saved;
  return start;
}

bool os_commit(void *addr, size_t size) {
  if (mprotect(addr, size, PROT_READ | PROT_WRITE) != 0) {
    errno = ENOMEM;
    return false;
  }
  return true;
}

void *os_map(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

bool os_move(void *from, size_t size, void *to) {
  int saved = errno;
  void *r = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  errno = saved;
  return r == to;
}

/* Every purge, for the stats (relaxed: a system call dwarfs the add). */
static uint64_t returned_calls, returned_bytes;

static void count_returned(size_t size) {
  __atomic_fetch_add(&returned_calls, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&returned_bytes, size, __ATOMIC_RELAXED);
}

void os_purge(void *addr, size_t size) {
  int saved = errno;
  madvise(addr, size, MADV_DONTNEED);
  count_returned(size);
  errno = saved;
}

void os_purge_lazy(void *addr, size_t size) {
  int saved = errno;
#ifdef MADV_FREE
  if (madvise(addr, size, MADV_FREE) != 0)
#endif
    madvise(addr, size, MADV_DONTNEED);
  count_returned(size);
  errno = saved;
}

void os_returned(uint64_t *calls, uint64_t *bytes) {
  *calls = __atomic_load_n(&returned_calls, __ATOMIC_RELAXED);
  *bytes = __atomic_load_n(&returned_bytes, __ATOMIC_RELAXED);
}

uint64_t os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t os_random(void) {
  uint64_t bits;
  int saved = errno;
  long got = syscall(SYS_getrandom, &bits, sizeof bits, GRND_NONBLOCK);
  errno = saved;
  if (got == (long)sizeof bits) return bits;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  bits = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)syscall(SYS_getpid) << 16) ^
         (uint64_t)(uintptr_t)&bits;
  /* splitmix64's finaliser spreads the low-entropy bits over the word. */
  bits = (bits ^ (bits >> 30)) * 0xbf58476d1ce4e5b9ull;
  bits = (bits ^ (bits >> 27)) * 0x94d049bb133111ebull;
  return bits ^ (bits >> 31);
}

void os_sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
  int saved = errno;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  errno = saved;
}

bool os_start_thread(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_t t;
  int saved = errno;
  bool ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)64 << 10);
    ok = pthread_create(&t, &attr, fn, arg) == 0;
    pthread_attr_destroy(&attr);
  }
  errno = saved;
  return ok;
}

void os_name_thread(const char *name) {
  int saved = errno;
  prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
  errno = saved;
}

void os_block_signals(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
}

void os_release(void *addr, size_t size) {
  int saved = errno;
  munmap(addr, size);
  errno = saved;
}

bool os_guard(void *addr, size_t size) {
  int saved = errno;
  bool ok = mprotect(addr, size, PROT_NONE) == 0;
  errno = saved;
  return ok;
}

bool os_protect(void *addr, size_t size, bool read_only) {
  return mprotect(addr, size, read_only ? PROT_READ : PROT_READ | PROT_WRITE) == 0;
}

bool os_mergeable(void *addr, size_t size) { return madvise(addr, size, MADV_MERGEABLE) == 0; }

bool os_page_sharing(const void *addr, size_t size, size_t *resident, size_t *shared) {
  /* pagemap: one 64-bit entry per page; bit 63 present, bit 56 mapped by
   * this process alone (Linux 4.2+). Read in batches into the stack. */
  enum { BATCH = 512 };
  uint64_t entries[BATCH];
  *resident = *shared = 0;
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uintptr_t first = (uintptr_t)addr >> HS_PAGE_SHIFT, pages = size >> HS_PAGE_SHIFT;
  for (uintptr_t done = 0; done < pages;) {
    size_t want = pages - done < BATCH ? (size_t)(pages - done) : BATCH;
    ssize_t got = pread(fd, entries, want * sizeof entries[0], (off_t)((first + done) * sizeof entries[0]));
    if (got <= 0) {
      int err = got < 0 ? errno : EIO;
      close(fd);
      errno = err;
      return false;
    }
    size_t n = (size_t)got / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
      if (!(entries[i] >> 63)) continue;
      (*resident)++;
      if (!((entries[i] >> 56) & 1)) (*shared)++;
    }
    done += n;
  }
  close(fd);
  return true;
}

static uint64_t parse_hex(const char **p) {
  uint64_t v = 0;
  for (;; (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
    else return v;
  }
}

/* One line of smaps (NUL-terminated): a mapping's header selects whether
 * the AnonHugePages lines that follow count. */
struct smaps_walk {
  bool (*ours)(uintptr_t lo, uintptr_t hi, void *arg);
  void *arg;
  bool counting;
  size_t bytes;
};

static void smaps_line(struct smaps_walk *w, const char *line) {
  static const char field[] = "AnonHugePages:";
  if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
    const char *p = line;
    uintptr_t lo = (uintptr_t)parse_hex(&p);
    if (*p != '-') return;
    p++;
    uintptr_t hi = (uintptr_t)parse_hex(&p);
    w->counting = w->ours(lo, hi, w->arg);
  } else if (w->counting && strncmp(line, field, sizeof field - 1) == 0) {
    size_t kib = 0;
    for (const char *p = line + sizeof field - 1; *p; p++)
      if (*p >= '0' && *p <= '9') kib = kib * 10 + (size_t)(*p - '0');
      else if (kib) break;
    w->bytes += kib << 10;
  }
}

bool os_anon_hugepage_bytes(bool (*ours)(uintptr_t lo, uintptr_t hi, void *arg), void *arg, size_t *bytes) {
  char buf[4096];
  struct smaps_walk w = {ours, arg, false, 0};
  int saved = errno;
  int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t have = 0;
  for (;;) {
    ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    have += (size_t)got;
    buf[have] = 0;
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
      *nl = 0;
      smaps_line(&w, line);
      line = nl + 1;
    }
    have -= (size_t)(line - buf);
    memmove(buf, line, have);
    /* A line longer than the buffer (a long path name): drop its head. */
    if (have == sizeof buf - 1) have = 0;
  }
  close(fd);
  errno = saved;
  *bytes = w.bytes;
  return true;
}

/* The PAGEMAP_SCAN interface of <linux/fs.h> (Linux 6.7), spelled out:
 * Debian 12's kernel headers predate it. */
struct pagemap_region {
  uint64_t start, end, categories;
};
struct pagemap_scan {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct pagemap_scan)
#define PAGEMAP_PAGE_IS_HUGE (1u << 6)

static int pagemap_scan_missing; /* 1: the kernel said it has no PAGEMAP_SCAN */

bool os_hugepage_resident(const void *addr, size_t size, size_t *bytes) {
  /* Zeroed: the kernel fills it through a pointer inside the argument,
   * which Valgrind cannot know, so memcheck would see undefined bytes. */
  struct pagemap_region vec[32] = {{0, 0, 0}};
  *bytes = 0;
  if (__atomic_load_n(&pagemap_scan_missing, __ATOMIC_RELAXED)) {
    errno = ENOTSUP;
    return false;
  }
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint64_t at = (uintptr_t)addr, end = (uintptr_t)addr + size;
  while (at < end) {
    struct pagemap_scan arg = {.size = sizeof arg, .start = at, .end = end, .vec = (uintptr_t)vec,
                               .vec_len = sizeof vec / sizeof vec[0], .category_mask = PAGEMAP_PAGE_IS_HUGE,
                               .return_mask = PAGEMAP_PAGE_IS_HUGE};
    int n = ioctl(fd, PAGEMAP_SCAN_IOCTL, &arg);
    if (n < 0) {
      int err = errno;
      close(fd);
      if (err == ENOTTY || err == EINVAL || err == ENOSYS) {
        __atomic_store_n(&pagemap_scan_missing, 1, __ATOMIC_RELAXED);
        err = ENOTSUP;
      }
      errno = err;
      return false;
    }
    for (int i = 0; i < n; i++) *bytes += (size_t)(vec[i].end - vec[i].start);
    if (arg.walk_end <= at) break;
    at = arg.walk_end;
  }
  close(fd);
  return true;
}

void os_hugepage(void *addr, size_t size, bool on) {
  int saved = errno;
  madvise(addr, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  errno = saved;
}

bool os_address_space_limited(void) {
  struct rlimit rl;
  int saved = errno;
  bool limited = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
  errno = saved;
  return limited;
}

unsigned os_cpu_count(void) {
  cpu_set_t set;
  int saved = errno;
  unsigned n = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    n = (unsigned)CPU_COUNT(&set);
    if (n == 0) n = 1;
  }
  errno = saved;
  return n;
}

/* The head of a small file of /proc or /sys, NUL-terminated in buf (size
 * bytes); "" when it cannot be read. Keeps errno. */
static void read_setting(const char *path, char *buf, size_t size) {
  int saved = errno;
  ssize_t n = -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, buf, size - 1);
    close(fd);
  }
  buf[n > 0 ? n : 0] = 0;
  errno = saved;
}

unsigned long os_max_map_count(void) {
  char buf[32];
  unsigned long count = 0;
  read_setting("/proc/sys/vm/max_map_count", buf, sizeof buf);
  for (const char *p = buf; *p >= '0' && *p <= '9'; p++) count = count * 10 + (unsigned long)(*p - '0');
  return count ? count : 65530; /* the kernel's default */
}

const char *os_thp_mode(void) {
  char buf[128];
  read_setting("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf);
  if (strstr(buf, "[always]")) return "always";
  if (strstr(buf, "[madvise]")) return "madvise";
  if (strstr(buf, "[never]")) return "never";
  return "unknown";
}

int os_cancel_off(void) {
  int saved = errno, state = PTHREAD_CANCEL_ENABLE;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  errno = saved;
  return state;
}

void os_cancel_restore(int state) {
  int saved = errno;
  pthread_setcancelstate(state, NULL);
  errno = saved;
}

void os_write_stderr(const char *buf, size_t len) { os_write_fd(STDERR_FILENO, buf, len); }

int os_open_append(const char *path) {
  int cancel = os_cancel_off(); /* open is a cancellation point */
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  os_cancel_restore(cancel);
  return fd;
}

unsigned long os_pid(void) { return (unsigned long)getpid(); }

void os_close_fd(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

void os_write_fd(int fd, const char *buf, size_t len) {
  int saved = errno;
  int cancel = os_cancel_off();
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    buf += n;
    len -= (size_t)n;
  }
  os_cancel_restore(cancel);
  errno = saved;
}

size_t os_format_hex(char *out, uintptr_t v) {
  char tmp[2 * sizeof v];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  out[0] = '0';
  out[1] = 'x';
  for (size_t i = 0; i < n; i++) out[2 + i] = tmp[n - 1 - i];
  return n + 2;
}

size_t os_format_dec(char *out, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s) {
  size_t len = strlen(s);
  if (at + len > cap) len = cap - at;
  memcpy(buf + at, s, len);
  return at + len;
}

void os_report_pointer(const char *call, const char *reason, const void *ptr) {
  char line[256];
  char hex[2 + 2 * sizeof(uintptr_t)];
  size_t n = append(line, 0, sizeof line, "hugeslab: ");
  n = append(line, n, sizeof line, call);
  n = append(line, n, sizeof line, "(): ");
  n = append(line, n, sizeof line, reason);
  n = append(line, n, sizeof line, " ");
  size_t h = os_format_hex(hex, (uintptr_t)ptr);
  if (n + h + 1 <= sizeof line) {
    memcpy(line + n, hex, h);
    n += h;
  }
  line[n++] = '\n';
  os_write_stderr(line, n);
  abort();
}

void os_fatal(const char *msg) {
  char line[256];
  size_t n = append(line, 0, sizeof line - 1, "hugeslab: ");
  n = append(line, n, sizeof line - 1, msg);
  line[n++] = '\n';
  os_write_stderr(line, n);
  abort();
}
