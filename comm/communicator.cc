#include "comm/communicator.h"

namespace freezing::comm {

int DTypeBytes(DType type) {
  switch (type) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kInt64:
      return 8;
    case DType::kUInt8:
      return 1;
  }
  return 0;
}

const char* DTypeName(DType type) {
  switch (type) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
  }
  return "unknown";
}

const char* ThreadLevelName(ThreadLevel level) {
  switch (level) {
    case ThreadLevel::kSingle:
      return "single";
    case ThreadLevel::kFunneled:
      return "funneled";
    case ThreadLevel::kSerialized:
      return "serialized";
    case ThreadLevel::kMultiple:
      return "multiple";
  }
  return "unknown";
}

}  // namespace freezing::comm
