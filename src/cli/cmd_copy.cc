// weightfs copy SRC DST: snapshots, tags and policy versions into a replica (repo/replica.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/common.h"
#include "weightfs/repo/replica.h"

namespace weightfs::cli {
namespace {

struct CopyArgs {
  std::string src;
  std::string dst;
  std::vector<std::string> versions;
  bool tags = false;
  int jobs = 8;
  UnlockOptions unlock;
};

constexpr char kReplicaHint[] = "create the replica with `weightfs init DST --replica-of SRC`";

// Objects and bytes done of the total and the rate, redrawn on one line of a terminal's stderr
// (about ten times a second); nothing when stderr is not a terminal.
class CopyBar {
 public:
  CopyBar() : enabled_(::isatty(2) != 0), start_(std::chrono::steady_clock::now()) {}
  ~CopyBar() { Finish(); }
  CopyBar(const CopyBar&) = delete;
  CopyBar& operator=(const CopyBar&) = delete;

  void Draw(const repo::CopyProgress& p) {
    if (!enabled_ || p.objects_total == 0) return;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double mib_s = secs > 0 ? static_cast<double>(p.bytes_done) / secs / (1 << 20) : 0;
    std::fprintf(stderr, "\rcopy: %llu/%llu objects  %s / %s  %.1f MiB/s   ",
                 static_cast<unsigned long long>(p.objects_done),
                 static_cast<unsigned long long>(p.objects_total), HumanBytes(p.bytes_done).c_str(),
                 HumanBytes(p.bytes_total).c_str(), mib_s);
    std::fflush(stderr);
    drawn_ = true;
  }
  // Ends the bar's line, so what is printed next starts on a line of its own.
  void Finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
};

// The replica, checked to be one before it is unlocked (another repository would only say that
// the passphrase is wrong).
Result<std::unique_ptr<repo::Repository>> OpenReplica(const repo::Repository& src,
                                                      const CopyArgs& a,
                                                      const repo::Credential& credential) {
  {
    auto store = OpenStoreAt(a.dst, a.unlock.store);
    if (!store.ok())
      return Status(store.status().code(), store.status().message() + "; " + kReplicaHint);
    Status s = repo::CheckIsReplica(src, store->get());
    // Not a repository: exit 4, as everywhere.
    if (s.code() == Code::kNotFound) return Unsupported(a.dst + ": " + s.message());
    RETURN_IF_ERROR(s.WithContext(a.dst));
  }
  return OpenRepositoryWith(a.dst, a.unlock, credential);
}

std::string Summary(const repo::CopyReport& r, double secs) {
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.1f MiB/s",
                secs > 0 ? static_cast<double>(r.copied_bytes) / secs / (1 << 20) : 0.0);
  std::string out = "copied " + std::to_string(r.copied_objects) + " objects (" +
                    HumanBytes(r.copied_bytes) + ", " + rate + "), " +
                    std::to_string(r.present_objects) + " of " +
                    std::to_string(r.reachable_objects) + " already there; ";
  out += r.head ? "main " + std::string(r.main_moved ? "now at " : "stays at ") +
                      DescribeSnapshot(*r.head)
                : std::string("no snapshots");
  if (r.tags_added > 0) out += "; " + std::to_string(r.tags_added) + " tag(s) added";
  if (r.policy_moved) out += "; policy updated";
  return out;
}

int RunCopy(const CopyArgs& a) {
  auto credential = ReadCredential(a.unlock, "Passphrase for " + a.src + ": ");
  if (!credential.ok()) return Fail(credential.status());
  auto src = OpenRepositoryWith(a.src, a.unlock, *credential);
  if (!src.ok()) return Fail(src.status());
  if ((*src)->objects().scoped()) {
    return Fail(Unsupported("copying a repository with scopes is not supported yet"));
  }
  auto dst = OpenReplica(**src, a, *credential);
  if (!dst.ok()) return Fail(dst.status());
  // A read-write mount of the replica would put its own live tree back over the copied one.
  auto lock = LockLiveTree(dst->get(), "copy",
                           "Unmount the replica (or mount it read-only) and copy again");
  if (!lock.ok()) return Fail(lock.status());
  repo::CopyOptions options;
  options.versions = a.versions;
  options.tags = a.tags;
  options.jobs = a.jobs;
  CopyBar bar;
  auto report = repo::CopyToReplica(src->get(), dst->get(), options,
                                    [&bar](const repo::CopyProgress& p) { bar.Draw(p); });
  const double secs = bar.Seconds();
  bar.Finish();
  Status released = (*lock)->Release();
  if (!report.ok()) return Fail(report.status());
  if (!released.ok()) return Fail(released);
  std::cout << Summary(*report, secs) << "\n";
  return kExitOk;
}

}  // namespace

void AddCopyCommands(CLI::App* app, int* exit_code) {
  auto args = std::make_shared<CopyArgs>();
  CLI::App* copy = app->add_subcommand(
      "copy",
      "Copy snapshots (with their history), policy versions and tags into a replica made with "
      "`init DST --replica-of SRC`; only missing objects are sent, refs move last");
  copy->add_option("SRC", args->src, "Source repository")->required();
  copy->add_option("DST", args->dst, "Replica to copy into")->required();
  copy->add_option("--version", args->versions,
                   "Copy only this version (tag, id prefix, latest) and its history; repeatable "
                   "(default: the source's main and its history)");
  copy->add_flag("--tags", args->tags, "Also copy every tag of the source");
  copy->add_option("--jobs", args->jobs, "Objects copied at a time (default 8)")
      ->check(CLI::Range(1, 256));
  args->unlock.AddTo(copy);
  copy->callback([=] { *exit_code = RunCopy(*args); });
}

}  // namespace weightfs::cli
