// Scratch directories and whole-file reads and writes for tests that touch the local file system.
#pragma once

#include <string>

#include "weightfs/core/bytes.h"

namespace weightfs::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction (read-only
// directories inside it included).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The content of the file at path; empty when it cannot be read.
Bytes ReadLocalFile(const std::string& path);
// Replaces the file at path with data; a (fatal) test failure when that fails.
void WriteLocalFile(const std::string& path, ByteView data);

}  // namespace weightfs::testing
