/*
 * SRTP protection (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM) done in the same
 * call as the sendmmsg(2) that sends the result. A fan-out batch is a list of jobs, one per
 * (viewer, packet): the viewer's context (keys, SSRC, destination), the shared source payload,
 * and the fields that differ per viewer (sequence number, timestamp, marker and payload type,
 * rollover counter). For each job the RTP header is written into a buffer the caller owns, the
 * payload is encrypted from the source straight behind it, the tag is appended, and the datagram
 * is queued; then the batch goes out in one sendmmsg.
 *
 * The cryptography is OpenSSL's, the copy inside Node (whose binary exports OpenSSL's symbols to
 * addons; node-gyp gives its headers). Per context: one EVP cipher context keyed once (its IV is
 * set again per packet, the key schedule is kept), and for HMAC-SHA1 the SHA-1 states after the
 * key's inner and outer pad blocks (RFC 2104), copied per packet instead of keying an HMAC again:
 * two compressions saved per packet, and no allocation.
 *
 * srtpCreate(profile, key, salt, authKey, ssrc) -> context id
 * srtpTarget(id, host, port)                    -> the context's destination (an IP literal)
 * srtpRelease(id)                               -> the context and its keys are gone
 * srtpSend(fd, count, jobs, sources, sourceCount, csrcs, out, results) -> datagrams the kernel
 *   took, from the first, or -errno when the first one failed. jobs: Int32Array of JOB_FIELDS per
 *   job; sources: an Array whose first sourceCount entries are Buffers (payloads); csrcs:
 *   Int32Array of 16 per source (count, then the CSRCs); out: where
 *   the datagrams are written; results: Int32Array of 2 per job (offset in out and length, -1
 *   for a job whose context is gone or has no destination: it is not sent).
 */
#include "fastpath.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Job fields: context id, source index, sequence number, timestamp, marker << 7 | payload type, ROC. */
#define JOB_FIELDS 6
#define CSRC_FIELDS 16
#define PROFILE_AES_CM_128_HMAC_SHA1_80 0x0001
#define PROFILE_AEAD_AES_128_GCM 0x0007
#define CM_TAG 10
#define GCM_TAG 16

typedef struct {
  int profile;
  uint32_t ssrc;
  EVP_CIPHER_CTX *cipher;
  uint8_t salt[14];
  /* SHA-1 after (K XOR ipad) and after (K XOR opad): HMAC's keyed states (AES-CM only). */
  SHA_CTX inner;
  SHA_CTX outer;
  struct sockaddr_storage destination;
  socklen_t destination_length;
} srtp_context;

struct srtp_table {
  srtp_context **slots;
  int32_t capacity;
};

void srtp_free(srtp_table *table) {
  if (table == NULL) return;
  for (int32_t i = 0; i < table->capacity; i++) {
    srtp_context *c = table->slots[i];
    if (c == NULL) continue;
    EVP_CIPHER_CTX_free(c->cipher);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
  }
  free(table->slots);
  free(table);
}

static void put_u32(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)(value >> 24);
  at[1] = (uint8_t)(value >> 16);
  at[2] = (uint8_t)(value >> 8);
  at[3] = (uint8_t)value;
}

static int buffer_arg(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static srtp_context *context_of(srtp_table *table, int32_t id) {
  if (table == NULL || id < 0 || id >= table->capacity) return NULL;
  return table->slots[id];
}

/* A free slot of the table (grown when full), or -1. */
static int32_t free_slot(addon_state *state) {
  srtp_table *t = state->srtp;
  if (t == NULL) {
    t = calloc(1, sizeof(*t));
    if (t == NULL) return -1;
    state->srtp = t;
  }
  for (int32_t i = 0; i < t->capacity; i++)
    if (t->slots[i] == NULL) return i;
  int32_t grown = t->capacity == 0 ? 64 : t->capacity * 2;
  srtp_context **slots = realloc(t->slots, sizeof(*slots) * (size_t)grown);
  if (slots == NULL) return -1;
  memset(slots + t->capacity, 0, sizeof(*slots) * (size_t)(grown - t->capacity));
  int32_t first = t->capacity;
  t->slots = slots;
  t->capacity = grown;
  return first;
}

static napi_value srtp_create(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  addon_state *state;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&state) != napi_ok || argc < 5)
    return throw_type_error(env, "srtpCreate(profile, key, salt, authKey, ssrc)");
  int32_t profile;
  uint32_t ssrc;
  uint8_t *key, *salt, *auth = NULL;
  size_t key_length, salt_length, auth_length = 0;
  if (napi_get_value_int32(env, argv[0], &profile) != napi_ok ||
      (profile != PROFILE_AES_CM_128_HMAC_SHA1_80 && profile != PROFILE_AEAD_AES_128_GCM))
    return throw_type_error(env, "profile must be 1 (AES_CM_128_HMAC_SHA1_80) or 7 (AEAD_AES_128_GCM)");
  if (!buffer_arg(env, argv[1], &key, &key_length) || key_length != 16) return throw_type_error(env, "key must be a 16-byte Buffer");
  size_t need_salt = profile == PROFILE_AEAD_AES_128_GCM ? 12 : 14;
  if (!buffer_arg(env, argv[2], &salt, &salt_length) || salt_length < need_salt)
    return throw_type_error(env, "salt must be a Buffer of 14 bytes (AES-CM) or at least 12 (GCM)");
  if (profile == PROFILE_AES_CM_128_HMAC_SHA1_80 && (!buffer_arg(env, argv[3], &auth, &auth_length) || auth_length != 20))
    return throw_type_error(env, "authKey must be a 20-byte Buffer for AES_CM_128_HMAC_SHA1_80");
  if (napi_get_value_uint32(env, argv[4], &ssrc) != napi_ok) return throw_type_error(env, "ssrc must be a number");

  srtp_context *c = calloc(1, sizeof(*c));
  if (c == NULL) return throw_type_error(env, "out of memory");
  c->profile = profile;
  c->ssrc = ssrc;
  memcpy(c->salt, salt, need_salt);
  c->cipher = EVP_CIPHER_CTX_new();
  const EVP_CIPHER *kind = profile == PROFILE_AEAD_AES_128_GCM ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  int ok = c->cipher != NULL && EVP_EncryptInit_ex(c->cipher, kind, NULL, key, NULL) == 1;
  if (ok && profile == PROFILE_AEAD_AES_128_GCM) ok = EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1;
  if (ok && profile == PROFILE_AES_CM_128_HMAC_SHA1_80) {
    /* HMAC (RFC 2104) with a key shorter than SHA-1's 64-byte block: zero-padded, XOR ipad / opad. */
    uint8_t pad[64];
    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < auth_length; i++) pad[i] ^= auth[i];
    ok = SHA1_Init(&c->inner) && SHA1_Update(&c->inner, pad, sizeof(pad));
    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < auth_length; i++) pad[i] ^= auth[i];
    ok = ok && SHA1_Init(&c->outer) && SHA1_Update(&c->outer, pad, sizeof(pad));
    OPENSSL_cleanse(pad, sizeof(pad));
  }
  int32_t id = ok ? free_slot(state) : -1;
  if (id < 0) {
    EVP_CIPHER_CTX_free(c->cipher);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
    return throw_type_error(env, ok ? "out of memory" : "OpenSSL refused the SRTP key");
  }
  state->srtp->slots[id] = c;
  napi_value out;
  napi_create_int32(env, id, &out);
  return out;
}

static napi_value srtp_target(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  addon_state *state;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&state) != napi_ok || argc < 3)
    return throw_type_error(env, "srtpTarget(id, host, port)");
  int32_t id, port;
  char host[64];
  size_t host_length;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok) return throw_type_error(env, "id must be a context id");
  srtp_context *c = context_of(state->srtp, id);
  if (c == NULL) return throw_type_error(env, "no such SRTP context");
  if (napi_get_value_string_utf8(env, argv[1], host, sizeof(host), &host_length) != napi_ok) return throw_type_error(env, "host must be a string");
  if (napi_get_value_int32(env, argv[2], &port) != napi_ok || port <= 0 || port > 65535) return throw_type_error(env, "port must be 1-65535");
  socklen_t length = address_of(host, port, &c->destination);
  c->destination_length = length;
  if (length == 0) return throw_type_error(env, "host is not an IP address literal");
  return NULL;
}

static napi_value srtp_release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon_state *state;
  int32_t id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&state) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &id) != napi_ok)
    return throw_type_error(env, "srtpRelease(id)");
  srtp_context *c = context_of(state->srtp, id);
  if (c != NULL) {
    EVP_CIPHER_CTX_free(c->cipher);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
    state->srtp->slots[id] = NULL;
  }
  return NULL;
}

/*
 * One packet: `header` bytes of RTP header are at `at`; the payload is encrypted from `payload`
 * to behind them and the tag appended. Returns the datagram's length, or -1.
 */
static int protect(srtp_context *c, uint8_t *at, int header, const uint8_t *payload, int length, int seq, uint32_t roc) {
  uint8_t iv[16];
  int n;
  uint8_t *body = at + header;
  if (c->profile == PROFILE_AES_CM_128_HMAC_SHA1_80) {
    /* RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), index = ROC * 2^16 + SEQ. */
    memcpy(iv, c->salt, 14);
    iv[14] = iv[15] = 0;
    iv[4] ^= (uint8_t)(c->ssrc >> 24), iv[5] ^= (uint8_t)(c->ssrc >> 16), iv[6] ^= (uint8_t)(c->ssrc >> 8), iv[7] ^= (uint8_t)c->ssrc;
    iv[8] ^= (uint8_t)(roc >> 24), iv[9] ^= (uint8_t)(roc >> 16), iv[10] ^= (uint8_t)(roc >> 8), iv[11] ^= (uint8_t)roc;
    iv[12] ^= (uint8_t)(seq >> 8), iv[13] ^= (uint8_t)seq;
    if (EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) != 1) return -1;
    if (length > 0 && (EVP_EncryptUpdate(c->cipher, body, &n, payload, length) != 1 || n != length)) return -1;
    /* §4.2: the tag authenticates header, encrypted payload and ROC; the ROC is written where the tag goes. */
    uint8_t *tag = body + length;
    put_u32(tag, roc);
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA_CTX sha = c->inner;
    SHA1_Update(&sha, at, (size_t)(header + length + 4));
    SHA1_Final(digest, &sha);
    sha = c->outer;
    SHA1_Update(&sha, digest, sizeof(digest));
    SHA1_Final(digest, &sha);
    memcpy(tag, digest, CM_TAG);
    return header + length + CM_TAG;
  }
  /* RFC 7714 §8.1: IV = salt XOR (0^16 || SSRC || ROC || SEQ); the header is the AAD (§9.1). */
  memcpy(iv, c->salt, 12);
  iv[2] ^= (uint8_t)(c->ssrc >> 24), iv[3] ^= (uint8_t)(c->ssrc >> 16), iv[4] ^= (uint8_t)(c->ssrc >> 8), iv[5] ^= (uint8_t)c->ssrc;
  iv[6] ^= (uint8_t)(roc >> 24), iv[7] ^= (uint8_t)(roc >> 16), iv[8] ^= (uint8_t)(roc >> 8), iv[9] ^= (uint8_t)roc;
  iv[10] ^= (uint8_t)(seq >> 8), iv[11] ^= (uint8_t)seq;
  if (EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) != 1) return -1;
  if (EVP_EncryptUpdate(c->cipher, NULL, &n, at, header) != 1) return -1;
  if (length > 0 && (EVP_EncryptUpdate(c->cipher, body, &n, payload, length) != 1 || n != length)) return -1;
  if (EVP_EncryptFinal_ex(c->cipher, body + length, &n) != 1) return -1;
  if (EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_GET_TAG, GCM_TAG, body + length) != 1) return -1;
  return header + length + GCM_TAG;
}

static napi_value srtp_send(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  addon_state *state;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&state) != napi_ok || argc < 8)
    return throw_type_error(env, "srtpSend(fd, count, jobs, sources, sourceCount, csrcs, out, results)");
  int32_t fd, count;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type_error(env, "fd must be a file descriptor");
  if (napi_get_value_int32(env, argv[1], &count) != napi_ok || count < 0 || count > MAX_BATCH)
    return throw_type_error(env, "count must be 0 to maxBatch");
  napi_typedarray_type type;
  size_t job_words, csrc_words, result_words, out_length;
  int32_t *jobs, *csrcs, *results;
  uint8_t *out;
  if (napi_get_typedarray_info(env, argv[2], &type, &job_words, (void **)&jobs, NULL, NULL) != napi_ok || type != napi_int32_array ||
      job_words < (size_t)count * JOB_FIELDS)
    return throw_type_error(env, "jobs must be an Int32Array of count jobs");
  uint32_t source_count, array_length;
  bool is_array = false;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[3], &array_length) != napi_ok)
    return throw_type_error(env, "sources must be an Array of Buffers");
  if (napi_get_value_uint32(env, argv[4], &source_count) != napi_ok || source_count > array_length)
    return throw_type_error(env, "sourceCount must be at most the length of sources");
  if (napi_get_typedarray_info(env, argv[5], &type, &csrc_words, (void **)&csrcs, NULL, NULL) != napi_ok || type != napi_int32_array ||
      csrc_words < (size_t)source_count * CSRC_FIELDS)
    return throw_type_error(env, "csrcs must be an Int32Array of 16 entries per source");
  if (!buffer_arg(env, argv[6], &out, &out_length)) return throw_type_error(env, "out must be a Buffer");
  if (napi_get_typedarray_info(env, argv[7], &type, &result_words, (void **)&results, NULL, NULL) != napi_ok || type != napi_int32_array ||
      result_words < (size_t)count * 2)
    return throw_type_error(env, "results must be an Int32Array of 2 entries per job");

  /* The payloads, looked up once per source rather than once per job. */
  const uint8_t *payloads[MAX_BATCH];
  size_t payload_lengths[MAX_BATCH];
  if (source_count > MAX_BATCH) return throw_type_error(env, "more sources than maxBatch");
  for (uint32_t s = 0; s < source_count; s++) {
    napi_value source;
    uint8_t *data;
    if (napi_get_element(env, argv[3], s, &source) != napi_ok || !buffer_arg(env, source, &data, &payload_lengths[s]))
      return throw_type_error(env, "sources must be an Array of Buffers");
    if (csrcs[s * CSRC_FIELDS] < 0 || csrcs[s * CSRC_FIELDS] > 15) return throw_type_error(env, "a source has more than 15 CSRCs");
    payloads[s] = data;
  }

  struct mmsghdr *messages = state->messages;
  struct iovec *vectors = state->vectors;
  size_t used = 0;
  int queued = 0;
  for (int32_t i = 0; i < count; i++) {
    const int32_t *job = jobs + (size_t)i * JOB_FIELDS;
    int32_t *result = results + (size_t)i * 2;
    result[0] = result[1] = -1;
    srtp_context *c = context_of(state->srtp, job[0]);
    uint32_t source = (uint32_t)job[1];
    if (source >= source_count) return throw_type_error(env, "a job names no source");
    if (c == NULL || c->destination_length == 0) continue;
    const int32_t *csrc = csrcs + (size_t)source * CSRC_FIELDS;
    int header = 12 + 4 * csrc[0];
    size_t length = payload_lengths[source];
    /* Each datagram starts 16-byte aligned; room for the longest tag. */
    used = (used + 15) & ~(size_t)15;
    if (length > 65535 || used + (size_t)header + length + GCM_TAG > out_length) return throw_type_error(env, "out is too small for the batch");
    uint8_t *at = out + used;
    /* RTP fixed header (RFC 3550 §5.1): version 2, no padding or extension, the viewer's fields. */
    at[0] = (uint8_t)(0x80 | csrc[0]);
    at[1] = (uint8_t)job[4];
    at[2] = (uint8_t)(job[2] >> 8);
    at[3] = (uint8_t)job[2];
    put_u32(at + 4, (uint32_t)job[3]);
    put_u32(at + 8, c->ssrc);
    for (int k = 0; k < csrc[0]; k++) put_u32(at + 12 + 4 * k, (uint32_t)csrc[1 + k]);
    int size = protect(c, at, header, payloads[source], (int)length, job[2] & 0xffff, (uint32_t)job[5]);
    if (size < 0) continue;
    result[0] = (int32_t)used;
    result[1] = size;
    vectors[queued].iov_base = at;
    vectors[queued].iov_len = (size_t)size;
    memset(&messages[queued].msg_hdr, 0, sizeof(messages[queued].msg_hdr));
    messages[queued].msg_hdr.msg_name = &c->destination;
    messages[queued].msg_hdr.msg_namelen = c->destination_length;
    messages[queued].msg_hdr.msg_iov = &vectors[queued];
    messages[queued].msg_hdr.msg_iovlen = 1;
    queued++;
    used += (size_t)size;
  }
  napi_value sent;
  napi_create_int32(env, queued > 0 ? send_messages(fd, messages, queued) : 0, &sent);
  return sent;
}

int srtp_register(napi_env env, napi_value exports, addon_state *state) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"srtpCreate", srtp_create}, {"srtpTarget", srtp_target}, {"srtpRelease", srtp_release}, {"srtpSend", srtp_send}};
  for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, state, &fn) != napi_ok) return -1;
    if (napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) return -1;
  }
  napi_value fields;
  napi_create_int32(env, JOB_FIELDS, &fields);
  return napi_set_named_property(env, exports, "srtpJobFields", fields) == napi_ok ? 0 : -1;
}
