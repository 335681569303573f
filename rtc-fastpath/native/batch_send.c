/*
 * sendmmsg(2) for the egress's fan-out: many UDP datagrams, each to its own destination, in one
 * system call on one socket (the ICE mux's, shared by every viewer of a thread). Node's dgram
 * offers one send per call, and each goes through JavaScript argument checks, a send request
 * object and libuv's uv_udp_try_send before its own sendmsg(2).
 *
 * send(fd, buffers, hosts, ports, count) -> datagrams the kernel took, from the first; fewer than
 * `count` when the socket's buffer is full (EAGAIN) or a send failed, -errno when the first one
 * failed. The caller sends the rest through dgram, which queues them in libuv.
 *
 * trim() -> malloc_trim(0) (glibc): gives the free pages of every malloc arena back to the kernel.
 * Sessions leave native memory behind in the arenas of the threads that served them (OpenSSL's
 * ciphers and DTLS state, libuv's requests), free but resident, until something trims them.
 *
 * The same addon protects SRTP and sends it in one call (srtp_send.c). Only N-API (ABI-stable
 * across Node versions) and OpenSSL (the copy inside Node) are used; no V8 or libuv internals.
 */
#include "fastpath.h"

#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_state *state = data;
  srtp_free(state->srtp);
  free(state);
}

static napi_value number(napi_env env, int value) {
  napi_value out;
  napi_create_int32(env, value, &out);
  return out;
}

napi_value throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

#define fail throw_type_error

socklen_t address_of(const char *host, int port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof(*out));
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return sizeof(*v4);
  }
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return sizeof(*v6);
  }
  return 0;
}

static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  addon_state *b;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&b) != napi_ok || argc < 5) return fail(env, "send(fd, buffers, hosts, ports, count)");
  struct mmsghdr *messages = b->messages;
  struct iovec *vectors = b->vectors;
  struct sockaddr_storage *destinations = b->destinations;
  int32_t fd, count;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return fail(env, "fd must be a file descriptor");
  if (napi_get_value_int32(env, argv[4], &count) != napi_ok || count < 0) return fail(env, "count must be a whole number");
  if (count > MAX_BATCH) count = MAX_BATCH;
  int32_t *ports;
  size_t port_count;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, argv[3], &type, &port_count, (void **)&ports, NULL, NULL) != napi_ok || type != napi_int32_array ||
      port_count < (size_t)count)
    return fail(env, "ports must be an Int32Array of at least count entries");
  for (int32_t i = 0; i < count; i++) {
    napi_value buffer, host;
    void *data;
    size_t length;
    char text[64];
    size_t text_length;
    if (napi_get_element(env, argv[1], (uint32_t)i, &buffer) != napi_ok || napi_get_buffer_info(env, buffer, &data, &length) != napi_ok)
      return fail(env, "buffers must hold count Buffers");
    if (napi_get_element(env, argv[2], (uint32_t)i, &host) != napi_ok ||
        napi_get_value_string_utf8(env, host, text, sizeof(text), &text_length) != napi_ok)
      return fail(env, "hosts must hold count IP address strings");
    socklen_t size = address_of(text, ports[i], &destinations[i]);
    if (size == 0) return fail(env, "a host is not an IP address literal");
    vectors[i].iov_base = data;
    vectors[i].iov_len = length;
    memset(&messages[i].msg_hdr, 0, sizeof(messages[i].msg_hdr));
    messages[i].msg_hdr.msg_name = &destinations[i];
    messages[i].msg_hdr.msg_namelen = size;
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  return number(env, send_messages(fd, messages, count));
}

int send_messages(int fd, struct mmsghdr *messages, int count) {
  int sent = 0;
  while (sent < count) {
    int n = sendmmsg(fd, messages + sent, (unsigned int)(count - sent), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sent > 0 ? sent : -errno;
    }
    if (n == 0) break;
    sent += n;
  }
  return sent;
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  addon_state *b = calloc(1, sizeof(addon_state));
  if (b == NULL || napi_set_instance_data(env, b, free_state, NULL) != napi_ok) {
    free(b);
    return NULL;
  }
  napi_value fn;
  if (napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_batch, b, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "send", fn) != napi_ok) return NULL;
  napi_value trim_fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &trim_fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", trim_fn) != napi_ok) return NULL;
  napi_value max = number(env, MAX_BATCH);
  if (napi_set_named_property(env, exports, "maxBatch", max) != napi_ok) return NULL;
  if (srtp_register(env, exports, b) != 0) return NULL;
  return exports;
}
