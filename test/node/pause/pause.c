/*
 * The pod sandbox's first process (PID 1 of every pod the test node runs): it holds the pod's
 * namespaces open, reaps any zombie that is re-parented to it, and exits 0 on SIGINT or SIGTERM.
 *
 *   pause            wait for a signal
 *   pause -v         print the version and exit
 *
 * Built static (gcc -static) so the image holds this one file and nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "corecast-pause 1"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Collects every exited child without blocking; keeps errno as it was (signal-safe). */
static void reap(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int handle(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  /* SA_NOCLDSTOP: a stopped child is no reason to wake up. SA_RESTART keeps other calls going. */
  sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts(VERSION);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "usage: pause [-v]\n");
    return 2;
  }
  if (getpid() != 1) fprintf(stderr, "pause: not PID 1 (pid %d); zombies of other processes are not reaped\n", (int)getpid());
  if (handle(SIGINT, on_stop) != 0 || handle(SIGTERM, on_stop) != 0 || handle(SIGCHLD, reap) != 0) {
    perror("pause: sigaction");
    return 1;
  }
  /* Block the stop signals between the check and the wait, so one arriving in between is not
   * lost: sigsuspend unblocks them and sleeps atomically. */
  sigset_t block, wait_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &block, &wait_mask) != 0) {
    perror("pause: sigprocmask");
    return 1;
  }
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGCHLD);
  reap(0); /* children that exited before the handler was in place */
  while (!stop_requested) sigsuspend(&wait_mask);
  reap(0);
  return 0;
}
