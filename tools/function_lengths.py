#!/usr/bin/python3
"""Lists the longest C++ functions of the repository, or checks the house rule.

  tools/function_lengths.py [--min=80] [--all] [FILES...]
  tools/function_lengths.py --check [--max=80] [--allowlist=FILE]

The house rule (docs/DESIGN.md, /work/shared/STYLE.md): no function outside
tests longer than a screen, ~80 lines. A function is counted from the first
line of its signature (its template<> line included) to its closing brace.
Functions are the brace blocks at namespace or class level whose head has a
parameter list: free functions, member functions (in or out of their class),
constructors with their initializer lists, operators, and lambdas assigned
at namespace level. Everything inside a function (lambdas, local classes)
counts towards it. A heuristic, not a parser: comments, string, character
and raw string literals and preprocessor lines are blanked first, so a brace
in any of them is not code.

The files are the C++ files git tracks beside this script's folder (every
file below it when there is no git), third_party/ aside. Tests are left out
unless --all: *_test.cc, *_test_main.*, *test_util.*, *_fuzzer.cc.
Benchmarks count: they are not tests.

--check (run by //:function_lengths_test) fails when a function outside tests
is longer than --max lines and is not on the allowlist, or when an allowlist
entry names no such function any more (remove it). The allowlist has one
entry a line, "FILE FUNCTION REASON...", FUNCTION as listed here; # starts a
comment.
"""
import argparse
import os
import re
import subprocess
import sys

SKIP_DIRS = ("third_party/",)
EXTENSIONS = (".cc", ".h", ".cpp", ".hpp")
TEST_FILE = re.compile(
    r"(_test\.(cc|h)|_test_main\.(cc|h)|test_util\.(cc|h)|_fuzzer\.cc)$")
DEFAULT_ALLOWLIST = "tools/function_lengths_allowlist.txt"

IDENT = re.compile(r"[A-Za-z0-9_]")
RAW_STRING = re.compile(r'(?:u8|u|U|L)?R"([^()\\\s]{0,16})\(')
CHAR_PREFIXES = ("L", "u", "U", "u8")
ACCESS_LABEL = re.compile(r"^\s*(public|private|protected)\s*:$")
CLASS_HEAD = re.compile(r"\b(class|struct|union|enum)\b[^()]*$")
NOT_A_NAME = ("decltype", "alignas", "__attribute__", "__declspec", "noexcept",
              "sizeof", "alignof")


def top_of_repo():
    # The script's own folder's parent, also when Bazel runs it from a
    # runfiles symlink.
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def is_test(path):
    return bool(TEST_FILE.search(path))


def files_of_repo(top, everything):
    try:
        names = subprocess.run(
            ["git", "ls-files", "--"] + ["*" + e for e in EXTENSIONS],
            cwd=top, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        names = []
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs
                             if not d.startswith((".", "bazel-")))
            rel = os.path.relpath(folder, top)
            names += [os.path.normpath(os.path.join(rel, f))
                      for f in sorted(files) if f.endswith(EXTENSIONS)]
    return [n for n in names
            if not n.startswith(SKIP_DIRS) and (everything or not is_test(n))]


def blank_non_code(text):
    """`text` with comments, literals and preprocessor lines blanked.

    Newlines are kept (line numbers stay), a string literal becomes "" and a
    character literal '', so every brace and parenthesis left is code.
    """
    out = []
    i, n = 0, len(text)
    line_start = True  # nothing but blanks since the last newline

    def blank(s):
        return re.sub(r"[^\n]", " ", s)

    while i < n:
        c = text[i]
        if c == "\n":
            out.append(c)
            line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#":  # a directive and its continuations
            j = i
            while j < n and not (text[j] == "\n" and text[j - 1] != "\\"):
                j += 1
            out.append(blank(text[i:j]))
            i = j
            continue
        line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(text[i:j]))
            i = j
            continue
        after_ident = i > 0 and IDENT.match(text[i - 1])
        raw = None if after_ident else RAW_STRING.match(text, i)
        if raw:
            end = text.find(")" + raw.group(1) + '"', raw.end())
            end = n if end < 0 else end + len(raw.group(1)) + 2
            out.append('""' + blank(text[i:end])[2:])
            i = end
            continue
        if c == '"' or (c == "'" and not digit_separator(text, i)):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n) if j < n and text[j] == c else min(j, n)
            out.append(c + c + blank(text[i:j])[2:])
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def digit_separator(text, i):
    """Whether the quote at text[i] separates digits (1'000) or not."""
    j = i
    while j > 0 and IDENT.match(text[j - 1]):
        j -= 1
    word = text[j:i]
    return bool(word) and word not in CHAR_PREFIXES


def paren_groups(sig):
    """(start, end) of each top-level (...) in `sig`."""
    groups, depth, start = [], 0, 0
    for k, c in enumerate(sig):
        if c == "(":
            if depth == 0:
                start = k
            depth += 1
        elif c == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                groups.append((start, k + 1))
    return groups


def parameter_list(sig):
    """The top-level (...) that holds the parameters, or None."""
    for start, end in paren_groups(sig):
        head = sig[:start].rstrip()
        if re.search(r"\boperator\s*$", head):  # operator()(...)
            continue
        word = re.search(r"(\w+)\s*$", head)
        if word and word.group(1) in NOT_A_NAME:
            continue
        return start, end
    return None


def in_constructor_initializers(sig):
    """Whether `sig` ends inside a constructor's member initializer list."""
    params = parameter_list(sig)
    return bool(params) and bool(
        re.match(r"\s*(noexcept\s*)?:(?!:)", sig[params[1]:]))


def function_name(sig):
    lam = re.search(r"(\w+)\s*=\s*\[[^\]]*\]\s*(\(.*\))?[^()]*$", sig)
    if lam:
        return lam.group(1) + " (lambda)"
    params = parameter_list(sig)
    if params is None:
        return ""
    head = sig[:params[0]].rstrip()
    m = re.search(r"((?:[~\w]+\s*::\s*)*operator\s*(?:\(\s*\)|[^\s\w(]+))$",
                  head)
    if m:
        return re.sub(r"\s+", "", m.group(1))
    m = re.search(r"((?:[~\w]+(?:<[^<>()]*>)?\s*::\s*)*~?\w+)$", head)
    return re.sub(r"\s+", "", m.group(1)) if m else ""


def brace_kind(sig, paren_depth):
    """What a "{" at namespace or class level opens: func, block or expr."""
    if paren_depth > 0 or re.search(r"(=|\breturn|,|\(|\[|\?)$", sig):
        return "expr"  # a braced initializer or a lambda in an expression
    if in_constructor_initializers(sig) and re.search(r"[\w>]$", sig):
        return "expr"  # a member's braced initializer: x_{...}
    if (not sig or re.match(r"(inline\s+)?namespace\b", sig)
            or re.fullmatch(r'extern\s*""', sig) or CLASS_HEAD.search(sig)):
        return "block"
    if parameter_list(sig) is not None or re.search(r"\]$", sig):
        return "func" if function_name(sig) else "block"
    return "block"


def functions(path):
    """Yields (name, first line, last line, lines) of each function."""
    with open(path, encoding="utf-8", errors="replace") as f:
        code = blank_non_code(f.read())
    line = 1
    stack = []  # the open blocks and braced expressions, with what they saved
    stmt, stmt_line, paren = [], 0, 0  # the statement so far, at this level
    func, depth = None, 0  # the open function: (name, first line), its depth
    for c in code:
        if c == "\n":
            line += 1
        if func is not None:
            depth += (c == "{") - (c == "}")
            if depth == 0:
                yield func[0], func[1], line, line - func[1] + 1
                func, stmt, stmt_line, paren = None, [], 0, 0
            continue
        if c == "{":
            sig = " ".join("".join(stmt).split())
            kind = brace_kind(sig, paren)
            if kind == "func":
                func, depth = (function_name(sig), stmt_line or line), 1
                continue
            stack.append((kind, (stmt, stmt_line, paren)))
            stmt, stmt_line, paren = [], 0, 0
        elif c == "}":
            if stack and stack[-1][0] == "expr":
                stmt, stmt_line, paren = stack.pop()[1]
                stmt.append("{}")
            else:
                if stack:
                    stack.pop()
                stmt, stmt_line, paren = [], 0, 0
        elif c == ";" and paren == 0:
            stmt, stmt_line, paren = [], 0, 0
        else:
            if c == "(":
                paren += 1
            elif c == ")":
                paren = max(0, paren - 1)
            if not stmt_line and not c.isspace():
                stmt_line = line
            stmt.append(c)
            if c == ":" and ACCESS_LABEL.match("".join(stmt)):
                stmt, stmt_line = [], 0


def read_allowlist(path):
    """{(file, function): reason}; raises ValueError on a bad line."""
    entries = {}
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            text = text.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split(None, 2)
            if len(parts) < 3:
                raise ValueError(f"{path}:{number}: want FILE FUNCTION REASON, "
                                 f"got {text!r}")
            entries[(parts[0], parts[1])] = parts[2]
    return entries


def check(rows, allowlist_path, allowlist_shown, limit):
    try:
        allowed = read_allowlist(allowlist_path)
    except (OSError, ValueError) as e:
        print(f"function_lengths: {e}")
        return 1
    offenders = [r for r in rows if (r[1], r[3]) not in allowed]
    kept = [r for r in rows if (r[1], r[3]) in allowed]
    found = {(r[1], r[3]) for r in rows}
    stale = sorted(k for k in allowed if k not in found)
    if kept:
        print(f"Allowed by {allowlist_shown}:")
        for n, path, start, name in kept:
            print(f"  {n:5d}  {path}:{start}  {name}  -- {allowed[(path, name)]}")
    if offenders:
        print(f"FAIL: {len(offenders)} function(s) outside tests longer than "
              f"{limit} lines:")
        for n, path, start, name in offenders:
            print(f"  {n:5d}  {path}:{start}  {name}")
        print(f"Split them into named steps, or add one that must stay to "
              f"{allowlist_shown} as FILE FUNCTION REASON.")
    if stale:
        print(f"FAIL: {allowlist_shown} names functions that are no longer "
              f"past {limit} lines (or no longer exist); remove them:")
        for path, name in stale:
            print(f"  {path} {name}")
    if offenders or stale:
        return 1
    print(f"OK: no function outside tests is longer than {limit} lines "
          f"but the {len(kept)} on {allowlist_shown}.")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min", type=int, default=80,
                    help="list the functions longer than this")
    ap.add_argument("--all", action="store_true", help="tests too")
    ap.add_argument("--check", action="store_true",
                    help="fail on functions longer than --max outside tests "
                         "and the allowlist")
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--allowlist", default=None,
                    help=f"default: {DEFAULT_ALLOWLIST} beside the sources")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    top = top_of_repo()
    if args.files:
        base, files = os.getcwd(), [os.path.abspath(f) for f in args.files]
    else:
        base = top
        files = [os.path.join(top, f)
                 for f in files_of_repo(top, args.all and not args.check)]
    limit = args.max if args.check else args.min
    rows = []
    for path in files:
        for name, start, _, n in functions(path):
            if n > limit:
                rows.append((n, os.path.relpath(path, base), start, name))
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    if args.check:
        allowlist = args.allowlist or os.path.join(top, DEFAULT_ALLOWLIST)
        return check(rows, allowlist, DEFAULT_ALLOWLIST
                     if args.allowlist is None else args.allowlist, limit)
    for n, path, start, name in rows:
        print(f"{n:5d}  {path}:{start}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
