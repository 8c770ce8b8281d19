#include "base/file.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace freezing::base {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  const std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(e));
  if (e == ENOSPC || e == EDQUOT) return absl::ResourceExhaustedError(message);
  if (e == ENOENT) return absl::NotFoundError(message);
  if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::Status SyncPath(const std::string& path, bool folder) {
  const int fd =
      ::open(path.c_str(), folder ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return Errno("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync", path);
  return absl::OkStatus();
}

}  // namespace

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status SyncFile(const std::string& path) {
  return SyncPath(path, /*folder=*/false);
}

absl::Status SyncFolder(const std::string& folder) {
  return SyncPath(folder, /*folder=*/true);
}

absl::Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Errno("cannot rename into", to);
  }
  return SyncFolder(FolderOf(to));
}

absl::Status ExchangeFoldersDurably(const std::string& a,
                                    const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(),
                  RENAME_EXCHANGE) != 0) {
    if (errno == EINVAL || errno == ENOSYS) {
      return absl::UnimplementedError(absl::StrCat(
          "cannot swap ", a, " and ", b,
          " atomically: the file system does not support it"));
    }
    return Errno(absl::StrCat("cannot swap ", a, " and"), b);
  }
  return SyncFolder(FolderOf(b));
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno("cannot remove", path);
  }
  // Depth first, without following links; stops at the first failure.
  const int rc = ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) {
        return ::remove(p);
      },
      16, FTW_DEPTH | FTW_PHYS);
  if (rc != 0) return Errno("cannot remove", path);
  return absl::OkStatus();
}

absl::Status ReplaceFileAtomically(
    const std::string& path,
    const std::function<absl::Status(const std::string& temp_path)>& write) {
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  absl::Status status = write(temp);
  if (status.ok()) status = SyncFile(temp);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = Errno("cannot rename into", path);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return SyncFolder(FolderOf(path));
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  return ReplaceFileAtomically(path, [&](const std::string& temp) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return Errno("cannot create", temp);
    size_t done = 0;
    while (done < contents.size()) {
      const ssize_t n =
          ::write(fd, contents.data() + done, contents.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        absl::Status s = Errno("cannot write", temp);
        ::close(fd);
        return s;
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) return Errno("cannot close", temp);
    return absl::OkStatus();
  });
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  std::string prefix;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    prefix = path.substr(0, pos);
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno("cannot create folder", prefix);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a folder"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("cannot open", path);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Errno("cannot read", path);
  return s.str();
}

}  // namespace freezing::base
