#include "train/lr_schedule.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace freezing::train {
namespace {

constexpr char kValid[] =
    "valid schedules: constant, step[:every=EPOCHS,gamma=FACTOR], cosine";

}  // namespace

absl::StatusOr<LrSchedule> LrSchedule::Parse(absl::string_view spec,
                                             double base_lr,
                                             int64_t total_steps,
                                             int64_t steps_per_epoch) {
  LrSchedule s;
  s.base_ = base_lr;
  s.total_steps_ = std::max<int64_t>(1, total_steps);
  s.steps_per_epoch_ = std::max<int64_t>(1, steps_per_epoch);
  std::vector<std::string> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  const std::string& name = parts[0];
  const std::string options = parts.size() > 1 ? parts[1] : "";
  if (name == "constant") {
    s.kind_ = Kind::kConstant;
  } else if (name == "cosine") {
    s.kind_ = Kind::kCosine;
  } else if (name == "step") {
    s.kind_ = Kind::kStep;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--lr_schedule: unknown schedule '", name, "'; ", kValid));
  }
  if (!options.empty() && s.kind_ != Kind::kStep) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lr_schedule: '", name, "' takes no options; ", kValid));
  }
  for (absl::string_view kv : absl::StrSplit(options, ',', absl::SkipEmpty())) {
    std::vector<std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    bool ok = p.size() == 2;
    if (ok && p[0] == "every") {
      ok = absl::SimpleAtoi(p[1], &s.every_epochs_) && s.every_epochs_ > 0;
    } else if (ok && p[0] == "gamma") {
      ok = absl::SimpleAtod(p[1], &s.gamma_) && s.gamma_ > 0;
    } else {
      ok = false;
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("--lr_schedule: bad option '", kv,
                       "' for step; valid options: every=EPOCHS (integer > 0), "
                       "gamma=FACTOR (> 0)"));
    }
  }
  return s;
}

double LrSchedule::At(int64_t step) const {
  switch (kind_) {
    case Kind::kConstant:
      return base_;
    case Kind::kStep: {
      const int64_t epoch = step / steps_per_epoch_;
      return base_ *
             std::pow(gamma_, static_cast<double>(epoch / every_epochs_));
    }
    case Kind::kCosine:
      return base_ * 0.5 *
             (1.0 + std::cos(M_PI * static_cast<double>(step) /
                             static_cast<double>(total_steps_)));
  }
  return base_;
}

std::string LrSchedule::spec() const {
  switch (kind_) {
    case Kind::kConstant:
      return "constant";
    case Kind::kStep:
      return absl::StrCat("step:every=", every_epochs_, ",gamma=", gamma_);
    case Kind::kCosine:
      return "cosine";
  }
  return "constant";
}

}  // namespace freezing::train
