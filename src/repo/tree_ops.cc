#include "weightfs/repo/tree_ops.h"

#include <algorithm>

namespace weightfs::repo {

Result<std::vector<std::string>> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    if (!part.empty()) {
      if (part == "." || part == "..")
        return InvalidArgument("path '" + path + "' contains '.' or '..'");
      RETURN_IF_ERROR(ValidateName(part));
      out.push_back(std::move(part));
    }
    pos = next + 1;
  }
  return out;
}

std::string JoinPath(const std::vector<std::string>& components) {
  if (components.empty()) return "/";
  std::string out;
  for (const auto& c : components) out += "/" + c;
  return out;
}

Result<TreeEntry> LookupPath(const Repository& repo, const ObjectId& root,
                             const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  TreeEntry cur;
  cur.type = EntryType::kDirectory;
  cur.mode = 0755;
  cur.id = root;
  std::string walked;
  for (const std::string& name : parts) {
    if (cur.type != EntryType::kDirectory) return NotDirectory(walked + " is not a directory");
    ASSIGN_OR_RETURN(TreeObject tree, repo.objects().LoadTree(cur.id));
    walked += "/" + name;
    const TreeEntry* e = tree.Find(name);
    if (!e) return NotFound(walked + ": no such file or directory");
    cur = *e;
  }
  return cur;
}

namespace {

Result<ObjectId> PutRec(Repository* repo, const std::optional<ObjectId>& dir,
                        const std::vector<std::string>& path, size_t depth, TreeEntry& entry) {
  TreeObject tree;
  if (dir) {
    ASSIGN_OR_RETURN(tree, repo->objects().LoadTree(*dir));
  }
  const std::string& name = path[depth];
  auto it = std::lower_bound(tree.entries.begin(), tree.entries.end(), name,
                             [](const TreeEntry& e, const std::string& n) { return e.name < n; });
  const bool exists = it != tree.entries.end() && it->name == name;
  if (depth + 1 == path.size()) {
    entry.name = name;
    if (exists) {
      *it = entry;
    } else {
      tree.entries.insert(it, entry);
    }
  } else {
    std::optional<ObjectId> child;
    if (exists) {
      if (it->type != EntryType::kDirectory) {
        return NotDirectory(JoinPath({path.begin(), path.begin() + depth + 1}) +
                            " is not a directory");
      }
      child = it->id;
    }
    ASSIGN_OR_RETURN(ObjectId new_child, PutRec(repo, child, path, depth + 1, entry));
    if (exists) {
      it->id = new_child;
    } else {
      TreeEntry d;
      d.name = name;
      d.type = EntryType::kDirectory;
      d.mode = 0755;
      d.mtime_ns = entry.mtime_ns;
      d.id = new_child;
      tree.entries.insert(it, d);
    }
  }
  return repo->objects().PutTree(tree, JoinPath({path.begin(), path.begin() + depth}), dir);
}

}  // namespace

Result<ObjectId> PutAtPath(Repository* repo, const ObjectId& root,
                           const std::vector<std::string>& path, TreeEntry entry) {
  if (path.empty()) {
    if (entry.type != EntryType::kDirectory)
      return IsDirectory("cannot replace the root with a file");
    return entry.id;
  }
  return PutRec(repo, root, path, 0, entry);
}

Status WalkTree(const Repository& repo, const ObjectId& root, const std::string& prefix,
                const std::function<Status(const std::string&, const TreeEntry&)>& fn) {
  ASSIGN_OR_RETURN(TreeObject tree, repo.objects().LoadTree(root));
  for (const TreeEntry& e : tree.entries) {
    std::string path = (prefix == "/" ? "" : prefix) + "/" + e.name;
    RETURN_IF_ERROR(fn(path, e));
    if (e.type == EntryType::kDirectory) RETURN_IF_ERROR(WalkTree(repo, e.id, path, fn));
  }
  return Status::Ok();
}

}  // namespace weightfs::repo
