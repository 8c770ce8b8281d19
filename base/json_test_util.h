// ParseJsonForTest: tests read back the JSON the project writes with an
// independent parser (protobuf's, into google.protobuf.Value), so that
// escaping and numbers are checked by what a reader sees, not by substrings.
#ifndef FREEZING_BASE_JSON_TEST_UTIL_H_
#define FREEZING_BASE_JSON_TEST_UTIL_H_

#include <string>

#include "google/protobuf/struct.pb.h"

namespace freezing::base {

// ParseJsonForTest: `json` as any JSON value; a parse error fails the
// current test (with the error and the text) and returns an empty Value.
google::protobuf::Value ParseJsonForTest(const std::string& json);

}  // namespace freezing::base

#endif  // FREEZING_BASE_JSON_TEST_UTIL_H_
