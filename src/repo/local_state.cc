#include "weightfs/repo/local_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "repo/records.h"

namespace weightfs::repo {

std::string DefaultStateDir() {
  if (const char* dir = std::getenv("WEIGHTFS_STATE_DIR"); dir && *dir) return dir;
  if (::geteuid() == 0) return "/var/lib/weightfs/state";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/weightfs";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.local/state/weightfs";
  return "/tmp/weightfs-state-" + std::to_string(::geteuid());
}

namespace {
Status WriteStateFile(const std::string& state_dir, const std::string& path,
                      const std::string& text);

// Serializes the read-compare-write of one repository's state between the commands of this
// machine (several may run at once); released when destroyed. Best effort: without the lock
// the write is still atomic, only the comparison may race.
class StateLock {
 public:
  StateLock(const std::string& state_dir, const std::string& path) {
    boost::system::error_code ec;
    boost::filesystem::create_directories(state_dir, ec);
    fd_ = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~StateLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  int fd_ = -1;
};

// A state file as WriteStateFile writes it: "seq N\n<key> <64 hex digits or ->\n", nothing else.
// Read with a bound (it is a few dozen bytes), never as a whole file of unknown size. Missing:
// seq 0 and an empty value. Anything else is kCorruption naming the file: someone edited this
// machine's record of what it has seen.
Status ReadSeqStateFile(const std::string& path, const char* key, uint64_t* seq,
                        std::string* value) {
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
  while (got < sizeof(buf) && (n = ::read(fd, buf + got, sizeof(buf) - got)) > 0)
    got += static_cast<size_t>(n);
  const int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoStatus(err, "reading the local state file " + path);
  std::optional<SeqState> state;
  if (got < sizeof(buf)) state = ParseSeqState(std::string_view(buf, got), key);
  if (!state) {
    return Corruption("the local state file " + path +
                      " is damaged (it is not what weightfs writes); remove it "
                      "to forget what this machine has seen of the repository");
  }
  *seq = state->seq;
  *value = std::move(state->value);
  return Status::Ok();
}

// The "key value" pairs of a state file (the tags record); repeated keys keep every value.
std::multimap<std::string, std::string> ReadStateFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseStateLines(text.str());
}

// 64-bit FNV-1a: a stable short name for a location (a collision would only make two locations
// share a record, as every location of a repository did before locations were recorded).
std::string LocationHash(const std::string& location) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : location) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The state file of repo at state.location ("<id>-<location hash><suffix>"; "<id><suffix>"
// without a location). A record written before locations were recorded ("<id><suffix>") is
// taken over by the first location that finds none of its own: before replicas existed it was
// the record of the repository's one location (a copy of the record would make every new replica
// look rolled back).
std::string StatePath(const Repository& repo, const StateScope& state, const char* suffix) {
  std::string legacy = state.dir + "/" + ToHex(repo.config().repo_id) + suffix;
  if (state.location.empty()) return legacy;
  std::string path =
      state.dir + "/" + ToHex(repo.config().repo_id) + "-" + LocationHash(state.location) + suffix;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT && ::lstat(legacy.c_str(), &st) == 0) {
    // Two commands may race for it: one rename wins, the other finds the file in place.
    (void)::rename(legacy.c_str(), path.c_str());
  }
  return path;
}

uint64_t SeqOf(const std::multimap<std::string, std::string>& kv, const std::string& key) {
  auto it = kv.find(key);
  return it == kv.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}
}  // namespace

Status CheckAndRecordHead(const Repository& repo, const StateScope& state, bool accept_rollback,
                          std::string* note) {
  ASSIGN_OR_RETURN(Versioned<MainRef> main, repo.refs().ReadMain());
  const std::string path = StatePath(repo, state, "");
  uint64_t seen_seq = 0;
  std::string seen_head;
  RETURN_IF_ERROR(ReadSeqStateFile(path, "head", &seen_seq, &seen_head));
  const uint64_t seq = main.value.head_seq;
  const std::string head = main.value.head ? main.value.head->Hex() : "";
  const bool backwards = seq < seen_seq || (seq == seen_seq && seen_seq > 0 && head != seen_head);
  if (backwards && !accept_rollback) {
    return Corruption(
        "the repository's history went backwards: this machine has seen snapshot #" +
        std::to_string(seen_seq) + " (" + seen_head.substr(0, 16) + "), but its newest is #" +
        std::to_string(seq) + (head.empty() ? "" : " (" + head.substr(0, 16) + ")") +
        ". Someone may have rolled refs/main back, or the repository was restored from an "
        "older copy; if that is intended, run again with --accept-rollback");
  }
  if (backwards) {
    *note = "accepted a rollback from snapshot #" + std::to_string(seen_seq) + " to #" +
            std::to_string(seq);
    StateLock lock(state.dir, path);
    return WriteStateFile(
        state.dir, path,
        "seq " + std::to_string(seq) + "\nhead " + (head.empty() ? "-" : head) + "\n");
  }
  if (seq == seen_seq) return Status::Ok();
  return RecordHead(repo, main.value, state);
}

Status RecordHead(const Repository& repo, const MainRef& main, const StateScope& state) {
  const std::string path = StatePath(repo, state, "");
  StateLock lock(state.dir, path);
  // Another command of this machine may have recorded a newer head meanwhile: keep the newest.
  uint64_t recorded = 0;
  std::string recorded_head;
  RETURN_IF_ERROR(ReadSeqStateFile(path, "head", &recorded, &recorded_head));
  if (recorded > main.head_seq) return Status::Ok();
  const uint64_t seq = main.head_seq;
  const std::string head = main.head ? main.head->Hex() : "";
  return WriteStateFile(
      state.dir, path,
      "seq " + std::to_string(seq) + "\nhead " + (head.empty() ? "-" : head) + "\n");
}

namespace {

Status WriteStateFile(const std::string& state_dir, const std::string& path,
                      const std::string& text) {
  boost::system::error_code ec;
  boost::filesystem::create_directories(state_dir, ec);
  if (ec) return IoError("creating the state directory " + state_dir + ": " + ec.message());
  // A temporary name of its own per writer: concurrent commands each replace the file whole.
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return ErrnoStatus(errno, "creating a temporary file beside " + path);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, "writing " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0644);
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "replacing " + path);
  }
  return Status::Ok();
}

}  // namespace

Status CheckAndRecordPolicy(const Repository& repo, const StateScope& state, bool accept_rollback,
                            std::string* note) {
  // A refs/policy that does not authenticate or contradicts the snapshot chain is reported by
  // whoever uses the policy (mounts, policy commands, check); commands that do not need it work.
  auto current = repo.policies().ReadPolicy();
  if (!current.ok()) return Status::Ok();
  const std::string path = StatePath(repo, state, ".policy");
  uint64_t seen_seq = 0;
  std::string seen_id;
  RETURN_IF_ERROR(ReadSeqStateFile(path, "id", &seen_seq, &seen_id));
  const uint64_t seq = current->value ? current->value->policy.seq : 0;
  const std::string id = current->value ? current->value->id.Hex() : "";
  const bool backwards = seq < seen_seq || (seq == seen_seq && seen_seq > 0 && id != seen_id);
  if (backwards && !accept_rollback) {
    return Corruption(
        "the repository's policy went backwards: this machine has seen policy #" +
        std::to_string(seen_seq) + " (" + seen_id.substr(0, 16) + "), but refs/policy holds " +
        (seq == 0 ? std::string("none")
                  : "#" + std::to_string(seq) + " (" + id.substr(0, 16) + ")") +
        ". Someone may have rolled refs/policy back or deleted it. If the older state is intended, "
        "run again with --accept-rollback; an admin can also store the intended policy again with "
        "`weightfs policy set --accept-rollback`");
  }
  if (backwards) {
    *note = "accepted a policy rollback from #" + std::to_string(seen_seq) + " to #" +
            std::to_string(seq);
  }
  if ((!backwards && seq == seen_seq) || !current->value) return Status::Ok();
  return RecordPolicy(repo, seq, current->value->id, state);
}

Status RecordPolicy(const Repository& repo, uint64_t seq, const ObjectId& id,
                    const StateScope& state) {
  const std::string path = StatePath(repo, state, ".policy");
  StateLock lock(state.dir, path);
  uint64_t recorded = 0;
  std::string recorded_id;
  RETURN_IF_ERROR(ReadSeqStateFile(path, "id", &recorded, &recorded_id));
  if (recorded > seq) return Status::Ok();
  return WriteStateFile(state.dir, path, "seq " + std::to_string(seq) + "\nid " + id.Hex() + "\n");
}

namespace {

std::set<std::string> ValuesOf(const std::multimap<std::string, std::string>& kv,
                               const std::string& key) {
  std::set<std::string> out;
  auto [begin, end] = kv.equal_range(key);
  for (auto it = begin; it != end; ++it) out.insert(it->second);
  return out;
}

}  // namespace

Status CheckAndRecordTags(const Repository& repo, const StateScope& state, bool accept_rollback,
                          std::string* note) {
  // A refs/tags that does not authenticate is reported by whoever reads it.
  uint64_t gen = 0;
  auto tags = repo.refs().ReadTags(&gen);
  if (!tags.ok()) return Status::Ok();
  const bool exists = tags->raw.has_value();
  std::set<std::string> named;
  for (const auto& [name, id] : tags->value) named.insert(id.Hex());

  const std::string path = StatePath(repo, state, ".tags");
  StateLock lock(state.dir, path);
  const auto seen = ReadStateFile(path);
  const bool seen_any = seen.count("gen") > 0;
  const uint64_t seen_gen = SeqOf(seen, "gen");
  const std::set<std::string> seen_named = ValuesOf(seen, "snap");
  std::set<std::string> lost = ValuesOf(seen, "lost");
  bool backwards = false;
  if (seen_any) {
    backwards = (!exists && (seen_gen > 0 || !seen_named.empty())) || gen < seen_gen ||
                (gen == seen_gen && seen_gen > 0 && named != seen_named);
  }
  if (backwards && !accept_rollback) {
    return Corruption(
        std::string("the repository's tags went backwards: this machine has seen refs/tags #") +
        std::to_string(seen_gen) + " naming " + std::to_string(seen_named.size()) +
        " snapshot(s), but refs/tags " +
        (exists ? "holds #" + std::to_string(gen) : std::string("is missing")) +
        ". Someone may have deleted or rolled back refs/tags (gc would then delete the snapshots "
        "only "
        "those tags kept). If that is intended, run again with --accept-rollback: gc then keeps "
        "the "
        "snapshots the lost tags named");
  }
  if (backwards) {
    for (const std::string& id : seen_named) {
      if (named.count(id) == 0) lost.insert(id);
    }
    *note = "accepted a rollback of refs/tags from #" + std::to_string(seen_gen) + " to " +
            (exists ? "#" + std::to_string(gen) : std::string("none")) + "; gc keeps the " +
            std::to_string(lost.size()) + " snapshot(s) the lost tags named";
  }
  if (seen_any && !backwards && gen == seen_gen && named == seen_named) return Status::Ok();
  // Lost snapshots that a tag names again are ordinary tagged snapshots again.
  std::string text = "gen " + std::to_string(gen) + "\n";
  for (const std::string& id : named) text += "snap " + id + "\n";
  for (const std::string& id : lost) {
    if (named.count(id) == 0) text += "lost " + id + "\n";
  }
  return WriteStateFile(state.dir, path, text);
}

std::vector<ObjectId> LostTaggedSnapshots(const Repository& repo, const StateScope& state) {
  std::vector<ObjectId> out;
  for (const std::string& hex : ValuesOf(ReadStateFile(StatePath(repo, state, ".tags")), "lost")) {
    auto id = ObjectId::FromHex(hex);
    if (id.ok()) out.push_back(*id);
  }
  return out;
}

}  // namespace weightfs::repo
