// weightfs snapshot, tag, diff, restore: thin layers over repo/history.h (forget and gc:
// cmd_retention.cc).
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/json_names.h"
#include "weightfs/fuse/mount_table.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/import_export.h"
#include "weightfs/repo/local_state.h"
#include "weightfs/repo/tree_ops.h"
#include "weightfs/repo/writer_lock.h"

namespace weightfs::cli {
namespace {

struct HistoryArgs {
  std::string repo;
  UnlockOptions unlock;
  std::string message, tag, v1, v2, path, to;
  std::vector<std::string> args;
  bool json = false, force = false, list = false, del = false, no_tensors = false;
};

int RunSnapshot(const HistoryArgs& a) {
  if (fuse::OnWeightfsMount(a.repo)) {
    // Ask the daemon: it commits and records the snapshot (see vfs::kSnapshotXattr). The policy's
    // `snapshot` capability is checked on the directory named.
    if (!a.tag.empty()) {
      if (Status s = repo::ValidateTagName(a.tag); !s.ok()) return Fail(s);
    }
    const std::string& target = a.repo;
    const std::string value = a.tag + "\n" + a.message;
    if (::setxattr(target.c_str(), "user.weightfs.snapshot", value.data(), value.size(), 0) != 0) {
      const int err = errno;
      if (err == EACCES) {
        return Fail(PermissionDenied(
            "the mount's policy does not allow you to record a snapshot from " + a.repo +
            (a.tag.empty() ? "" : " with a tag (naming a snapshot needs `snapshot` on /)") +
            " (`weightfs policy explain REPO --user $USER --op snapshot PATH` shows why)"));
      }
      if (err == EROFS) {
        return Fail(ReadOnly("the mount at " + a.repo +
                             " is read-only (mounted --read-only, or its "
                             "key slot's role may write nowhere)"));
      }
      return Fail(ErrnoStatus(err, "asking the mount at " + a.repo + " for a snapshot"));
    }
    std::cout << "snapshot of the mount " << a.repo << " recorded"
              << (a.tag.empty() ? "" : " tagged " + a.tag) << " (see weightfs log)\n";
    return kExitOk;
  }
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto snap = repo::SnapshotLive(repo->get(), {a.message, a.tag, a.force});
  if (!snap.ok()) return Fail(snap.status());
  if (a.json) {
    std::cout << nlohmann::json(
                     {{"id", snap->id.Hex()}, {"seq", snap->snapshot.seq}, {"tag", a.tag}})
                     .dump(2)
              << "\n";
  } else {
    std::cout << "snapshot " << snap->id.Hex() << " (#" << snap->snapshot.seq << ")"
              << (a.tag.empty() ? "" : " tagged " + a.tag) << "\n";
  }
  return kExitOk;
}

int RunTag(const HistoryArgs& a) {
  const size_t want = a.list ? 1 : a.del ? 2 : 3;
  if (a.list + a.del > 1 || a.args.size() != want) {
    return Fail(InvalidArgument(
        "usage: weightfs tag REPO VERSION NAME | tag --delete REPO NAME | tag --list REPO"));
  }
  auto repo = OpenRepository(a.args[0], a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  if (a.list) {
    auto tags = (*repo)->refs().ReadTags();
    if (!tags.ok()) return Fail(tags.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, id] : tags->value) {
      auto snap = (*repo)->objects().LoadSnapshot(id);
      if (!snap.ok()) return Fail(snap.status().WithContext("tag " + name));
      if (a.json) {
        out.push_back({{"name", name},
                       {"id", id.Hex()},
                       {"seq", snap->seq},
                       {"time", FormatTimeNs(snap->time_ns)},
                       {"message", snap->message}});
      } else {
        std::cout << name << "  " << DescribeSnapshot({id, *snap}) << "\n";
      }
    }
    if (a.json) std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (a.del) {
    Status s = repo::DeleteTag(repo->get(), a.args[1]);
    if (!s.ok()) return Fail(s);
    std::cout << "deleted tag " << a.args[1] << "\n";
    return kExitOk;
  }
  const std::string& name = a.args[2];
  if (Status s = repo::ValidateTagName(name); !s.ok()) return Fail(s);
  auto snap = (*repo)->ResolveVersion(a.args[1]);
  if (!snap.ok()) return Fail(snap.status());
  if (Status s = repo::SetTag(repo->get(), name, snap->id, a.force); !s.ok()) return Fail(s);
  std::cout << "tagged " << ShortId(snap->id) << " as " << name << "\n";
  return kExitOk;
}

std::string TypeName(std::optional<repo::EntryType> t) {
  if (!t) return "-";
  return repo::EntryTypeName(*t);
}

std::string Layout(const std::string& dtype, const std::vector<uint64_t>& shape) {
  std::string s = dtype + " [";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void PrintChange(const repo::FileChange& c) {
  using repo::ChangeKind;
  switch (c.kind) {
    case ChangeKind::kAdded:
      std::cout << "+ " << c.path << "  " << TypeName(c.new_type)
                << (c.new_type == repo::EntryType::kFile ? " " + HumanBytes(c.new_size) : "")
                << "\n";
      break;
    case ChangeKind::kRemoved:
      std::cout << "- " << c.path << "  " << TypeName(c.old_type)
                << (c.old_type == repo::EntryType::kFile ? " " + HumanBytes(c.old_size) : "")
                << "\n";
      break;
    case ChangeKind::kModified:
      std::cout << "M " << c.path << "  " << HumanBytes(c.old_size) << " -> "
                << HumanBytes(c.new_size) << "\n";
      break;
    case ChangeKind::kTypeChanged:
      std::cout << "T " << c.path << "  " << TypeName(c.old_type) << " -> " << TypeName(c.new_type)
                << "\n";
      break;
    case ChangeKind::kMetadata:
      std::cout << "U " << c.path << "  (mode, time or attributes)\n";
      break;
  }
  for (const repo::TensorChange& t : c.tensors) {
    switch (t.kind) {
      case repo::TensorChangeKind::kAdded:
        std::cout << "    + tensor " << t.name << "  " << Layout(t.new_dtype, t.new_shape) << "\n";
        break;
      case repo::TensorChangeKind::kRemoved:
        std::cout << "    - tensor " << t.name << "  " << Layout(t.old_dtype, t.old_shape) << "\n";
        break;
      case repo::TensorChangeKind::kLayout:
        std::cout << "    M tensor " << t.name << "  " << Layout(t.old_dtype, t.old_shape) << " -> "
                  << Layout(t.new_dtype, t.new_shape) << "\n";
        break;
      case repo::TensorChangeKind::kContent:
        std::cout << "    M tensor " << t.name << "  content changed (" << HumanBytes(t.new_bytes)
                  << ")\n";
        break;
    }
  }
  if (c.safetensors && c.tensors.empty()) {
    std::cout << (c.header_changed ? "    header changed, every tensor unchanged\n"
                                   : "    every tensor unchanged\n");
  }
}

int RunDiff(const HistoryArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  auto v1 = repo::ResolveVersionOrLive(**repo, a.v1);
  if (!v1.ok()) return Fail(v1.status());
  auto v2 = repo::ResolveVersionOrLive(**repo, a.v2);
  if (!v2.ok()) return Fail(v2.status());
  repo::DiffOptions options;
  options.tensors = !a.no_tensors;
  auto changes =
      repo::DiffTrees(**repo, v1->root, v2->root, a.path.empty() ? "/" : a.path, options);
  if (!changes.ok()) return Fail(changes.status());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : *changes) {
      nlohmann::json j = {{"change", repo::ChangeKindName(c.kind)},
                          {"old_type", TypeName(c.old_type)},
                          {"new_type", TypeName(c.new_type)},
                          {"old_size", c.old_size},
                          {"new_size", c.new_size}};
      // Names are bytes: one that is not UTF-8 also comes as path_base64 (cli/json_names.h).
      PutName(&j, "path", c.path);
      if (c.safetensors) {
        nlohmann::json tensors = nlohmann::json::array();
        for (const auto& t : c.tensors) {
          nlohmann::json tj = {{"change", repo::TensorChangeKindName(t.kind)},
                               {"old_dtype", t.old_dtype},
                               {"old_shape", t.old_shape},
                               {"old_bytes", t.old_bytes},
                               {"new_dtype", t.new_dtype},
                               {"new_shape", t.new_shape},
                               {"new_bytes", t.new_bytes}};
          PutName(&tj, "name", t.name);
          tensors.push_back(std::move(tj));
        }
        j["safetensors"] = {{"header_changed", c.header_changed}, {"tensors", tensors}};
      }
      out.push_back(std::move(j));
    }
    std::cout << nlohmann::json({{"from", v1->label}, {"to", v2->label}, {"changes", out}}).dump(2)
              << "\n";
    return kExitOk;
  }
  size_t counts[5] = {0, 0, 0, 0, 0}, tensors = 0;
  for (const auto& c : *changes) {
    PrintChange(c);
    counts[static_cast<size_t>(c.kind)]++;
    tensors += c.tensors.size();
  }
  std::cout << counts[0] << " added, " << counts[1] << " removed, " << counts[2] << " modified, "
            << counts[3] << " type changes, " << counts[4] << " metadata changes; " << tensors
            << " tensors changed (" << v1->label << " -> " << v2->label << ")\n";
  return kExitOk;
}

int RunRestore(const HistoryArgs& a) {
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  const std::string path = a.path.empty() ? "/" : a.path;
  if (a.to.empty()) {
    auto lock = LockLiveTree(repo->get(), "restore",
                             "Restore into a mounted repository by copying from MNT/.versions/, or "
                             "export with --to DEST");
    if (!lock.ok()) return Fail(lock.status());
    auto snap = repo::RestoreToLive(repo->get(), a.v1, path);
    Status released = (*lock)->Release();
    if (!snap.ok()) return Fail(snap.status());
    if (!released.ok()) return Fail(released);
    std::cout << "restored " << path << " into the live tree; snapshot " << ShortId(snap->id)
              << " (#" << snap->snapshot.seq << "): " << snap->snapshot.message << "\n";
    return kExitOk;
  }
  auto version = repo::ResolveVersionOrLive(**repo, a.v1);
  if (!version.ok()) return Fail(version.status());
  auto entry = repo::LookupPath(**repo, version->root, path);
  if (!entry.ok()) return Fail(entry.status());
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  std::string dest = a.to;
  uint64_t total = entry->size;
  if (entry->type == repo::EntryType::kDirectory) {
    total = 0;
    Status s =
        repo::WalkTree(**repo, entry->id, "/", [&](const std::string&, const repo::TreeEntry& e) {
          if (e.type == repo::EntryType::kFile) total += e.size;
          return Status::Ok();
        });
    if (!s.ok()) return Fail(s);
    fs::create_directories(dest, ec);
    if (ec) return Fail(IoError("creating " + dest + ": " + ec.message()));
  } else if (fs::is_directory(dest, ec)) {
    dest += "/" + path.substr(path.find_last_of('/') + 1);  // into an existing directory
  }
  Progress progress("restoring", total);
  uint64_t done = 0;
  Status s = repo::ExportEntry(
      **repo, *entry, dest, [&](uint64_t d) { progress.Update(d); }, &done);
  progress.Done();
  if (!s.ok()) return Fail(s);
  std::cout << "restored " << path << " of " << version->label << " to " << dest << " ("
            << HumanBytes(done) << ")\n";
  return kExitOk;
}

}  // namespace

void AddHistoryCommands(CLI::App* app, int* exit_code) {
  auto repo_arg = [](CLI::App* cmd, HistoryArgs* a) {
    cmd->add_option("REPO", a->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  };
  auto finish = [&](CLI::App* cmd, const std::shared_ptr<HistoryArgs>& a,
                    int (*run)(const HistoryArgs&)) {
    a->unlock.AddTo(cmd);
    cmd->callback([=] { *exit_code = run(*a); });
  };

  auto sa = std::make_shared<HistoryArgs>();
  CLI::App* snap = app->add_subcommand("snapshot", "Record a snapshot of the live tree (offline)");
  repo_arg(snap, sa.get());
  snap->add_option("-m,--message", sa->message, "Snapshot message");
  snap->add_option("--tag", sa->tag, "Also tag the snapshot");
  snap->add_flag("--force", sa->force, "Move the tag if it exists");
  snap->add_flag("--json", sa->json, "Print JSON");
  finish(snap, sa, RunSnapshot);

  auto ta = std::make_shared<HistoryArgs>();
  CLI::App* tag = app->add_subcommand(
      "tag", "Tag a snapshot: tag REPO VERSION NAME, tag --delete REPO NAME, tag --list REPO");
  tag->add_option("ARGS", ta->args, "REPO VERSION NAME | REPO NAME (--delete) | REPO (--list)")
      ->required()
      ->expected(1, 3);
  tag->add_flag("-d,--delete", ta->del, "Delete tag NAME");
  tag->add_flag("-l,--list", ta->list, "List the tags");
  tag->add_flag("-f,--force", ta->force, "Move an existing tag");
  tag->add_flag("--json", ta->json, "Print JSON (--list)");
  finish(tag, ta, RunTag);

  auto da = std::make_shared<HistoryArgs>();
  CLI::App* diff = app->add_subcommand(
      "diff", "Files (and safetensors tensors) that differ between two versions");
  repo_arg(diff, da.get());
  diff->add_option("V1", da->v1, "Version: snapshot id (prefix), tag, 'latest' or 'live'")
      ->required();
  diff->add_option("V2", da->v2, "Version to compare with")->required();
  diff->add_option("PATH", da->path, "Only below this repository path");
  diff->add_flag("--no-tensors", da->no_tensors, "Do not look into safetensors headers");
  diff->add_flag("--json", da->json, "Print JSON");
  finish(diff, da, RunDiff);

  auto ra = std::make_shared<HistoryArgs>();
  CLI::App* restore =
      app->add_subcommand("restore",
                          "Bring PATH (default everything) of VERSION back into the live tree as a "
                          "new snapshot, or export it --to DEST");
  repo_arg(restore, ra.get());
  restore->add_option("VERSION", ra->v1, "Snapshot id (prefix), tag or 'latest'")->required();
  restore->add_option("PATH", ra->path, "Repository path (default /)");
  restore->add_option("--to", ra->to,
                      "Export to this local path instead of changing the live tree");
  finish(restore, ra, RunRestore);

  AddRetentionCommands(app, exit_code);
}

}  // namespace weightfs::cli
