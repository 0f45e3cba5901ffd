// Root-only tiers: without root a test fails, unless SNIFFER_ALLOW_SKIP=1
// says a skip is acceptable. A skipped tier is never reported as a pass.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#define SNIFFER_REQUIRE_ROOT()                                                           \
  do {                                                                                   \
    if (geteuid() != 0) {                                                                \
      const char* allow = std::getenv("SNIFFER_ALLOW_SKIP");                             \
      if (allow && std::strcmp(allow, "1") == 0) GTEST_SKIP() << "needs root";           \
      FAIL() << "this tier needs root (set SNIFFER_ALLOW_SKIP=1 to skip it knowingly)"; \
    }                                                                                    \
  } while (0)
