#include "base/json_test_util.h"

#include <string>

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace freezing::base {

google::protobuf::Value ParseJsonForTest(const std::string& json) {
  google::protobuf::Value value;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return value;
}

}  // namespace freezing::base
