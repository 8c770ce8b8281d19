#include "base/status_macros.h"

#include <string>

#include "gtest/gtest.h"

namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Check(bool ok) {
  return ok ? absl::OkStatus() : absl::FailedPreconditionError("not ok");
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(auto q, Half(h));
  return q;
}

absl::Status Both(bool a, bool b) {
  RETURN_IF_ERROR(Check(a));
  RETURN_IF_ERROR(Check(b));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesValueAndError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtFirstError) {
  EXPECT_TRUE(Both(true, true).ok());
  EXPECT_EQ(Both(true, false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Both(false, true).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
