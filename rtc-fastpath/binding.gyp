{
  # The fast path's addon, built by node-gyp at install (native/build.mjs): build/Release/batch_send.node.
  # native/batch_send.c: batched UDP sends (sendmmsg); native/srtp_send.c: SRTP protection with
  # Node's own OpenSSL (its binary exports the symbols, node-gyp gives the headers) in the same call.
  # N-API only, Linux only (sendmmsg).
  "targets": [
    {
      "target_name": "batch_send",
      "sources": ["native/batch_send.c", "native/srtp_send.c"],
      # SHA1_Init/Update/Final are deprecated in OpenSSL 3 but exported: the keyed HMAC states are
      # plain SHA_CTX copies with them, where EVP_MAC would allocate per packet.
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations"],
      "conditions": [["OS!='linux'", { "type": "none", "sources": [] }]]
    }
  ]
}
