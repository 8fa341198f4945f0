// Assertions on Status and Result<T> for every layer's tests: the failure message names the
// expression, the code and the status message.
#pragma once

#include <gtest/gtest.h>

#include <utility>

#include "weightfs/core/status.h"

namespace weightfs::testing {

// Success when s has code want; otherwise a failure naming both codes and s's message.
inline ::testing::AssertionResult IsCode(const Status& s, Code want) {
  if (s.code() == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << CodeName(s.code()) << " (" << s.ToString() << "), want " << CodeName(want);
}
// The status of a call that returns Status or Result<T>.
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}
inline Status StatusOf(const Status& s) { return s; }

}  // namespace weightfs::testing

// expr (a Status or Result<T>) has the given code.
#define EXPECT_CODE(expr, code) \
  EXPECT_TRUE(::weightfs::testing::IsCode(::weightfs::testing::StatusOf(expr), code)) << #expr
#define ASSERT_CODE(expr, code) \
  ASSERT_TRUE(::weightfs::testing::IsCode(::weightfs::testing::StatusOf(expr), code)) << #expr

// expr (a Status) is OK.
#define WFS_ASSERT_OK(expr)                                         \
  do {                                                              \
    const ::weightfs::Status& wfs_s_ = (expr);                      \
    ASSERT_TRUE(wfs_s_.ok()) << #expr << ": " << wfs_s_.ToString(); \
  } while (0)

#define WFS_EXPECT_OK(expr)                                         \
  do {                                                              \
    const ::weightfs::Status& wfs_s_ = (expr);                      \
    EXPECT_TRUE(wfs_s_.ok()) << #expr << ": " << wfs_s_.ToString(); \
  } while (0)

// lhs = the value of a Result expression, or a fatal failure with its status.
// lhs may be a declaration and tmp a fresh name: neither can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define WFS_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  WFS_ASSERT_OK_AND_ASSIGN_IMPL(WFS_CONCAT(wfs_r_, __LINE__), lhs, expr)
#define WFS_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                \
  auto tmp = (expr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
