/* launch: run one benchmark command and report its wall time and peak RSS.
 *
 *     launch [-p PRELOAD_LIB] [-e NAME=VALUE]... [-o RESULT_FILE] [-i STDIN_FILE] -- COMMAND [ARGS...]
 *
 * Forks, sets LD_PRELOAD=PRELOAD_LIB and every -e variable in the child only
 * (so the launcher itself always runs on glibc's malloc, with the runner's
 * environment), execs COMMAND, waits with wait4(),
 * and writes one line to RESULT_FILE (stdout if none):
 *
 *     WALL_NS MAXRSS_KIB STATUS
 *
 * WALL_NS is CLOCK_MONOTONIC from just before fork to just after wait4;
 * MAXRSS_KIB is the child's ru_maxrss (Linux reports KiB); STATUS is the exit
 * status, or 128+N when the child died of signal N. The child's stdout and
 * stderr are the launcher's. Exit status: the child's STATUS; 127 if the exec
 * failed; 64 on a usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static void usage(void) {
  fputs("usage: launch [-p PRELOAD_LIB] [-e NAME=VALUE]... [-o RESULT_FILE] [-i STDIN_FILE] -- COMMAND [ARGS...]\n",
        stderr);
  exit(64);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *preload = NULL, *out = NULL, *in = NULL;
  char *env[16];
  int nenv = 0, opt;
  while ((opt = getopt(argc, argv, "+p:e:o:i:h")) != -1) {
    switch (opt) {
    case 'p': preload = optarg; break;
    case 'e':
      if (nenv == (int)(sizeof env / sizeof env[0]) || !strchr(optarg, '=') || optarg[0] == '=') usage();
      env[nenv++] = optarg;
      break;
    case 'o': out = optarg; break;
    case 'i': in = optarg; break;
    default: usage();
    }
  }
  if (optind >= argc) usage();

  /* Open the result file before timing so a bad path fails early. */
  FILE *res = out ? fopen(out, "w") : stdout;
  if (!res) {
    fprintf(stderr, "launch: cannot open %s: %s\n", out, strerror(errno));
    return 64;
  }

  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "launch: fork: %s\n", strerror(errno));
    return 127;
  }
  if (pid == 0) {
    if (in) {
      int fd = open(in, O_RDONLY);
      if (fd < 0 || dup2(fd, 0) < 0) {
        fprintf(stderr, "launch: cannot open %s: %s\n", in, strerror(errno));
        _exit(127);
      }
      close(fd);
    }
    if (preload && *preload) {
      if (setenv("LD_PRELOAD", preload, 1) != 0) _exit(127);
    } else {
      unsetenv("LD_PRELOAD");
    }
    for (int i = 0; i < nenv; i++) {
      char *eq = strchr(env[i], '=');
      *eq = '\0';
      if (setenv(env[i], eq + 1, 1) != 0) _exit(127);
    }
    execvp(argv[optind], &argv[optind]);
    fprintf(stderr, "launch: cannot run %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }

  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "launch: wait4: %s\n", strerror(errno));
      return 127;
    }
  }
  long long wall = now_ns() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(res, "%lld %ld %d\n", wall, ru.ru_maxrss, code);
  if (res != stdout && fclose(res) != 0) {
    fprintf(stderr, "launch: cannot write %s\n", out);
    return 64;
  }
  return code;
}
