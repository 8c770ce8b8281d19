// bazel run //replay:update_goldens
//
// Rewrites testdata/golden/<trace>.csv for every testdata/<trace>.pb of the
// workspace (BUILD_WORKSPACE_DIRECTORY, so freshly recorded traces count),
// after an intended change of the model or the policies. Review the diff
// before committing it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "replay/regression.h"
#include "replay/testdata_files.h"

namespace freezing::replay {
namespace {

absl::Status RealMain() {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  if (workspace == nullptr || workspace[0] == '\0') {
    return absl::FailedPreconditionError(
        "run it with bazel run //replay:update_goldens (it writes into the "
        "workspace's testdata/golden/)");
  }
  const std::string testdata = absl::StrCat(workspace, "/testdata");
  const std::string golden = absl::StrCat(testdata, "/golden");
  ASSIGN_OR_RETURN(std::vector<std::string> traces, TestdataTraces(testdata));
  if (traces.empty()) {
    return absl::NotFoundError(absl::StrCat("no *.pb traces in ", testdata));
  }
  RETURN_IF_ERROR(base::MakeDirs(golden));
  for (const std::string& name : traces) {
    ASSIGN_OR_RETURN(std::string csv,
                     GoldenCsv(absl::StrCat(testdata, "/", name, ".pb")));
    const std::string path = absl::StrCat(golden, "/", name, ".csv");
    auto old = base::ReadFile(path);
    RETURN_IF_ERROR(base::WriteFileAtomically(path, csv));
    std::printf(
        "%s %s\n",
        !old.ok() ? "new      " : (*old == csv ? "unchanged" : "updated  "),
        path.c_str());
  }
  ASSIGN_OR_RETURN(std::vector<std::string> goldens, GoldenFiles(golden));
  for (const std::string& g : goldens) {
    bool has_trace = false;
    for (const std::string& t : traces) has_trace = has_trace || t == g;
    if (!has_trace) {
      std::printf("stale     %s/%s.csv (no trace; remove it)\n", golden.c_str(),
                  g.c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace freezing::replay

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = freezing::replay::RealMain();
  if (!s.ok()) {
    std::fprintf(stderr, "update_goldens: error: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
