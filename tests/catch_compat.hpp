// One include for Catch2 v2 (Debian: catch2/catch.hpp) and v3 (catch2/catch_all.hpp).
#pragma once

// Debian's LibTorch pulls in glog, whose CHECK aborts silently on success: Catch's must win.
#undef CHECK

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define COSAE_CATCH_V3 1
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif

// Skip the rest of a test case, with a message (v3 reports it as skipped; v2 as a warning).
#if defined(COSAE_CATCH_V3)
#define COSAE_SKIP(msg) SKIP(msg)
#else
#define COSAE_SKIP(msg) \
  do {                  \
    WARN(msg);          \
    return;             \
  } while (0)
#endif
