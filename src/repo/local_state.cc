#include "weightfs/repo/local_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace weightfs::repo {

std::string DefaultStateDir() {
  if (const char* dir = std::getenv("WEIGHTFS_STATE_DIR"); dir && *dir) return dir;
  if (::geteuid() == 0) return "/var/lib/weightfs/state";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::string(xdg) + "/weightfs";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/weightfs";
  return "/tmp/weightfs-state-" + std::to_string(::geteuid());
}

namespace {
Status WriteStateFile(const std::string& state_dir, const std::string& path, const std::string& text);
}  // namespace

Status CheckAndRecordHead(const Repository& repo, const std::string& state_dir, bool accept_rollback,
                          std::string* note) {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo.ReadMain());
  const std::string path = state_dir + "/" + ToHex(repo.config().repo_id);
  uint64_t seen_seq = 0;
  std::string seen_head;
  {
    std::ifstream in(path);
    std::string key;
    while (in >> key) {
      if (key == "seq") in >> seen_seq;
      if (key == "head") in >> seen_head;
    }
  }
  const uint64_t seq = main.value.head_seq;
  const std::string head = main.value.head ? main.value.head->Hex() : "";
  const bool backwards = seq < seen_seq || (seq == seen_seq && seen_seq > 0 && head != seen_head);
  if (backwards && !accept_rollback) {
    return Corruption("the repository's history went backwards: this machine has seen snapshot #" +
                      std::to_string(seen_seq) + " (" + seen_head.substr(0, 16) + "), but its newest is #" +
                      std::to_string(seq) + (head.empty() ? "" : " (" + head.substr(0, 16) + ")") +
                      ". Someone may have rolled refs/main back, or the repository was restored from an "
                      "older copy; if that is intended, run again with --accept-rollback");
  }
  if (backwards) *note = "accepted a rollback from snapshot #" + std::to_string(seen_seq) + " to #" + std::to_string(seq);
  if (!backwards && seq == seen_seq) return Status::Ok();
  return RecordHead(repo, main.value, state_dir);
}

Status RecordHead(const Repository& repo, const MainRef& main, const std::string& state_dir) {
  const std::string path = state_dir + "/" + ToHex(repo.config().repo_id);
  const uint64_t seq = main.head_seq;
  const std::string head = main.head ? main.head->Hex() : "";
  return WriteStateFile(state_dir, path, "seq " + std::to_string(seq) + "\nhead " + (head.empty() ? "-" : head) + "\n");
}

namespace {

Status WriteStateFile(const std::string& state_dir, const std::string& path, const std::string& text) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(state_dir, ec);
  if (ec) return IoError("creating the state directory " + state_dir + ": " + ec.message());
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return IoError("writing " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "replacing " + path);
  return Status::Ok();
}

std::string PolicyStatePath(const Repository& repo, const std::string& state_dir) {
  return state_dir + "/" + ToHex(repo.config().repo_id) + ".policy";
}

}  // namespace

Status CheckAndRecordPolicy(const Repository& repo, const std::string& state_dir, bool accept_rollback,
                            std::string* note) {
  // A refs/policy that does not authenticate or contradicts the snapshot chain is reported by
  // whoever uses the policy (mounts, policy commands, check); commands that do not need it work.
  auto current = repo.ReadPolicy();
  if (!current.ok()) return Status::Ok();
  const std::string path = PolicyStatePath(repo, state_dir);
  uint64_t seen_seq = 0;
  std::string seen_id;
  {
    std::ifstream in(path);
    std::string key;
    while (in >> key) {
      if (key == "seq") in >> seen_seq;
      if (key == "id") in >> seen_id;
    }
  }
  const uint64_t seq = current->value ? current->value->policy.seq : 0;
  const std::string id = current->value ? current->value->id.Hex() : "";
  const bool backwards = seq < seen_seq || (seq == seen_seq && seen_seq > 0 && id != seen_id);
  if (backwards && !accept_rollback) {
    return Corruption("the repository's policy went backwards: this machine has seen policy #" +
                      std::to_string(seen_seq) + " (" + seen_id.substr(0, 16) + "), but refs/policy holds " +
                      (seq == 0 ? std::string("none") : "#" + std::to_string(seq) + " (" + id.substr(0, 16) + ")") +
                      ". Someone may have rolled refs/policy back or deleted it. If the older state is intended, "
                      "run again with --accept-rollback; an admin can also store the intended policy again with "
                      "`weightfs policy set --accept-rollback`");
  }
  if (backwards) {
    *note = "accepted a policy rollback from #" + std::to_string(seen_seq) + " to #" + std::to_string(seq);
  }
  if ((!backwards && seq == seen_seq) || !current->value) return Status::Ok();
  return RecordPolicy(repo, seq, current->value->id, state_dir);
}

Status RecordPolicy(const Repository& repo, uint64_t seq, const ObjectId& id, const std::string& state_dir) {
  return WriteStateFile(state_dir, PolicyStatePath(repo, state_dir),
                        "seq " + std::to_string(seq) + "\nid " + id.Hex() + "\n");
}

}  // namespace weightfs::repo
