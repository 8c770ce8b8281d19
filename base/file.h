// Files the project writes and reads: one home for durable writes.
//
// Every output a run or a tool leaves behind (model files, checkpoints,
// traces, calibrations, summaries, replay reports) is written through here,
// so that a crash or a power loss leaves either the old file or the complete
// new one, never a torn one: write a temporary file in the same folder,
// fsync it, rename it over the target, fsync the folder.
#ifndef FREEZING_BASE_FILE_H_
#define FREEZING_BASE_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace freezing::base {

// WriteFileAtomically: replaces `path` with `contents`, durably (see above).
// NotFound when the folder does not exist, PermissionDenied when it cannot be
// written, ResourceExhausted when the disk is full; the old file is then
// untouched and no temporary file is left behind.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// ReplaceFileAtomically: for writers that need a path (torch's archive
// writer, a stream): `write` creates the temporary path it is given; on
// success the file is synced and renamed over `path`, and the folder synced.
absl::Status ReplaceFileAtomically(
    const std::string& path,
    const std::function<absl::Status(const std::string& temp_path)>& write);

// RenameDurably: renames an already synced file `from` over `to` and syncs
// the folder of `to` (both in the same folder).
absl::Status RenameDurably(const std::string& from, const std::string& to);

// ExchangeFoldersDurably: swaps the folders `a` and `b` (same parent folder)
// in one atomic step (renameat2 RENAME_EXCHANGE) and syncs the parent, so
// that a crash at any moment leaves each path naming one complete folder.
// Unimplemented when the file system cannot exchange (then nothing moved).
absl::Status ExchangeFoldersDurably(const std::string& a,
                                    const std::string& b);

// RemoveTree: removes `path` and everything below it (like rm -rf); OK when
// it does not exist. Symbolic links are removed, never followed.
absl::Status RemoveTree(const std::string& path);

// SyncFile / SyncFolder: fsync of a written file, and of a folder so that a
// file created or renamed in it survives a power loss.
absl::Status SyncFile(const std::string& path);
absl::Status SyncFolder(const std::string& folder);

// FolderOf: the folder part of `path` ("." for a bare name).
std::string FolderOf(const std::string& path);

// MakeDirs: creates `path` and its parents (like mkdir -p).
// FailedPrecondition when `path` exists and is not a folder.
absl::Status MakeDirs(const std::string& path);

// ReadFile: the whole file. NotFound when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace freezing::base

#endif  // FREEZING_BASE_FILE_H_
