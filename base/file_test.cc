#include "base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace freezing::base {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempDir() { return std::getenv("TEST_TMPDIR"); }

TEST(AtomicFileTest, ReplacesContents) {
  const std::string path = TempDir() + "/a.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  EXPECT_EQ(Read(path), "two");
}

TEST(AtomicFileTest, FailedWriterLeavesOldFileAndNoTemporary) {
  const std::string path = TempDir() + "/b.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "kept").ok());
  std::string temp_seen;
  absl::Status s = ReplaceFileAtomically(path, [&](const std::string& temp) {
    temp_seen = temp;
    std::ofstream(temp) << "partial";
    return absl::DataLossError("writer failed half way");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Read(path), "kept");
  struct stat st;
  EXPECT_NE(::stat(temp_seen.c_str(), &st), 0) << "temporary file left behind";
}

TEST(AtomicFileTest, MissingFolderIsNotFound) {
  absl::Status s = WriteFileAtomically(TempDir() + "/no/such/dir/c.txt", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
}

TEST(AtomicFileTest, MakeDirsCreatesParentsAndRejectsFiles) {
  const std::string dir = TempDir() + "/x/y/z";
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/f", "f").ok());
  EXPECT_EQ(MakeDirs(dir + "/f").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FolderTest, ExchangeSwapsTwoFoldersWithTheirContents) {
  const std::string a = TempDir() + "/swap_a", b = TempDir() + "/swap_b";
  ASSERT_TRUE(MakeDirs(a + "/sub").ok());
  ASSERT_TRUE(MakeDirs(b).ok());
  ASSERT_TRUE(WriteFileAtomically(a + "/sub/f", "from a").ok());
  ASSERT_TRUE(WriteFileAtomically(b + "/g", "from b").ok());
  ASSERT_TRUE(ExchangeFoldersDurably(a, b).ok());
  EXPECT_EQ(Read(b + "/sub/f"), "from a");
  EXPECT_EQ(Read(a + "/g"), "from b");
  EXPECT_EQ(ExchangeFoldersDurably(a, TempDir() + "/missing").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Read(a + "/g"), "from b");
}

TEST(FolderTest, RemoveTreeRemovesEverythingButFollowsNoLink) {
  const std::string keep = TempDir() + "/keep";
  const std::string tree = TempDir() + "/tree";
  ASSERT_TRUE(MakeDirs(keep).ok());
  ASSERT_TRUE(WriteFileAtomically(keep + "/k", "kept").ok());
  ASSERT_TRUE(MakeDirs(tree + "/a/b").ok());
  ASSERT_TRUE(WriteFileAtomically(tree + "/a/b/f", "x").ok());
  ASSERT_EQ(::symlink(keep.c_str(), (tree + "/link").c_str()), 0);
  ASSERT_TRUE(RemoveTree(tree).ok());
  struct stat st;
  EXPECT_NE(::lstat(tree.c_str(), &st), 0);
  EXPECT_EQ(Read(keep + "/k"), "kept");
  EXPECT_TRUE(RemoveTree(tree).ok()) << "a missing tree is not an error";
}

}  // namespace
}  // namespace freezing::base
