#include "comm/allreduce_settings.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace freezing::comm {
namespace {

constexpr char kBlocking[] = "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM";
constexpr char kNonBlocking[] = "MPIR_CVAR_IALLREDUCE_INTRA_ALGORITHM";

std::string Get(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : "auto";
}

absl::Status Set(const char* name, const std::string& value) {
  const std::string now = Get(name);
  if (now != "auto" && now != value) {
    return absl::InvalidArgumentError(
        absl::StrCat("--allreduce_algorithm=ring needs ", name, "=", value,
                     " but the environment sets it to ", now,
                     "; unset it or drop --allreduce_algorithm"));
  }
  setenv(name, value.c_str(), /*overwrite=*/1);
  return absl::OkStatus();
}

}  // namespace

absl::Status PinAllReduceAlgorithm(const std::string& choice,
                                   bool several_hosts) {
  if (choice == "mpich") return absl::OkStatus();
  if (choice == "auto") {
    if (!several_hosts || Get(kBlocking) != "auto" ||
        Get(kNonBlocking) != "auto") {
      return absl::OkStatus();
    }
  } else if (choice != "ring") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--allreduce_algorithm=", choice,
        ": valid: auto (ring across hosts, MPICH's own choice on one host), "
        "ring, mpich (MPICH's own choice)"));
  }
  if (absl::Status s = Set(kBlocking, "nb"); !s.ok()) return s;
  return Set(kNonBlocking, "tsp_ring");
}

std::vector<std::pair<std::string, std::string>> AllReduceSettings() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name : kAllReduceCvars) out.push_back({name, Get(name)});
  return out;
}

std::string AllReduceAlgorithmInEffect() {
  return Get(kNonBlocking) == "tsp_ring" ? "ring" : "mpich";
}

}  // namespace freezing::comm
