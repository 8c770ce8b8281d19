#include "base/cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace freezing::base {
namespace {

// Abseil defines flags of its own (--flagfile, --help, ...) in its sources.
bool IsAbseilFlag(const absl::CommandLineFlag& flag) {
  return absl::StrContains(flag.Filename(), "absl/");
}

absl::CommandLineFlag* FindBinaryFlag(const std::string& name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || flag->IsRetired() || IsAbseilFlag(*flag)) {
    return nullptr;
  }
  return flag;
}

std::string Normalized(absl::string_view name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"-", "_"}});
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// torchrun's (and torch.distributed.launch's) flags, normalized.
const std::set<std::string>& TorchrunFlags() {
  static const auto* flags = new std::set<std::string>{
      "nproc_per_node", "nnodes",           "node_rank",     "master_addr",
      "master_port",    "rdzv_backend",     "rdzv_endpoint", "rdzv_id",
      "rdzv_conf",      "standalone",       "local_rank",    "max_restarts",
      "world_size",     "monitor_interval", "use_env",       "nproc"};
  return *flags;
}

std::string TorchrunAdvice(const std::string& flag) {
  if (FindBinaryFlag("ranks") == nullptr) {
    return absl::StrCat("--", flag,
                        " is torchrun's; this tool starts no ranks (see "
                        "--help)");
  }
  return absl::StrCat(
      "--", flag,
      " is torchrun's; here --ranks=N starts N ranks (the binary "
      "relaunches itself under mpiexec), and --cluster puts them on the "
      "hosts of an emulated cluster (several real hosts: a host file, see "
      "comm/README.md)");
}

absl::Status UnknownFlag(const std::string& arg, const std::string& name) {
  const std::string normalized = Normalized(name);
  if (TorchrunFlags().count(normalized) > 0) {
    return absl::InvalidArgumentError(TorchrunAdvice(name));
  }
  const std::string closest = ClosestName(name, BinaryFlagNames());
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown flag ", arg,
      closest.empty() ? "; see --help for the flags"
                      : absl::StrCat("; did you mean --", closest, "?")));
}

bool IsBoolLiteral(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  return t == "true" || t == "false" || t == "yes" || t == "no" || t == "t" ||
         t == "f" || t == "y" || t == "n" || t == "1" || t == "0";
}

// A stray argument, with the flag it most likely was meant for.
absl::Status StrayArgument(const CliSpec& spec, const std::string& arg,
                           const std::string& bool_flag_before) {
  std::string hint;
  if (!bool_flag_before.empty() && IsBoolLiteral(arg)) {
    hint = absl::StrCat("--", bool_flag_before, "=", arg);
  } else if (const size_t eq = arg.find('='); eq != std::string::npos) {
    const std::string name = ClosestName(arg.substr(0, eq), BinaryFlagNames());
    if (!name.empty()) hint = absl::StrCat("--", name, arg.substr(eq));
  } else if (const std::string name = ClosestName(arg, BinaryFlagNames());
             !name.empty()) {
    hint = absl::StrCat("--", name, "=...");
  }
  const std::string takes =
      spec.max_positional == 0
          ? "takes flags only (--name=value)"
          : absl::StrCat("takes at most ", spec.max_positional,
                         " argument(s) besides its flags");
  return absl::InvalidArgumentError(absl::StrCat(
      "unexpected argument '", arg, "': ", spec.tool, " ", takes,
      hint.empty() ? "" : absl::StrCat("; did you mean ", hint, "?")));
}

// Wraps `text` to lines of at most `width` characters after `indent`.
std::string Wrap(const std::string& text, size_t indent, size_t width) {
  std::string out;
  size_t column = indent;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column > indent && column + 1 + word.size() > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      column = indent;
    } else if (column > indent) {
      out += ' ';
      ++column;
    }
    absl::StrAppend(&out, word);
    column += word.size();
  }
  return out;
}

std::string FlagHelp(const absl::CommandLineFlag& flag) {
  const std::string value = flag.DefaultValue();
  const std::string help = flag.Help();
  // An empty default is explained by the help text when it says "default".
  const std::string shown =
      !value.empty() ? absl::StrCat(" (default: ", value, ")")
      : absl::StrContains(help, "default") ? ""
                                           : " (default: empty)";
  return absl::StrCat("  --", flag.Name(), "\n      ",
                      Wrap(absl::StrCat(help, shown), 6, 79), "\n");
}

}  // namespace

std::vector<std::string> BinaryFlagNames() {
  std::vector<std::string> names;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && !IsAbseilFlag(*flag)) {
      names.push_back(std::string(name));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ClosestName(absl::string_view name,
                        const std::vector<std::string>& candidates) {
  const std::string wanted = Normalized(name);
  std::string best;
  size_t best_distance = std::string::npos;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(wanted, Normalized(c));
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // A typo: a third of the name at most (two edits for short names).
  const size_t allowed = std::max<size_t>(2, wanted.size() / 3);
  return best_distance <= allowed ? best : "";
}

absl::StatusOr<ParsedCommandLine> ParseCommandLine(
    const CliSpec& spec, const std::vector<std::string>& args) {
  ParsedCommandLine parsed;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpfull") {
      parsed.help = true;
      return parsed;
    }
  }
  std::string bool_flag_before;  // a boolean flag given without a value
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1,
                               args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (static_cast<int>(parsed.positional.size()) >= spec.max_positional) {
        return StrayArgument(spec, arg, bool_flag_before);
      }
      parsed.positional.push_back(arg);
      bool_flag_before.clear();
      continue;
    }
    bool_flag_before.clear();
    const std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    const size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    absl::CommandLineFlag* flag = FindBinaryFlag(name);
    if (flag == nullptr) flag = FindBinaryFlag(Normalized(name));
    std::string value;
    if (flag == nullptr && eq == std::string::npos &&
        absl::StartsWith(name, "no")) {
      flag = FindBinaryFlag(Normalized(name.substr(2)));
      if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
      value = "false";
    }
    if (flag == nullptr) return UnknownFlag(arg, name);
    name = std::string(flag->Name());
    if (eq != std::string::npos) {
      value = body.substr(eq + 1);
    } else if (value.empty() && flag->IsOfType<bool>()) {
      value = "true";
      bool_flag_before = name;
    } else if (value.empty()) {
      const bool next_is_flag = i + 1 < args.size() && args[i + 1].size() > 1 &&
                                args[i + 1][0] == '-' &&
                                !absl::ascii_isdigit(args[i + 1][1]);
      if (i + 1 >= args.size() || next_is_flag) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value: --", name, "=VALUE"));
      }
      value = args[++i];
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, "=", value, ": ", error));
    }
  }
  return parsed;
}

std::vector<std::string> ParseCommandLineOrExit(const CliSpec& spec, int argc,
                                                char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  absl::StatusOr<ParsedCommandLine> parsed = ParseCommandLine(spec, args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", spec.tool.c_str(),
                 std::string(parsed.status().message()).c_str());
    std::exit(kUsageExit);
  }
  if (parsed->help) {
    std::fputs(HelpText(spec).c_str(), stdout);
    std::fflush(stdout);
    std::exit(0);
  }
  return parsed->positional;
}

std::string HelpText(const CliSpec& spec) {
  std::string out = absl::StrCat(spec.tool, ": ", spec.summary, "\n\nusage:\n");
  for (const std::string& u : spec.usage) absl::StrAppend(&out, "  ", u, "\n");
  std::set<std::string> shown;
  std::vector<CliFlagGroup> groups = spec.groups;
  CliFlagGroup other{"other", {}};
  for (const CliFlagGroup& g : groups)
    shown.insert(g.flags.begin(), g.flags.end());
  for (const std::string& name : BinaryFlagNames()) {
    if (shown.count(name) == 0) other.flags.push_back(name);
  }
  if (!other.flags.empty()) groups.push_back(other);
  for (const CliFlagGroup& g : groups) {
    absl::StrAppend(&out, "\n", g.title, ":\n");
    for (const std::string& name : g.flags) {
      const absl::CommandLineFlag* flag = FindBinaryFlag(name);
      if (flag != nullptr) absl::StrAppend(&out, FlagHelp(*flag));
    }
  }
  if (!spec.examples.empty()) {
    absl::StrAppend(&out, "\nexamples:\n");
    for (const std::string& e : spec.examples) {
      absl::StrAppend(&out, "  ", e, "\n");
    }
  }
  if (!spec.notes.empty()) {
    absl::StrAppend(&out, "\n", Wrap(spec.notes, 0, 79), "\n");
  }
  return out;
}

int ReportError(absl::string_view tool, const absl::Status& status,
                int exit_status) {
  std::fprintf(stderr, "%s: error: %s\n", std::string(tool).c_str(),
               std::string(status.message()).c_str());
  std::fflush(stderr);
  return exit_status;
}

void ReportWarning(absl::string_view tool, absl::string_view message) {
  std::fprintf(stderr, "%s: warning: %s\n", std::string(tool).c_str(),
               std::string(message).c_str());
  std::fflush(stderr);
}

}  // namespace freezing::base
