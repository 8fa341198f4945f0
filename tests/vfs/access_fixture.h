// The AccessTest fixture shared by the access_*_test.cc files: a test policy with its users and
// groups (MapResolver), callers bound to each role, and a FileSystem over an in-memory
// repository that decides every operation per caller.
// The fixture is one class for all its test files (gtest requires one fixture type per suite);
// the constants are const, so each test file has its own copy.
#pragma once

#include "weightfs/vfs/access.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/repo_fixtures.h"
#include "weightfs/vfs/filesystem.h"

namespace weightfs {
inline void PrintTo(Code c, std::ostream* os) {
  *os << CodeName(c);
}  // readable EXPECT_EQ failures
}  // namespace weightfs

namespace weightfs::vfs {

using C = policy::Capability;
using repo::testing::FastInit;
using repo::testing::Passphrase;
using repo::testing::SharedStore;

// Users and groups from maps (a policy::NameResolver for tests).
class MapResolver : public policy::NameResolver {
 public:
  using Ids = std::map<std::string, uint32_t>;
  Ids users{{"alice", 1000}, {"bob", 1001}, {"carol", 1002}, {"gus", 1003}, {"dave", 1004}};
  Ids groups{{"ml-team", 3000}};
  std::optional<uint32_t> UserId(const std::string& n) const override { return Find(users, n); }
  std::optional<uint32_t> GroupId(const std::string& n) const override { return Find(groups, n); }
  std::optional<std::string> UserName(uint32_t uid) const override {
    for (const auto& [name, id] : users) {
      if (id == uid) return name;
    }
    return std::nullopt;
  }
  static std::optional<uint32_t> Find(const Ids& m, const std::string& k) {
    return m.count(k) ? std::optional<uint32_t>(m.at(k)) : std::nullopt;
  }
};

// Rule labels count lines: the audit checks below match only their "ROLE rule N (line" prefix.
constexpr char kPolicy[] = R"yaml(version: 1
roles:
  admin:
    rules:
      - {paths: ["/**"], allow: [all]}
  member:
    rules:
      - {paths: ["/", "/public/**", "/team/**"], allow: [list, read, history]}
      - {paths: ["/team/**"], allow: [create, update, delete, snapshot]}
      - {paths: ["/team/**/frozen/**"], deny: [delete]}
      - {paths: ["/team/**/*.lock"], deny: [create]}
  guest:
    rules:
      - {paths: ["/", "/public/**", "/inbox"], allow: [list, read]}
      - {paths: ["/public/secret*"], deny: [read]}
      - {paths: ["/inbox/*"], allow: [create]}
  historian:
    rules:
      - {paths: ["/**"], allow: [list, read]}
      - {paths: ["/", "/public/**"], allow: [history]}
bindings:
  - {role: admin, users: [alice]}
  - {role: member, groups: [ml-team]}
  - {role: member, users: ["1005"]}
  - {role: historian, users: [dave]}
default_role: guest
)yaml";

const Caller kAlice{1000, 100, 1, {}};          // admin by user name
const Caller kBob{1001, 3000, 2, {}};           // member by primary group name
const Caller kCarol{1002, 100, 3, {50, 3000}};  // member by supplementary group
const Caller kGus{1003, 100, 4, {}};            // bound by nothing: default_role guest
const Caller kDave{1004, 100, 5, {}};           // historian
const Caller kNum{1005, 100, 6, {}};            // member by numeric uid

template <typename T>
inline Code CodeOf(const Result<T>& r) {
  return r.status().code();
}
inline Code CodeOf(const Status& s) { return s.code(); }

inline std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

inline std::string NoDefault() { return Replace(kPolicy, "default_role: guest\n", ""); }

inline std::shared_ptr<const policy::Policy> Load(const std::string& yaml) {
  auto p = policy::Policy::Load(yaml, "test.yaml");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : policy::Policy::BuiltIn();
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REPO_ASSERT_OK(repo::Repository::Init(store_.get(), Passphrase("access"), FastInit()));
    REPO_ASSERT_OK_AND_ASSIGN(repo_, store_.Open(Passphrase("access")));
  }
  void TearDown() override {
    if (fs_) REPO_EXPECT_OK(fs_->Shutdown());
  }

  std::shared_ptr<AccessControl> Access(const std::string& mount_role, bool per_caller = true,
                                        const std::string& yaml = kPolicy, bool audit_all = false) {
    AccessControl::Options o;
    o.mount_role = mount_role;
    o.per_caller = per_caller;
    o.audit_all = audit_all;
    o.resolver = &resolver_;
    o.audit = [this](const std::string& line) {
      std::lock_guard lock(mu_);
      audit_.push_back(nlohmann::json::parse(line));
    };
    return std::make_shared<AccessControl>(Load(yaml), o);
  }
  std::vector<nlohmann::json> TakeAudit() {
    std::lock_guard lock(mu_);
    return std::exchange(audit_, {});
  }
  void Mount(std::shared_ptr<AccessControl> ac) {
    if (fs_) REPO_ASSERT_OK(fs_->Shutdown());
    fs_.reset();
    FsOptions o;
    o.commit_interval_s = 3600;
    o.entry_timeout_s = o.attr_timeout_s = 0;
    o.versions_dir = FsOptions::VersionsDir::kVisible;
    o.access = std::move(ac);
    REPO_ASSERT_OK_AND_ASSIGN(fs_, FileSystem::Create(repo_.get(), std::move(o)));
  }
  // Mounts as admin and lays out the tree (as alice).
  void Seed() {
    ASSERT_NO_FATAL_FAILURE(Mount(Access("admin")));
    for (const char* d : {"/public", "/public/empty", "/team", "/team/emptydir", "/team/tree",
                          "/team/tree/frozen", "/team/mv", "/team/frozen", "/private", "/inbox"}) {
      REPO_ASSERT_OK(fs_->Mkdir(kAlice, Ino(Parent(d)), Name(d), 0755).status());
    }
    for (const char* f :
         {"/public/model.bin", "/public/secret.bin", "/team/a.bin", "/team/del1", "/team/r1",
          "/team/r2", "/team/r3", "/team/tree/frozen/w.bin", "/team/mv/x.lock",
          "/team/frozen/t.bin", "/private/p.bin", "/private/p2", "/inbox/taken"}) {
      REPO_ASSERT_OK_AND_ASSIGN(auto created,
                                fs_->Create(kAlice, Ino(Parent(f)), Name(f), 0644, true));
      REPO_ASSERT_OK(
          fs_->Write(kAlice, created.first.attr.ino, created.second.handle, 0, AsBytes(f))
              .status());
      REPO_ASSERT_OK(fs_->Flush(kAlice, created.first.attr.ino, created.second.handle));
      REPO_ASSERT_OK(fs_->Release(created.first.attr.ino, created.second.handle));
    }
    REPO_ASSERT_OK(fs_->Symlink(kAlice, Ino("/public"), "link", "model.bin").status());
    for (const char* f : {"/public/model.bin", "/team/a.bin"}) {
      REPO_ASSERT_OK(fs_->SetXattr(kAlice, Ino(f), "user.k", AsBytes("v"), false, false));
    }
    REPO_ASSERT_OK(fs_->Commit());
  }

  static std::string Parent(const std::string& p) {
    const size_t slash = p.rfind('/');
    return slash == 0 ? "/" : p.substr(0, slash);
  }
  static std::string Name(const std::string& p) { return p.substr(p.rfind('/') + 1); }
  // The node at path, found by alice (who sees everything).
  NodeId Ino(const std::string& path, NodeId from = kRootNode) {
    NodeId ino = from;
    size_t at = 1;
    while (at < path.size()) {
      const size_t end = std::min(path.find('/', at), path.size());
      auto e = fs_->Lookup(kAlice, ino, path.substr(at, end - at));
      EXPECT_TRUE(e.ok()) << path << ": " << e.status().ToString();
      if (!e.ok()) return 0;
      ino = e->attr.ino;
      at = end + 1;
    }
    return ino;
  }
  bool Sees(const Caller& c, const std::string& path) {
    return fs_->Lookup(c, Ino(Parent(path)), Name(path)).ok();
  }
  // Names in a directory's listing for c (without "." and ".."); kNotFound etc. as a name.
  std::set<std::string> Names(const Caller& c, NodeId dir) {
    auto h = fs_->OpenDir(c, dir);
    if (!h.ok()) return {std::string("!") + CodeName(h.status().code())};
    auto entries = fs_->ReadDir(c, dir, *h, 0);
    EXPECT_TRUE(entries.ok());
    REPO_EXPECT_OK(fs_->ReleaseDir(dir, *h));
    std::set<std::string> out;
    for (const DirEntry& e : entries.ok() ? *entries : std::vector<DirEntry>{}) {
      if (e.name != "." && e.name != "..") out.insert(e.name);
    }
    return out;
  }

  SharedStore store_;
  std::unique_ptr<repo::Repository> repo_;
  std::unique_ptr<FileSystem> fs_;
  MapResolver resolver_;
  std::mutex mu_;
  std::vector<nlohmann::json> audit_;
};

}  // namespace weightfs::vfs
