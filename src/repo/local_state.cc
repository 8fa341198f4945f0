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

// A state file as WriteStateFile writes it: "seq N\n<key> <64 hex digits or ->\n", nothing else.
// Read with a bound (it is a few dozen bytes), never as a whole file of unknown size. Missing:
// seq 0 and an empty value. Anything else is kCorruption naming the file: someone edited this
// machine's record of what it has seen.
Status ReadStateFile(const std::string& path, const char* key, uint64_t* seq, std::string* value) {
  *seq = 0;
  value->clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(errno, "reading the local state file " + path);
  }
  char buf[256];
  size_t got = 0;
  ssize_t n = 0;
  while (got < sizeof(buf) && (n = ::read(fd, buf + got, sizeof(buf) - got)) > 0) got += static_cast<size_t>(n);
  const int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoStatus(err, "reading the local state file " + path);
  const std::string text(buf, got);
  const std::string prefix = std::string("\n") + key + " ";
  const size_t nl = text.find(prefix);
  const auto damaged = [&] {
    return Corruption("the local state file " + path + " is damaged (it is not what weightfs writes); remove it "
                      "to forget what this machine has seen of the repository");
  };
  if (got == sizeof(buf) || text.rfind("seq ", 0) != 0 || nl == std::string::npos || text.back() != '\n') {
    return damaged();
  }
  const std::string digits = text.substr(4, nl - 4);
  *value = text.substr(nl + prefix.size(), text.size() - 1 - nl - prefix.size());
  const bool hex = value->size() == 64 && value->find_first_not_of("0123456789abcdef") == std::string::npos;
  if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos ||
      !(hex || *value == "-")) {
    return damaged();
  }
  *seq = std::stoull(digits);
  if (*value == "-") value->clear();
  return Status::Ok();
}
}  // namespace

Status CheckAndRecordHead(const Repository& repo, const std::string& state_dir, bool accept_rollback,
                          std::string* note) {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo.ReadMain());
  const std::string path = state_dir + "/" + ToHex(repo.config().repo_id);
  uint64_t seen_seq = 0;
  std::string seen_head;
  RETURN_IF_ERROR(ReadStateFile(path, "head", &seen_seq, &seen_head));
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
  RETURN_IF_ERROR(ReadStateFile(path, "id", &seen_seq, &seen_id));
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
