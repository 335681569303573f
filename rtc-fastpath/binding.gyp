{
  # The batched UDP send (native/batch_send.c), built by node-gyp at install (native/build.ts):
  # build/Release/batch_send.node. N-API only, Linux only (sendmmsg).
  "targets": [
    {
      "target_name": "batch_send",
      "sources": ["native/batch_send.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", { "type": "none", "sources": [] }]]
    }
  ]
}
