// DiffTrees: the changes between two trees, down to the tensors of safetensors files. See
// history.h.
#include <algorithm>
#include <map>

#include "repo/history_internal.h"
#include "weightfs/repo/file_io.h"
#include "weightfs/repo/history.h"
#include "weightfs/repo/safetensors.h"

namespace weightfs::repo {
namespace {

constexpr uint64_t kComparePiece = 4 << 20;

struct ParsedFile {
  FileObject file;
  std::vector<uint64_t> starts;  // starts[i] = offset of chunk i
  std::optional<SafetensorsHeader> header;
  Bytes header_bytes;
};

// Loads a file object and, if its first bytes are a well-formed safetensors header whose tensors
// lie inside the file, the header. Only the frames holding the header are decrypted.
Result<ParsedFile> LoadParsed(const Repository& repo, const ObjectId& id) {
  ParsedFile p;
  ASSIGN_OR_RETURN(p.file, repo.objects().LoadFile(id));
  uint64_t pos = 0;
  for (const ChunkRef& c : p.file.chunks) {
    p.starts.push_back(pos);
    pos += c.size;
  }
  FileReader reader(&repo, p.file);
  Bytes probe;
  RETURN_IF_ERROR(reader.ReadAt(0, kSafetensorsProbeSize, &probe));
  std::optional<uint64_t> end = SafetensorsHeaderEnd(probe);
  if (!end || *end > p.file.size) return p;
  RETURN_IF_ERROR(reader.ReadAt(0, *end, &p.header_bytes));
  auto header = ParseSafetensorsHeader(p.header_bytes);
  if (!header.ok()) return p;  // looks like safetensors but is not: compared as a plain file
  for (const TensorInfo& t : header->tensors) {
    if (t.end > p.file.size) return p;
  }
  p.header = std::move(header).value();
  return p;
}

// The chunks covering [begin, end) of a file, how far into the first one the range starts, and
// whether the range starts and ends exactly at chunk boundaries.
struct Coverage {
  std::vector<ChunkRef> chunks;
  uint64_t skip = 0;
  bool aligned = true;
  bool holes = false;  // a hole and a chunk of zeros hold the same bytes under different refs
};

Coverage Cover(const ParsedFile& p, uint64_t begin, uint64_t end) {
  Coverage c;
  if (begin >= end) return c;
  size_t i = std::upper_bound(p.starts.begin(), p.starts.end(), begin) - p.starts.begin() - 1;
  c.skip = begin - p.starts[i];
  uint64_t covered_end = 0;
  for (; i < p.file.chunks.size() && p.starts[i] < end; ++i) {
    c.chunks.push_back(p.file.chunks[i]);
    c.holes = c.holes || p.file.chunks[i].hole;
    covered_end = p.starts[i] + p.file.chunks[i].size;
  }
  c.aligned = c.skip == 0 && covered_end == end;
  return c;
}

// Whether two equally long byte ranges of two files hold the same bytes: by chunk ids where
// that decides, else by reading both.
Result<bool> SameRange(const Repository& repo, const ParsedFile& a, const TensorInfo& ta,
                       const ParsedFile& b, const TensorInfo& tb) {
  const Coverage ca = Cover(a, ta.begin, ta.end), cb = Cover(b, tb.begin, tb.end);
  if (ca.skip == cb.skip && ca.chunks == cb.chunks) return true;
  if (ca.aligned && cb.aligned && !ca.holes && !cb.holes)
    return false;  // content-addressed chunks: different ids, different bytes
  FileReader ra(&repo, a.file), rb(&repo, b.file);
  Bytes xa, xb;
  for (uint64_t off = 0; off < ta.end - ta.begin; off += kComparePiece) {
    const uint64_t n = std::min(kComparePiece, ta.end - ta.begin - off);
    RETURN_IF_ERROR(ra.ReadAt(ta.begin + off, n, &xa));
    RETURN_IF_ERROR(rb.ReadAt(tb.begin + off, n, &xb));
    if (xa != xb) return false;
  }
  return true;
}

Status DiffTensors(const Repository& repo, const ObjectId& old_id, const ObjectId& new_id,
                   FileChange* change) {
  ASSIGN_OR_RETURN(ParsedFile a, LoadParsed(repo, old_id));
  ASSIGN_OR_RETURN(ParsedFile b, LoadParsed(repo, new_id));
  if (!a.header || !b.header) return Status::Ok();
  change->safetensors = true;
  change->header_changed = a.header_bytes != b.header_bytes;
  std::map<std::string, const TensorInfo*> old_by_name, new_by_name;
  for (const TensorInfo& t : a.header->tensors) old_by_name[t.name] = &t;
  for (const TensorInfo& t : b.header->tensors) new_by_name[t.name] = &t;
  auto fill_old = [](TensorChange* c, const TensorInfo& t) {
    c->old_dtype = t.dtype;
    c->old_shape = t.shape;
    c->old_bytes = t.end - t.begin;
  };
  auto fill_new = [](TensorChange* c, const TensorInfo& t) {
    c->new_dtype = t.dtype;
    c->new_shape = t.shape;
    c->new_bytes = t.end - t.begin;
  };
  std::map<std::string, TensorChange> changes;
  for (const auto& [name, t] : old_by_name) {
    auto it = new_by_name.find(name);
    TensorChange c;
    c.name = name;
    fill_old(&c, *t);
    if (it == new_by_name.end()) {
      c.kind = TensorChangeKind::kRemoved;
      changes[name] = std::move(c);
      continue;
    }
    const TensorInfo& n = *it->second;
    fill_new(&c, n);
    if (t->dtype != n.dtype || t->shape != n.shape || t->end - t->begin != n.end - n.begin) {
      c.kind = TensorChangeKind::kLayout;
      changes[name] = std::move(c);
      continue;
    }
    ASSIGN_OR_RETURN(bool same, SameRange(repo, a, *t, b, n));
    if (!same) {
      c.kind = TensorChangeKind::kContent;
      changes[name] = std::move(c);
    }
  }
  for (const auto& [name, t] : new_by_name) {
    if (old_by_name.count(name) > 0) continue;
    TensorChange c;
    c.name = name;
    c.kind = TensorChangeKind::kAdded;
    fill_new(&c, *t);
    changes[name] = std::move(c);
  }
  for (auto& [name, c] : changes) change->tensors.push_back(std::move(c));
  return Status::Ok();
}

class Differ {
 public:
  Differ(const Repository& repo, const DiffOptions& options) : repo_(repo), options_(options) {}

  Status Entry(const std::string& path, const std::optional<TreeEntry>& a,
               const std::optional<TreeEntry>& b) {
    if (!a && !b) return Status::Ok();
    if (!b) return Whole(path, *a, ChangeKind::kRemoved);
    if (!a) return Whole(path, *b, ChangeKind::kAdded);
    if (a->type != b->type) {
      FileChange c = Base(path, ChangeKind::kTypeChanged, a, b);
      out_.push_back(std::move(c));
      if (a->type == EntryType::kDirectory) RETURN_IF_ERROR(Below(path, *a, ChangeKind::kRemoved));
      if (b->type == EntryType::kDirectory) RETURN_IF_ERROR(Below(path, *b, ChangeKind::kAdded));
      return Status::Ok();
    }
    switch (a->type) {
      case EntryType::kDirectory: {
        // A directory's mtime follows every change inside it: only mode and xattrs count.
        if (a->mode != b->mode || a->xattrs != b->xattrs || !SameOwner(*a, *b))
          out_.push_back(Base(path, ChangeKind::kMetadata, a, b));
        if (a->id == b->id) return Status::Ok();
        return Children(path, a->id, b->id);
      }
      case EntryType::kFile: {
        if (a->id == b->id) return MaybeMetadata(path, *a, *b);
        FileChange c = Base(path, ChangeKind::kModified, a, b);
        if (options_.tensors)
          RETURN_IF_ERROR(DiffTensors(repo_, a->id, b->id, &c).WithContext(path));
        out_.push_back(std::move(c));
        return Status::Ok();
      }
      default: {  // symlinks, and special files (a device's number is its content)
        if (a->target == b->target && a->rdev == b->rdev) return MaybeMetadata(path, *a, *b);
        out_.push_back(Base(path, ChangeKind::kModified, a, b));
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  std::vector<FileChange>& changes() { return out_; }

 private:
  static FileChange Base(const std::string& path, ChangeKind kind,
                         const std::optional<TreeEntry>& a, const std::optional<TreeEntry>& b) {
    FileChange c;
    c.path = path;
    c.kind = kind;
    if (a) {
      c.old_type = a->type;
      c.old_size = a->size;
    }
    if (b) {
      c.new_type = b->type;
      c.new_size = b->size;
    }
    return c;
  }

  static bool SameOwner(const TreeEntry& a, const TreeEntry& b) {
    return a.has_owner == b.has_owner && a.uid == b.uid && a.gid == b.gid;
  }

  Status MaybeMetadata(const std::string& path, const TreeEntry& a, const TreeEntry& b) {
    if (a.mode != b.mode || a.mtime_ns != b.mtime_ns || a.xattrs != b.xattrs || !SameOwner(a, b)) {
      out_.push_back(Base(path, ChangeKind::kMetadata, a, b));
    }
    return Status::Ok();
  }

  // An entry (and for a directory, everything below it) added or removed.
  Status Whole(const std::string& path, const TreeEntry& e, ChangeKind kind) {
    out_.push_back(kind == ChangeKind::kAdded ? Base(path, kind, std::nullopt, e)
                                              : Base(path, kind, e, std::nullopt));
    if (e.type == EntryType::kDirectory) return Below(path, e, kind);
    return Status::Ok();
  }

  Status Below(const std::string& path, const TreeEntry& dir, ChangeKind kind) {
    return WalkTree(repo_, dir.id, path, [&](const std::string& p, const TreeEntry& e) {
      out_.push_back(kind == ChangeKind::kAdded ? Base(p, kind, std::nullopt, e)
                                                : Base(p, kind, e, std::nullopt));
      return Status::Ok();
    });
  }

  // Merges two directories' sorted entries.
  Status Children(const std::string& path, const ObjectId& a, const ObjectId& b) {
    ASSIGN_OR_RETURN(TreeObject ta, repo_.objects().LoadTree(a));
    ASSIGN_OR_RETURN(TreeObject tb, repo_.objects().LoadTree(b));
    const std::string prefix = path == "/" ? "" : path;
    size_t i = 0, j = 0;
    while (i < ta.entries.size() || j < tb.entries.size()) {
      std::optional<TreeEntry> ea, eb;
      if (j == tb.entries.size() ||
          (i < ta.entries.size() && ta.entries[i].name < tb.entries[j].name)) {
        ea = ta.entries[i++];
      } else if (i == ta.entries.size() || tb.entries[j].name < ta.entries[i].name) {
        eb = tb.entries[j++];
      } else {
        ea = ta.entries[i++];
        eb = tb.entries[j++];
      }
      const std::string& name = ea ? ea->name : eb->name;
      RETURN_IF_ERROR(Entry(prefix + "/" + name, ea, eb));
    }
    return Status::Ok();
  }

  const Repository& repo_;
  const DiffOptions& options_;
  std::vector<FileChange> out_;
};

}  // namespace

Result<std::vector<FileChange>> DiffTrees(const Repository& repo, const ObjectId& a,
                                          const ObjectId& b, const std::string& path,
                                          const DiffOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  const std::string normalized = JoinPath(parts);
  ASSIGN_OR_RETURN(std::optional<TreeEntry> ea, history_internal::FindEntry(repo, a, normalized));
  ASSIGN_OR_RETURN(std::optional<TreeEntry> eb, history_internal::FindEntry(repo, b, normalized));
  if (!ea && !eb) return NotFound(normalized + " exists in neither version");
  Differ differ(repo, options);
  RETURN_IF_ERROR(differ.Entry(normalized, ea, eb));
  return std::move(differ.changes());
}

}  // namespace weightfs::repo
