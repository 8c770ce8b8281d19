// policy_error SPEC RULE T: prints what freeze::Freezer::Create says about a
// spec and vote rule for ResNet-18's 7 child units (total 100 steps, 10 per
// epoch, base interval T, window 16, 2 ranks): "OK <canonical spec>" or the
// error message. A plain C++ caller, for ext_test's "the same message from
// Python" check.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "freeze/freezer.h"
#include "freeze/policy.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: policy_error SPEC RULE T\n");
    return 2;
  }
  namespace fz = freezing::freeze;
  fz::PolicyContext c;
  const char* names[] = {"conv1",  "bn1",    "layer1", "layer2",
                         "layer3", "layer4", "fc"};
  const long params[] = {9408, 128, 147968, 525568, 2099712, 8393728, 2565};
  for (int u = 0; u < 7; ++u) c.units.push_back({names[u], params[u], u == 6});
  c.total_steps = 100;
  c.steps_per_epoch = 10;
  c.base_interval_steps = std::atoi(argv[3]);
  c.max_window = 16;
  c.ranks = 2;
  auto rule = fz::ParseVoteRule(argv[2]);
  if (!rule.ok()) {
    std::printf("%s\n", std::string(rule.status().message()).c_str());
    return 0;
  }
  auto f = fz::Freezer::Create(argv[1], *rule, c, {0});
  if (!f.ok()) {
    std::printf("%s\n", std::string(f.status().message()).c_str());
    return 0;
  }
  std::printf("OK %s\n", (*f)->policy().spec().c_str());
  return 0;
}
