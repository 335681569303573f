/*
 * What the addon's two files share: the per-thread state (each worker thread that loads the
 * addon is an N-API environment of its own, with its own state) and the sendmmsg loop.
 */
#ifndef CORECAST_FASTPATH_H
#define CORECAST_FASTPATH_H

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <netinet/in.h>
#include <node_api.h>
#include <sys/socket.h>

/* The kernel takes at most UIO_MAXIOV (1024) messages per call. */
#define MAX_BATCH 1024

typedef struct srtp_table srtp_table;

typedef struct {
  struct mmsghdr messages[MAX_BATCH];
  struct iovec vectors[MAX_BATCH];
  struct sockaddr_storage destinations[MAX_BATCH];
  /* The SRTP contexts of this thread's viewers (srtp_send.c). */
  srtp_table *srtp;
} addon_state;

/* An IPv4 or IPv6 literal and a port into `out`; its length, or 0 when `host` is no literal. */
socklen_t address_of(const char *host, int port, struct sockaddr_storage *out);

/* sendmmsg(2) of `count` messages with MSG_DONTWAIT: how many the kernel took, from the first,
 * or -errno when the first one failed. */
int send_messages(int fd, struct mmsghdr *messages, int count);

/* Adds srtpCreate, srtpTarget, srtpRelease and srtpSend to `exports`; 0 on success. */
int srtp_register(napi_env env, napi_value exports, addon_state *state);

/* Frees every context of the table (the environment is going away). */
void srtp_free(srtp_table *table);

napi_value throw_type_error(napi_env env, const char *message);

#endif
