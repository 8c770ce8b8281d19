// Learning-rate schedules, by global step. Specs:
//   constant                lr throughout
//   step[:every=E,gamma=G]  lr * G^floor(epoch / E)  (defaults E=30, G=0.1)
//   cosine                  lr * (1 + cos(pi * step / total_steps)) / 2
#ifndef FREEZING_TRAIN_LR_SCHEDULE_H_
#define FREEZING_TRAIN_LR_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::train {

class LrSchedule {
 public:
  // InvalidArgument for an unknown name or key, listing the valid ones.
  static absl::StatusOr<LrSchedule> Parse(absl::string_view spec,
                                          double base_lr, int64_t total_steps,
                                          int64_t steps_per_epoch);

  double At(int64_t step) const;
  std::string spec() const;  // canonical

 private:
  enum class Kind { kConstant, kStep, kCosine };
  Kind kind_ = Kind::kConstant;
  double base_ = 0.1;
  int64_t total_steps_ = 1;
  int64_t steps_per_epoch_ = 1;
  int every_epochs_ = 30;
  double gamma_ = 0.1;
};

}  // namespace freezing::train

#endif  // FREEZING_TRAIN_LR_SCHEDULE_H_
