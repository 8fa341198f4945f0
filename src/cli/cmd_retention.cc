// weightfs forget, gc: retention of snapshots and deletion of what no ref reaches (thin layers
// over repo/history.h).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/local_state.h"

namespace weightfs::cli {
namespace {

struct RetentionArgs {
  std::string repo;
  UnlockOptions unlock;
  std::string grace = "24h";
  bool json = false, force = false, dry_run = false;
  repo::ForgetPolicy policy;
};

int RunForget(const RetentionArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto result = repo::Forget(repo->get(), a.policy, a.dry_run);
  if (!result.ok()) return Fail(result.status());
  if (a.json) {
    nlohmann::json d = nlohmann::json::array();
    for (const auto& x : result->decisions) {
      d.push_back(
          {{"id", x.snapshot.id.Hex()},
           {"seq", x.snapshot.snapshot.seq},
           {"keep", x.keep},
           {"reasons", x.reasons},
           {"tags", x.tags},
           {"new_id",
            result->renamed.count(x.snapshot.id) ? result->renamed.at(x.snapshot.id).Hex() : ""}});
    }
    std::cout << nlohmann::json({{"dry_run", a.dry_run},
                                 {"kept", result->kept()},
                                 {"forgotten", result->forgotten()},
                                 {"removed_tags", result->removed_tags},
                                 {"snapshots", d},
                                 {"new_head", result->new_head ? result->new_head->id.Hex() : ""}})
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  for (const auto& x : result->decisions) {
    std::cout << (x.keep ? "keep    " : "forget  ") << DescribeSnapshot(x.snapshot);
    if (!x.tags.empty()) {
      std::cout << "  [tags:";
      for (const auto& t : x.tags) std::cout << " " << t;
      std::cout << "]";
    }
    if (x.keep) {
      std::cout << "  (";
      for (size_t i = 0; i < x.reasons.size(); ++i) std::cout << (i ? ", " : "") << x.reasons[i];
      std::cout << ")";
    }
    std::cout << "\n";
  }
  std::cout << "kept " << result->kept() << " snapshots, "
            << (a.dry_run ? "would forget " : "forgot ") << result->forgotten() << "\n";
  if (!result->removed_tags.empty()) {
    std::cout << "removed tags:";
    for (const auto& t : result->removed_tags) std::cout << " " << t;
    std::cout << "\n";
  }
  if (result->new_head) {
    std::cout << "new head " << ShortId(result->new_head->id) << " (#"
              << result->new_head->snapshot.seq << "); run `weightfs gc " << a.repo
              << "` to free the space\n";
  } else if (a.dry_run) {
    std::cout << "dry run: nothing was changed\n";
  }
  return kExitOk;
}

int RunGc(const RetentionArgs& a) {
  auto grace = repo::ParseDurationSeconds(a.grace);
  if (!grace.ok()) return Fail(grace.status());
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  repo::GcOptions options;
  options.grace_seconds = *grace;
  options.dry_run = a.dry_run;
  options.force = a.force;
  options.keep_snapshots = repo::LostTaggedSnapshots(**repo, StateScopeFor(a.repo));
  auto r = repo::CollectGarbage(repo->get(), options);
  if (!r.ok()) return Fail(r.status());
  if (!r->note.empty()) std::cerr << "weightfs: " << r->note << "\n";
  if (r->kept_snapshots > 0) {
    std::cerr << "weightfs: kept " << r->kept_snapshots
              << " snapshot(s) (and their history) that tags named before "
              << "refs/tags was lost or rolled back on this machine's record; tag them again to "
                 "keep them for good, "
              << "or remove " << repo::DefaultStateDir()
              << "/<repository id>-<location hash>.tags to let gc free them\n";
  }
  if (r->leased_objects > 0) {
    std::cerr << "weightfs: kept " << r->leased_objects
              << " unreachable object(s) that running writers (" << r->leases
              << " lease(s): mounts or commands) may still publish\n";
  }
  if (a.json) {
    std::cout << nlohmann::json({{"dry_run", a.dry_run},
                                 {"grace_seconds", *grace},
                                 {"objects", r->objects},
                                 {"bytes", r->bytes},
                                 {"reachable_objects", r->reachable_objects},
                                 {"reachable_bytes", r->reachable_bytes},
                                 {"unreachable_objects", r->unreachable_objects},
                                 {"unreachable_bytes", r->unreachable_bytes},
                                 {"young_objects", r->young_objects},
                                 {"young_bytes", r->young_bytes},
                                 {"deleted_objects", r->deleted_objects},
                                 {"deleted_bytes", r->deleted_bytes},
                                 {"leases", r->leases},
                                 {"leased_objects", r->leased_objects},
                                 {"kept_snapshots", r->kept_snapshots}})
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << r->objects << " objects (" << HumanBytes(r->bytes) << "): " << r->reachable_objects
            << " reachable, " << r->unreachable_objects << " unreachable ("
            << HumanBytes(r->unreachable_bytes) << ")";
  if (r->young_objects) {
    std::cout << ", of which " << r->young_objects << " (" << HumanBytes(r->young_bytes)
              << ") are younger than the grace period of " << a.grace << " and kept";
  }
  std::cout << "\n"
            << (a.dry_run ? "dry run: would delete " : "deleted ") << r->deleted_objects
            << " objects, " << (a.dry_run ? "freeing " : "freed ") << HumanBytes(r->deleted_bytes)
            << "\n";
  return kExitOk;
}

void AddForgetCommand(CLI::App* app, int* exit_code) {
  auto fa = std::make_shared<RetentionArgs>();
  CLI::App* forget = app->add_subcommand(
      "forget", "Drop snapshots not selected by a retention policy (then run gc)");
  forget->add_option("REPO", fa->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  forget->add_option("--keep-last", fa->policy.keep_last, "Keep the newest N snapshots")
      ->check(CLI::NonNegativeNumber);
  forget
      ->add_option("--keep-daily", fa->policy.keep_daily,
                   "Keep the newest snapshot of each of the last N days (UTC)")
      ->check(CLI::NonNegativeNumber);
  forget
      ->add_option("--keep-weekly", fa->policy.keep_weekly,
                   "Keep the newest snapshot of each of the last N weeks (UTC)")
      ->check(CLI::NonNegativeNumber);
  forget->add_flag("--keep-tagged", fa->policy.keep_tagged,
                   "Keep tagged snapshots (otherwise their tags are removed)");
  forget->add_flag("-n,--dry-run", fa->dry_run, "Only print what would be kept and forgotten");
  forget->add_flag("--json", fa->json, "Print JSON");
  fa->unlock.AddTo(forget);
  forget->callback([=] { *exit_code = RunForget(*fa); });
}

void AddGcCommand(CLI::App* app, int* exit_code) {
  auto ga = std::make_shared<RetentionArgs>();
  CLI::App* gc = app->add_subcommand(
      "gc", "Delete objects no ref reaches (older than the grace period, default 24h)");
  gc->add_option("REPO", ga->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  gc->add_flag("-n,--dry-run", ga->dry_run, "Only count what would be freed");
  gc->add_option(
      "--grace", ga->grace,
      "Keep unreachable objects younger than this (30m, 2h, 7d; default 24h; 0 deletes everything "
      "unreachable)");
  gc->add_flag("--force", ga->force,
               "Run with a grace below 1h although a read-write mount holds the writer lock");
  gc->add_flag("--json", ga->json, "Print JSON");
  ga->unlock.AddTo(gc);
  gc->callback([=] { *exit_code = RunGc(*ga); });
}

}  // namespace

void AddRetentionCommands(CLI::App* app, int* exit_code) {
  AddForgetCommand(app, exit_code);
  AddGcCommand(app, exit_code);
}

}  // namespace weightfs::cli
