// weightfs import, export, ls, cat.
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/json_names.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/import_export.h"
#include "weightfs/repo/tree_ops.h"

namespace weightfs::cli {
namespace {

// The name of the snapshot directory at a mount's root (vfs::VersionsView::kName).
constexpr const char* kVersionsName = ".versions";

struct DataArgs {
  std::string repo;
  UnlockOptions unlock;
  std::string src;
  std::string to;
  std::string message;
  std::string version = "latest";
  std::string path;
  std::string dest;
  bool long_format = false;
  bool recursive = false;
  bool json = false;
};

// The entry at path in a version ("live", "latest", a tag or a snapshot id) of an unlocked
// repository: what ls, cat and export start from.
struct Located {
  std::unique_ptr<repo::Repository> repo;
  repo::TreeEntry entry;
};
Result<Located> Locate(const DataArgs& a, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<repo::Repository> repo, OpenRepository(a.repo, a.unlock));
  ASSIGN_OR_RETURN(repo::ResolvedVersion version, repo::ResolveVersionOrLive(*repo, a.version));
  ASSIGN_OR_RETURN(repo::TreeEntry entry, repo::LookupPath(*repo, version.root, path));
  return Located{std::move(repo), std::move(entry)};
}

// Whether src (a directory when src_is_dir) may be imported to the repository path parts.
Status CheckImportTarget(const std::string& src, bool src_is_dir,
                         const std::vector<std::string>& parts) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  if (parts.empty() && !src_is_dir)
    return InvalidArgument("a file cannot replace the repository root; use --to PATH");
  // A mount shows its snapshots as .versions at its root (hidden from listings, and in the way of
  // any entry of that name, which would be hidden or unreachable there): refused, not stored.
  if (!parts.empty() && parts[0] == kVersionsName) {
    return InvalidArgument(
        "cannot import to " + repo::JoinPath(parts) + ": " + kVersionsName +
        " at the repository root is reserved for the snapshots a mount shows there; "
        "choose another --to");
  }
  if (parts.empty() && fs::exists(fs::symlink_status(fs::path(src) / kVersionsName, ec))) {
    return InvalidArgument(
        (fs::path(src) / kVersionsName).string() + " would become /" + kVersionsName +
        ", which is reserved for the snapshots a mount shows at its root (it would be "
        "hidden there); rename it, or import with --to a directory below the root");
  }
  return Status::Ok();
}

int RunImport(const DataArgs& a) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  if (!fs::exists(fs::symlink_status(a.src, ec)))
    return Fail(NotFound(a.src + ": no such file or directory"));
  auto repo = OpenRepository(a.repo, a.unlock);
  if (!repo.ok()) return Fail(repo.status());
  const bool src_is_dir = fs::is_directory(fs::symlink_status(a.src, ec));
  std::string to = a.to;
  if (to.empty() && !src_is_dir) to = fs::path(a.src).filename().string();
  auto parts = repo::SplitPath(to);
  if (!parts.ok()) return Fail(parts.status());
  if (Status s = CheckImportTarget(a.src, src_is_dir, *parts); !s.ok()) return Fail(s);

  // The live tree changes only under the writer lock, which a read-write mount holds (it would
  // replace the live tree with its own on its next commit): checked now, so that a mounted
  // repository is refused before the work, and held for the commit.
  const std::string advice =
      "Import into a mounted repository by copying into the mount (cp -a SRC MNT/PATH)";
  auto check = LockLiveTree(repo->get(), "import", advice);
  if (!check.ok()) return Fail(check.status());
  if (Status released = (*check)->Release(); !released.ok()) return Fail(released);
  auto total = repo::LocalSize(a.src);
  if (!total.ok()) return Fail(total.status());
  Progress progress("importing", *total);
  repo::ImportStats stats;
  auto entry = repo::ImportPath(repo->get(), a.src, repo::JoinPath(*parts), &stats,
                                [&](uint64_t done) { progress.Update(done); });
  progress.Done();
  if (!entry.ok()) return Fail(entry.status());

  // Graft onto the live tree and record a snapshot (regrafted if a concurrent writer moves it).
  std::string message =
      !a.message.empty() ? a.message
      // Every key slot reads snapshot messages: with scopes the default one names no path.
      : (*repo)->objects().scoped()
          ? "import into scope " + (*repo)->objects().ScopeOf(repo::JoinPath(*parts))
          : "import " + a.src + " to " + repo::JoinPath(*parts);
  auto lock = LockLiveTree(repo->get(), "import", advice);
  if (!lock.ok()) return Fail(lock.status());
  auto snap = (*repo)->CommitSnapshot(
      [&](const repo::MainRef& main) {
        return repo::PutAtPath(repo->get(), main.live_root, *parts, *entry);
      },
      message);
  if (!snap.ok()) return Fail(snap.status());
  if (Status released = (*lock)->Release(); !released.ok()) return Fail(released);
  std::cout << "imported " << stats.files << " files, " << HumanBytes(stats.bytes) << " ("
            << HumanBytes(stats.new_bytes) << " new) to " << repo::JoinPath(*parts) << "; snapshot "
            << ShortId(snap->id) << "\n";
  return kExitOk;
}

std::string TypeChar(repo::EntryType t) {
  switch (t) {
    case repo::EntryType::kDirectory:
      return "d";
    case repo::EntryType::kSymlink:
      return "l";
    case repo::EntryType::kFile:
      return "-";
    case repo::EntryType::kFifo:
      return "p";
    case repo::EntryType::kSocket:
      return "s";
    case repo::EntryType::kCharDevice:
      return "c";
    case repo::EntryType::kBlockDevice:
      return "b";
  }
  return "?";
}

std::string ModeString(const repo::TreeEntry& e) {
  std::string s = TypeChar(e.type);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (e.mode & (0400 >> i)) ? rwx[i] : '-';
  return s;
}

int RunLs(const DataArgs& a) {
  auto parts = repo::SplitPath(a.path);
  if (!parts.ok()) return Fail(parts.status());
  const std::string base = repo::JoinPath(*parts);
  auto located = Locate(a, base);
  if (!located.ok()) return Fail(located.status());
  auto* repo = &located->repo;
  auto* entry = &located->entry;

  nlohmann::json json_out = nlohmann::json::array();
  auto print = [&](const std::string& path, const repo::TreeEntry& e) {
    if (a.json) {
      nlohmann::json j = {{"type", repo::EntryTypeName(e.type)},
                          {"mode", e.mode},
                          {"size", e.size},
                          {"mtime_ns", e.mtime_ns}};
      // Names are bytes: one that is not UTF-8 also comes as path_base64 (cli/json_names.h).
      PutName(&j, "path", path);
      if (e.type == repo::EntryType::kSymlink) PutName(&j, "target", e.target);
      json_out.push_back(j);
      return;
    }
    std::string shown = a.recursive ? path : path.substr(path.find_last_of('/') + 1);
    if (shown.empty()) shown = path;
    if (a.long_format) {
      std::printf("%s %12llu %s %s", ModeString(e).c_str(), static_cast<unsigned long long>(e.size),
                  FormatTimeNs(e.mtime_ns).c_str(), shown.c_str());
      if (e.type == repo::EntryType::kSymlink) std::printf(" -> %s", e.target.c_str());
      std::printf("\n");
    } else {
      std::printf("%s%s\n", shown.c_str(), e.type == repo::EntryType::kDirectory ? "/" : "");
    }
  };
  Status s;
  if (entry->type != repo::EntryType::kDirectory) {
    print(base, *entry);
  } else if (a.recursive) {
    s = repo::WalkTree(**repo, entry->id, base,
                       [&](const std::string& p, const repo::TreeEntry& e) {
                         print(p, e);
                         return Status::Ok();
                       });
  } else {
    auto tree = (*repo)->objects().LoadTree(entry->id);
    if (!tree.ok()) return Fail(tree.status().WithContext(base));
    for (const auto& e : tree->entries) print((base == "/" ? "" : base) + "/" + e.name, e);
  }
  if (!s.ok()) return Fail(s);
  if (a.json) std::cout << json_out.dump(2) << "\n";
  return kExitOk;
}

int RunCat(const DataArgs& a) {
  auto located = Locate(a, a.path);
  if (!located.ok()) return Fail(located.status());
  auto* repo = &located->repo;
  auto* entry = &located->entry;
  if (entry->type == repo::EntryType::kDirectory)
    return Fail(IsDirectory(a.path + " is a directory"));
  if (entry->type == repo::EntryType::kSymlink) {
    std::cout << entry->target;
    return kExitOk;
  }
  auto file = (*repo)->objects().LoadFile(entry->id);
  if (!file.ok()) return Fail(file.status().WithContext(a.path));
  // Chunks are decrypted ahead of the writes to standard output.
  repo::ChunkReader chunks(repo->get(), repo::ChunkReader::Options{64 << 20, 2, nullptr});
  repo::FileReader reader(repo->get(), std::move(file).value(), &chunks);
  Status s = reader.WriteTo(1, "standard output", nullptr);
  if (!s.ok()) return Fail(s.WithContext(a.path));
  return kExitOk;
}

int RunExport(const DataArgs& a) {
  auto located = Locate(a, a.path);
  if (!located.ok()) return Fail(located.status());
  auto* repo = &located->repo;
  auto* entry = &located->entry;
  uint64_t total = 0;
  if (entry->type == repo::EntryType::kDirectory) {
    Status s =
        repo::WalkTree(**repo, entry->id, "/", [&](const std::string&, const repo::TreeEntry& e) {
          if (e.type == repo::EntryType::kFile) total += e.size;
          return Status::Ok();
        });
    if (!s.ok()) return Fail(s);
    boost::system::error_code ec;
    boost::filesystem::create_directories(a.dest, ec);
    if (ec) return Fail(IoError("creating " + a.dest + ": " + ec.message()));
  } else {
    total = entry->size;
  }
  Progress progress("exporting", total);
  uint64_t done = 0;
  Status s = repo::ExportEntry(
      **repo, *entry, a.dest, [&](uint64_t d) { progress.Update(d); }, &done);
  progress.Done();
  if (!s.ok()) return Fail(s);
  std::cout << "exported " << HumanBytes(done) << " to " << a.dest << "\n";
  return kExitOk;
}

}  // namespace

void AddDataCommands(CLI::App* app, int* exit_code) {
  auto version_opt = [](CLI::App* cmd, DataArgs* a) {
    cmd->add_option(
        "--version", a->version,
        "Snapshot id (or unique prefix of >= 8 hex digits), tag, 'latest' (default) or 'live'");
  };
  auto ia = std::make_shared<DataArgs>();
  CLI::App* import = app->add_subcommand(
      "import", "Encrypt a local file or directory into the repository and record a snapshot");
  import->add_option("REPO", ia->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
  import->add_option("SRC", ia->src, "Local file or directory")->required();
  import->add_option(
      "--to", ia->to,
      "Repository path to replace (default: the root for a directory, /NAME for a file)");
  import->add_option("-m,--message", ia->message, "Snapshot message");
  ia->unlock.AddTo(import);
  import->callback([=] { *exit_code = RunImport(*ia);
});

auto la = std::make_shared<DataArgs>();
CLI::App* ls = app->add_subcommand("ls", "List a directory of the repository");
ls->add_option("REPO", la->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
ls->add_option("PATH", la->path, "Repository path (default /)");
ls->add_flag("-l", la->long_format, "Long format: type, mode, size, time");
ls->add_flag("-r,--recursive", la->recursive, "List everything below PATH");
ls->add_flag("--json", la->json, "Print JSON");
version_opt(ls, la.get());
la->unlock.AddTo(ls);
ls->callback([=] { *exit_code = RunLs(*la); });

auto ca = std::make_shared<DataArgs>();
CLI::App* cat = app->add_subcommand("cat", "Write a file of the repository to standard output");
cat->add_option("REPO", ca->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
cat->add_option("PATH", ca->path, "Repository path")->required();
version_opt(cat, ca.get());
ca->unlock.AddTo(cat);
cat->callback([=] { *exit_code = RunCat(*ca); });

auto ea = std::make_shared<DataArgs>();
CLI::App* exp =
    app->add_subcommand("export", "Decrypt the repository (or --path) into a local directory");
exp->add_option("REPO", ea->repo, "Repository directory or s3://BUCKET[/PREFIX]")->required();
exp->add_option("DEST", ea->dest, "Local destination (created when missing)")->required();
exp->add_option("--path", ea->path, "Repository path to export (default /)");
version_opt(exp, ea.get());
ea->unlock.AddTo(exp);
exp->callback([=] { *exit_code = RunExport(*ea); });
}  // namespace weightfs::cli

}  // namespace weightfs::cli
