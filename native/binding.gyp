{
  "targets": [
    {
      "target_name": "dd3d_native",
      "sources": ["dd3d_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-ldl"] }],
        ["OS=='mac'", { "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"], "MACOSX_DEPLOYMENT_TARGET": "11.0" } }]
      ]
    }
  ]
}
