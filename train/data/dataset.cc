#include "train/data/dataset.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace freezing::train {
namespace {

void Select(const std::vector<int>& new_label_of, ImageSet& set) {
  const int64_t bytes = set.image_bytes();
  int64_t out = 0;
  for (int64_t i = 0; i < set.size(); ++i) {
    const int label = new_label_of[set.labels[i]];
    if (label < 0) continue;
    if (out != i) {
      std::memmove(set.pixels.data() + out * bytes,
                   set.pixels.data() + i * bytes, bytes);
    }
    set.labels[out] = label;
    ++out;
  }
  set.labels.resize(out);
  set.pixels.resize(out * bytes);
  set.labels.shrink_to_fit();
  set.pixels.shrink_to_fit();
}

}  // namespace

absl::Status SelectClasses(const std::vector<int>& classes, Dataset& data) {
  if (classes.empty()) return absl::OkStatus();
  std::vector<int> new_label_of(data.num_classes, -1);
  for (size_t i = 0; i < classes.size(); ++i) {
    const int c = classes[i];
    if (c < 0 || c >= data.num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", c, " does not exist in ", data.name,
                       " (valid: 0..", data.num_classes - 1, ")"));
    }
    if (new_label_of[c] >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", c, " is listed twice"));
    }
    new_label_of[c] = static_cast<int>(i);
  }
  Select(new_label_of, data.train);
  Select(new_label_of, data.test);
  std::vector<std::string> names;
  std::vector<int> original;
  for (int c : classes) {
    names.push_back(c < static_cast<int>(data.class_names.size())
                        ? data.class_names[c]
                        : absl::StrCat(c));
    original.push_back(data.original_class.empty() ? c
                                                   : data.original_class[c]);
  }
  data.class_names = std::move(names);
  data.original_class = std::move(original);
  data.num_classes = static_cast<int>(classes.size());
  return absl::OkStatus();
}

void LimitSamples(int64_t limit, ImageSet& set) {
  if (limit <= 0 || limit >= set.size()) return;
  set.labels.resize(limit);
  set.pixels.resize(limit * set.image_bytes());
  set.labels.shrink_to_fit();
  set.pixels.shrink_to_fit();
}

}  // namespace freezing::train
