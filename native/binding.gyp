{
  "targets": [
    {
      "target_name": "synthpair_onednn",
      "sources": [
        "src/addon.cc",
        "src/convolution.cc",
        "src/matmul.cc",
        "src/normalization.cc",
        "src/pooling.cc",
        "src/elementwise.cc",
        "src/optimizer.cc",
        "src/dataMovement.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions"],
      "libraries": ["-ldnnl", "-fopenmp"],
      # A packaged extension carries libdnnl and the OpenMP runtime beside the addon (scripts/build.mjs), so
      # the loader looks there before the system's libraries.
      "ldflags": ["-Wl,-rpath,'$$ORIGIN'"]
    }
  ]
}
