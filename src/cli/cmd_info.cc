// weightfs log, check, stats.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "weightfs/repo/check.h"
#include "weightfs/repo/history.h"

namespace weightfs::cli {
namespace {

struct InfoArgs {
  std::string repo;
  std::string path;
  UnlockOptions unlock;
  bool read_data = false;
  bool json = false;
};

int RunLog(const InfoArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  bool sealed_older = false;
  auto snaps = a.path.empty() ? (*repo)->ListSnapshots(&sealed_older)
                              : repo::SnapshotsTouching(**repo, a.path);
  if (!snaps.ok()) return Fail(snaps.status());
  auto tags = (*repo)->refs().ReadTags();
  if (!tags.ok()) return Fail(tags.status());
  std::map<ObjectId, std::vector<std::string>> tags_of;
  for (const auto& [name, id] : tags->value) tags_of[id].push_back(name);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : *snaps) {
    const auto& t = tags_of[s.id];
    if (a.json) {
      out.push_back({{"id", s.id.Hex()},
                     {"seq", s.snapshot.seq},
                     {"time", FormatTimeNs(s.snapshot.time_ns)},
                     {"time_ns", s.snapshot.time_ns},
                     {"author", s.snapshot.author},
                     {"message", s.snapshot.message},
                     {"tags", t},
                     {"parent", s.snapshot.parent ? s.snapshot.parent->Hex() : ""}});
      continue;
    }
    std::cout << "snapshot " << s.id.Hex();
    if (!t.empty()) {
      std::cout << " (tags:";
      for (const auto& n : t) std::cout << " " << n;
      std::cout << ")";
    }
    std::cout << "\n  #" << s.snapshot.seq << "  " << FormatTimeNs(s.snapshot.time_ns)
              << " UTC  by " << s.snapshot.author << "\n  " << s.snapshot.message << "\n\n";
  }
  if (a.json) std::cout << out.dump(2) << "\n";
  if (sealed_older) {
    std::cerr << "weightfs: older snapshots were recorded before the repository had scopes; key "
                 "slot '"
              << (*repo)->slot_name() << "' does not hold the keys they are sealed under\n";
  }
  return kExitOk;
}

int RunCheck(const InfoArgs& a) {
  // What is checked is what the store holds: a node cache would answer for it (its copies are
  // authenticated, but a damaged or missing object in the bucket would go unseen).
  UnlockOptions unlock = a.unlock;
  unlock.store.no_cache = true;
  auto repo = OpenRepository(a.repo, unlock);
  if (!repo.ok()) return Fail(repo.status());
  repo::CheckOptions options;
  options.read_data = a.read_data;
  uint64_t total = 0;
  std::unique_ptr<Progress> progress;
  if (a.read_data) {
    auto stats = repo::ComputeStats(**repo);
    if (stats.ok()) total = stats->unique_bytes;
    progress = std::make_unique<Progress>("checking", total);
    options.progress = [&](uint64_t done) { progress->Update(done); };
  }
  auto report = repo::CheckRepository(**repo, options);
  if (progress) progress->Done();
  if (!report.ok()) return Fail(report.status());
  if (a.json) {
    nlohmann::json j = {{"ok", report->problems.empty()},
                        {"problems", report->problems},
                        {"snapshots", report->snapshots},
                        {"trees", report->trees},
                        {"files", report->files},
                        {"chunks", report->chunks},
                        {"chunk_bytes", report->chunk_bytes},
                        {"read_data", a.read_data},
                        {"not_checked", report->not_checked}};
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& p : report->problems) std::cout << "error: " << p << "\n";
    for (const auto& n : report->not_checked) std::cout << "not checked: " << n << "\n";
    std::cout << "checked " << report->snapshots << " snapshots, " << report->trees
              << " directories, " << report->files << " files, " << report->chunks << " chunks ("
              << HumanBytes(report->chunk_bytes)
              << (a.read_data ? ", contents authenticated"
                              : ", presence and sizes only; --read-data authenticates contents")
              << "): "
              << (report->problems.empty() ? "no problems found"
                                           : std::to_string(report->problems.size()) + " problems")
              << "\n";
  }
  return report->problems.empty() ? kExitOk : kExitCorruption;
}

int RunStats(const InfoArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto s = repo::ComputeStats(**repo);
  if (!s.ok()) return Fail(s.status());
  if (a.json) {
    nlohmann::json j = {{"snapshots", s->snapshots},
                        {"live_files", s->live_files},
                        {"live_bytes", s->live_bytes},
                        {"logical_bytes", s->logical_bytes},
                        {"unique_bytes", s->unique_bytes},
                        {"stored_bytes", s->stored_bytes},
                        {"objects", s->objects},
                        {"dedup_ratio", s->dedup_ratio},
                        {"partial", s->partial}};
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::printf("snapshots:      %llu\n", static_cast<unsigned long long>(s->snapshots));
  std::printf("live files:     %llu (%s)\n", static_cast<unsigned long long>(s->live_files),
              HumanBytes(s->live_bytes).c_str());
  std::printf("logical bytes:  %s (every snapshot, without dedup)\n",
              HumanBytes(s->logical_bytes).c_str());
  std::printf("unique bytes:   %s (distinct chunks)\n", HumanBytes(s->unique_bytes).c_str());
  std::printf("stored bytes:   %s in %llu objects\n", HumanBytes(s->stored_bytes).c_str(),
              static_cast<unsigned long long>(s->objects));
  std::printf("dedup ratio:    %.2f\n", s->dedup_ratio);
  if (s->partial) {
    std::printf("(partial: older snapshots are sealed under keys key slot '%s' does not hold)\n",
                (*repo)->slot_name().c_str());
  }
  return kExitOk;
}

}  // namespace

void AddInfoCommands(CLI::App* app, int* exit_code) {
  auto add = [&](const char* name, const char* help, int (*run)(const InfoArgs&), bool read_data) {
    auto args = std::make_shared<InfoArgs>();
    CLI::App* cmd = app->add_subcommand(name, help);
    cmd->add_option("REPO", args->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
    if (std::string(name) == "log")
      cmd->add_option("PATH", args->path, "Only snapshots in which this path changed");
    cmd->add_flag("--json", args->json, "Print JSON");
    if (read_data)
      cmd->add_flag("--read-data", args->read_data, "Also decrypt and authenticate every chunk");
    args->unlock.AddTo(cmd);
    cmd->callback([=] { *exit_code = run(*args); });
  };
  add("log", "List snapshots, newest first", RunLog, false);
  add("check", "Verify the repository's structure (and with --read-data its contents)", RunCheck,
      true);
  add("stats", "Logical and stored sizes, dedup ratio, object count", RunStats, false);
}

}  // namespace weightfs::cli
