// Committer: makes the live tree durable. Seals files (their dirty data becomes chunks and a
// file object, the file's committed view), and commits: writes the changed directories as tree
// objects and replaces refs/main's live tree, from a background thread every commit interval
// and on demand (fsync, snapshots, shutdown).
//
// Thread-safe. Lock order: commit_mu_ (one commit at a time) before the NodeTable's mutex;
// loop_mu_ (the thread's state) is a leaf. No lock of its own is held while a file is sealed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "vfs/node_table.h"
#include "weightfs/core/mutex.h"
#include "weightfs/core/status.h"
#include "weightfs/repo/repository.h"

namespace weightfs::vfs {

class FileContent;

class Committer {
 public:
  struct Options {
    bool read_only = false;          // then every call is a no-op
    double commit_interval_s = 1.0;  // how often the thread commits
    std::function<void(const std::string&)> log;
  };
  Committer(repo::Repository* repo, NodeTable* table, Options options);
  // Stops the thread without a final commit (Shutdown makes one).
  ~Committer();

  // Starts the commit thread (call after any fork); after_commit runs on it after each commit.
  void Start(std::function<void()> after_commit) EXCLUDES(loop_mu_);
  // Writes the committed views of changed files and the changed directories, then replaces the
  // live tree in refs/main. No-op when nothing changed.
  Status Commit() EXCLUDES(commit_mu_, table_->mu());
  // Seals content and makes it the committed view of node ino (if it still exists).
  Status SealFile(NodeId ino, const std::shared_ptr<FileContent>& content) EXCLUDES(table_->mu());
  // Stops the thread, seals every file with unsealed changes and commits. Idempotent once it
  // succeeded; after a failure nothing is dropped and calling it again retries.
  Status Shutdown() EXCLUDES(loop_mu_, commit_mu_, table_->mu());

 private:
  void Loop() EXCLUDES(loop_mu_);
  // Stops and joins the thread.
  void StopThread() EXCLUDES(loop_mu_);
  // Replaces refs/main's live tree with root.
  Status Publish(const ObjectId& root) REQUIRES(commit_mu_);
  void Log(const std::string& line) const;

  repo::Repository* const repo_;
  NodeTable* const table_;
  const Options options_;
  Mutex commit_mu_ ACQUIRED_BEFORE(table_->mu());
  Mutex loop_mu_;
  CondVar loop_cv_{&loop_mu_};
  bool stop_ GUARDED_BY(loop_mu_) = false;
  bool started_ GUARDED_BY(loop_mu_) = false;
  bool shut_down_ GUARDED_BY(loop_mu_) = false;  // the final commit succeeded
  std::function<void()> after_commit_;           // set before the thread starts
  std::thread thread_;
};

}  // namespace weightfs::vfs
