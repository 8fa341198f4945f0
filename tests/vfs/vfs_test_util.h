// Helpers shared by the VFS tests: expecting a Status code of a call that returns Status or
// Result<T>, with the code's name and the message in the failure.
#pragma once

#include <gtest/gtest.h>

#include "weightfs/core/status.h"

namespace weightfs::vfs::testing {

inline ::testing::AssertionResult IsCode(const Status& s, Code want) {
  if (s.code() == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << CodeName(s.code()) << " (" << s.ToString() << "), want " << CodeName(want);
}
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}
inline Status StatusOf(const Status& s) { return s; }

}  // namespace weightfs::vfs::testing

#define EXPECT_CODE(expr, code)                                                                 \
  EXPECT_TRUE(::weightfs::vfs::testing::IsCode(::weightfs::vfs::testing::StatusOf(expr), code)) \
      << #expr
#define ASSERT_CODE(expr, code)                                                                 \
  ASSERT_TRUE(::weightfs::vfs::testing::IsCode(::weightfs::vfs::testing::StatusOf(expr), code)) \
      << #expr
