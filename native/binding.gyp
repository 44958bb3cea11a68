{
  "targets": [
    {
      "target_name": "dd3d_native",
      "sources": ["dd3d_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=off", "-fno-trapping-math"],
      "conditions": [
        ["OS=='mac'", { "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-ffp-contract=off", "-fno-trapping-math"], "MACOSX_DEPLOYMENT_TARGET": "11.0" } }]
      ]
    }
  ]
}
