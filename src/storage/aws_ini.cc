// Parsing follows what botocore and the AWS SDKs accept of these files, minus what weightfs
// does not use (sso-session sections, multi-line values other than nested settings).
#include "storage/aws_ini.h"

#include <fcntl.h>
#include <string.h>  // NOLINT(modernize-deprecated-headers): explicit_bzero, not in <cstring>

#include "storage/posix_io.h"

namespace weightfs::storage::s3 {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsBlank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsBlank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A value ends where a '#' or ';' after a blank starts a comment.
std::string_view StripComment(std::string_view value) {
  for (size_t i = 1; i < value.size(); ++i) {
    if ((value[i] == '#' || value[i] == ';') && IsBlank(value[i - 1])) {
      return Trim(value.substr(0, i));
    }
  }
  return value;
}

Status LineError(const std::string& path, size_t line, std::string_view what) {
  return InvalidArgument(path + " line " + std::to_string(line) + ": " + std::string(what));
}

// Where the keys of the current section go: nowhere (a section weightfs does not read), a
// profile or a services section.
struct Cursor {
  AwsSection* section = nullptr;
  bool seen_section = false;
  std::string parent;  // a key with an empty value, which indented lines nest under
};

}  // namespace

AwsFile::~AwsFile() {
  for (auto* sections : {&profiles_, &services_}) {
    for (auto& [name, section] : *sections) {
      for (auto& [key, value] : section) explicit_bzero(value.data(), value.size());
    }
  }
}

namespace {

// "[profile x]" -> the section to fill (nullptr: skipped), or an error.
Result<AwsSection*> OpenSection(std::string_view line, AwsFileKind kind, const std::string& path,
                                size_t n, std::map<std::string, AwsSection>* profiles,
                                std::map<std::string, AwsSection>* services) {
  const size_t close = line.find(']');
  if (close == std::string_view::npos) {
    return LineError(path, n, "a section header has no ']'; write it as [NAME]");
  }
  const std::string_view rest = Trim(line.substr(close + 1));
  if (!rest.empty() && rest[0] != '#' && rest[0] != ';') {
    return LineError(path, n,
                     "text follows a section header's ']'; remove it or make it a comment");
  }
  const std::string_view name = Trim(line.substr(1, close - 1));
  if (name.empty()) return LineError(path, n, "a section header has no name; write [NAME]");
  if (kind == AwsFileKind::kCredentials) return &(*profiles)[std::string(name)];
  if (name == "default") return &(*profiles)["default"];
  for (auto [word, map] : {std::pair{std::string_view("profile"), profiles},
                           std::pair{std::string_view("services"), services}}) {
    if (name.size() > word.size() && name.substr(0, word.size()) == word &&
        IsBlank(name[word.size()])) {
      const std::string_view section_name = Trim(name.substr(word.size()));
      return &(*map)[std::string(section_name)];
    }
  }
  return nullptr;  // sso-session and other sections weightfs does not read
}

Status AddSetting(std::string_view line, bool indented, const std::string& path, size_t n,
                  Cursor* cursor) {
  const size_t eq = line.find('=');
  if (eq == std::string_view::npos) {
    return LineError(path, n,
                     "the line is neither a [section], a 'key = value' setting nor a comment; fix "
                     "or remove it");
  }
  if (!cursor->seen_section) {
    return LineError(path, n, "a setting comes before any [section]; put it under one");
  }
  const std::string key = Lower(Trim(line.substr(0, eq)));
  if (key.empty()) return LineError(path, n, "a setting has no name before '='; add one");
  const std::string_view value = StripComment(Trim(line.substr(eq + 1)));
  if (cursor->section == nullptr) return Status::Ok();
  if (indented && !cursor->parent.empty()) {
    (*cursor->section)[cursor->parent + "." + key] = std::string(value);
    return Status::Ok();
  }
  (*cursor->section)[key] = std::string(value);
  cursor->parent = value.empty() ? key : "";
  return Status::Ok();
}

}  // namespace

Result<AwsFile> ParseAwsFile(std::string_view text, AwsFileKind kind, const std::string& path) {
  AwsFile file;
  file.exists = true;
  Cursor cursor;
  size_t n = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++n;
    const std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      ASSIGN_OR_RETURN(cursor.section,
                       OpenSection(line, kind, path, n, &file.profiles_, &file.services_));
      cursor.seen_section = true;
      cursor.parent.clear();
      continue;
    }
    RETURN_IF_ERROR(AddSetting(line, IsBlank(raw[0]), path, n, &cursor));
  }
  return file;
}

Result<AwsFile> LoadAwsFile(const std::string& path, AwsFileKind kind, std::string_view variable) {
  if (path.empty()) return AwsFile();
  Result<UniqueFd> fd = OpenFile(path, O_RDONLY);
  if (!fd.ok() && fd.status().code() == Code::kNotFound) return AwsFile();
  Result<Bytes> text = fd.ok() ? ReadToEnd(fd->get(), path) : Result<Bytes>(fd.status());
  if (!text.ok()) {
    return Status(text.status().code(), "cannot read the AWS file " + path + " (" +
                                            text.status().message() + "); fix it or set " +
                                            std::string(variable) + " to another file");
  }
  Result<AwsFile> file = ParseAwsFile(AsString(*text), kind, path);
  explicit_bzero(text->data(), text->size());
  return file;
}

}  // namespace weightfs::storage::s3
