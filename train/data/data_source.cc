#include "train/data/data_source.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "train/data/cifar10.h"
#include "train/data/fashion_mnist.h"
#include "train/data/synthetic.h"

namespace freezing::train {
namespace {

absl::Status BadSpec(const std::string& spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad data spec '", spec, "': ", why, "; valid: ", ValidDataSpecs()));
}

absl::StatusOr<SyntheticOptions> ParseSynthetic(const std::string& spec,
                                                absl::string_view args) {
  SyntheticOptions o;
  if (args.empty()) return o;
  for (absl::string_view kv : absl::StrSplit(args, ',')) {
    std::pair<absl::string_view, absl::string_view> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    bool ok = false;
    if (p.first == "n") {
      ok = absl::SimpleAtoi(p.second, &o.n);
    } else if (p.first == "test_n") {
      ok = absl::SimpleAtoi(p.second, &o.test_n);
    } else if (p.first == "classes") {
      ok = absl::SimpleAtoi(p.second, &o.classes);
    } else if (p.first == "channels") {
      ok = absl::SimpleAtoi(p.second, &o.channels);
    } else if (p.first == "size") {
      ok = absl::SimpleAtoi(p.second, &o.size);
    } else if (p.first == "noise") {
      ok = absl::SimpleAtod(p.second, &o.noise);
    } else if (p.first == "seed") {
      ok = absl::SimpleAtoi(p.second, &o.seed);
    } else {
      return BadSpec(spec,
                     absl::StrCat("unknown synthetic option '", p.first, "'"));
    }
    if (!ok) {
      return BadSpec(spec, absl::StrCat("cannot parse '", kv, "'"));
    }
  }
  return o;
}

struct ParsedSpec {
  std::string kind;
  std::string dir;
  SyntheticOptions synthetic;
};

absl::StatusOr<ParsedSpec> Parse(const std::string& spec) {
  std::pair<std::string, std::string> p =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  ParsedSpec parsed;
  parsed.kind = p.first;
  const bool has_arg = spec.find(':') != std::string::npos;
  if (p.first == "fashion_mnist") {
    if (has_arg && p.second.empty()) return BadSpec(spec, "empty folder");
    parsed.dir = has_arg ? p.second : kFashionMnistDir;
  } else if (p.first == "cifar10") {
    if (p.second.empty()) return BadSpec(spec, "cifar10 needs a folder");
    parsed.dir = p.second;
  } else if (p.first == "synthetic") {
    ASSIGN_OR_RETURN(parsed.synthetic, ParseSynthetic(spec, p.second));
  } else {
    return BadSpec(spec, absl::StrCat("unknown data set '", p.first, "'"));
  }
  return parsed;
}

}  // namespace

const char* ValidDataSpecs() {
  return "fashion_mnist, fashion_mnist:DIR, cifar10:DIR, "
         "synthetic[:n=N,test_n=N,classes=K,channels=C,size=S,noise=X,seed=S]";
}

absl::Status ValidateDataSpec(const std::string& spec) {
  return Parse(spec).status();
}

absl::StatusOr<Dataset> LoadDataset(const DataConfig& config) {
  ASSIGN_OR_RETURN(const ParsedSpec parsed, Parse(config.spec));
  if (config.train_limit < 0 || config.test_limit < 0) {
    return absl::InvalidArgumentError(
        "train_limit and test_limit must be >= 0 (0 = all samples)");
  }
  Dataset data;
  if (parsed.kind == "fashion_mnist") {
    ASSIGN_OR_RETURN(data, LoadFashionMnist(parsed.dir));
  } else if (parsed.kind == "cifar10") {
    ASSIGN_OR_RETURN(data, LoadCifar10(parsed.dir));
  } else {
    ASSIGN_OR_RETURN(data, MakeSynthetic(parsed.synthetic));
  }
  RETURN_IF_ERROR(SelectClasses(config.classes, data));
  LimitSamples(config.train_limit, data.train);
  LimitSamples(config.test_limit, data.test);
  if (data.train.size() == 0 || data.test.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data spec '", config.spec, "' with the selected classes leaves ",
        data.train.size(), " training and ", data.test.size(),
        " test samples; both must be > 0"));
  }
  return data;
}

}  // namespace freezing::train
