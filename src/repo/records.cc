#include "repo/records.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "repo/json_util.h"

namespace weightfs::repo {

Bytes EncodeMain(const MainRef& m) {
  Bytes out;
  PutU8(&out, m.live_roots.empty() ? 1 : 2);
  PutU8(&out, m.head.has_value());
  PutBytes(&out, m.head ? m.head->bytes() : ObjectId().bytes());
  PutU64(&out, m.head_seq);
  if (m.live_roots.empty()) {
    PutBytes(&out, m.live_root.bytes());
  } else {
    PutScopedRoots(&out, m.live_roots);
  }
  PutU64(&out, m.generation);
  return out;
}

Result<MainRef> DecodeMain(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v != 1 && v != 2) return Corruption("refs/main has unknown encoding " + std::to_string(v));
  MainRef m;
  ASSIGN_OR_RETURN(uint8_t has_head, r.U8());
  ASSIGN_OR_RETURN(ByteView head, r.Raw(ObjectId::kSize));
  ASSIGN_OR_RETURN(ObjectId h, ObjectId::FromBytes(head));
  // As EncodeMain writes it: the flag is 0 or 1, and without a head the id is zeros.
  if (has_head > 1 || (!has_head && !h.IsZero())) return Corruption("refs/main has a bad head");
  if (has_head) m.head = h;
  ASSIGN_OR_RETURN(m.head_seq, r.U64());
  if (v == 2) {
    ASSIGN_OR_RETURN(m.live_roots, GetScopedRoots(&r, "refs/main"));
  } else {
    ASSIGN_OR_RETURN(ByteView live, r.Raw(ObjectId::kSize));
    ASSIGN_OR_RETURN(m.live_root, ObjectId::FromBytes(live));
  }
  ASSIGN_OR_RETURN(m.generation, r.U64());
  if (!r.done()) return Corruption("refs/main has trailing bytes");
  return m;
}

Bytes EncodeTags(const std::map<std::string, ObjectId>& tags, uint64_t generation) {
  Bytes out;
  PutU8(&out, 2);
  PutU64(&out, generation);
  PutU32(&out, static_cast<uint32_t>(tags.size()));
  for (const auto& [name, id] : tags) {
    PutLengthPrefixed(&out, AsBytes(name));
    PutBytes(&out, id.bytes());
  }
  return out;
}

Result<std::map<std::string, ObjectId>> DecodeTags(ByteView data, uint64_t* generation) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v != 1 && v != 2) return Corruption("refs/tags has unknown encoding");
  *generation = 0;
  if (v == 2) {
    ASSIGN_OR_RETURN(*generation, r.U64());
  }
  ASSIGN_OR_RETURN(uint32_t n, r.U32());
  std::map<std::string, ObjectId> tags;
  for (uint32_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(std::string name, r.String());
    ASSIGN_OR_RETURN(ByteView id, r.Raw(ObjectId::kSize));
    // EncodeTags writes each name once, in order: anything else was not written by weightfs.
    if (!tags.empty() && !(tags.rbegin()->first < name))
      return Corruption("refs/tags has repeated or unsorted tags");
    ASSIGN_OR_RETURN(tags[name], ObjectId::FromBytes(id));
  }
  if (!r.done()) return Corruption("refs/tags has trailing bytes");
  return tags;
}

Bytes EncodePolicyRef(const ObjectId& id) {
  Bytes out;
  PutU8(&out, 1);
  PutBytes(&out, id.bytes());
  return out;
}

Result<ObjectId> DecodePolicyRef(ByteView data) {
  Reader r(data);
  ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v != 1) return Corruption("refs/policy has unknown encoding " + std::to_string(v));
  ASSIGN_OR_RETURN(ByteView idb, r.Raw(ObjectId::kSize));
  if (!r.done()) return Corruption("refs/policy has trailing bytes");
  return ObjectId::FromBytes(idb);
}

Bytes EncodeLeaseRecord(const LeaseInfo& info) {
  nlohmann::json roots = nlohmann::json::array();
  for (const ObjectId& r : info.roots) roots.push_back(r.Hex());
  nlohmann::json j = {{"kind", info.kind == LeaseKind::kRead ? "read" : "write"},
                      {"host", info.host},
                      {"pid", info.pid},
                      {"since", info.since},
                      {"what", info.what},
                      {"roots", roots}};
  if (info.renewed != 0) j["renewed"] = info.renewed;
  return ToBytes(j.dump() + "\n");
}

Result<LeaseInfo> DecodeLeaseRecord(const std::string& name, ByteView data) {
  LeaseInfo info;
  info.name = name;
  const auto bad = [&](const std::string& why) {
    return Corruption(name + " is not a lease record: " + why);
  };
  // nlohmann stops at a NUL byte: what follows one would pass unread.
  if (AsString(data).find('\0') != std::string_view::npos) return bad("it holds NUL bytes");
  try {
    nlohmann::json j = nlohmann::json::parse(AsString(data));
    info.kind = j.at("kind").get<std::string>() == "read" ? LeaseKind::kRead : LeaseKind::kWrite;
    info.host = j.at("host").get<std::string>();
    auto pid = json_util::IntegerIn<int>(j.at("pid"));
    auto since = json_util::IntegerIn<int64_t>(j.at("since"));
    if (!pid || !since) return bad("pid or since is not an integer in range");
    info.pid = *pid;
    info.since = *since;
    info.what = j.value("what", std::string());
    if (j.contains("renewed")) {
      auto renewed = json_util::IntegerIn<int64_t>(j.at("renewed"));
      if (!renewed) return bad("renewed is not an integer in range");
      info.renewed = *renewed;
    }
    const nlohmann::json& roots = j.at("roots");
    if (!roots.is_array()) return bad("roots is not a list");
    for (const auto& r : roots) {
      auto id = ObjectId::FromHex(r.get<std::string>());
      if (!id.ok()) return bad("a root is not an object id");
      info.roots.push_back(*id);
    }
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  return info;
}

LockRecord ParseLockRecord(const std::optional<Bytes>& data) {
  LockRecord out;
  if (!data) return out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(AsString(*data));
  } catch (const nlohmann::json::exception&) {
    return out;
  }
  if (!j.is_object()) return out;
  out.parsed = true;
  out.host = json_util::StringAt(j, "host").value_or("");
  out.pid = json_util::IntegerOr<int>(j, "pid", 0);
  out.time = json_util::IntegerOr<int64_t>(j, "time", 0);
  out.mountpoint = json_util::StringAt(j, "mountpoint");
  return out;
}

std::optional<SeqState> ParseSeqState(std::string_view text, std::string_view key) {
  const std::string prefix = "\n" + std::string(key) + " ";
  const size_t nl = text.find(prefix);
  if (!text.starts_with("seq ") || nl == std::string_view::npos || !text.ends_with('\n'))
    return std::nullopt;
  const std::string_view digits = text.substr(4, nl - 4);
  const size_t value_at = nl + prefix.size();
  if (value_at >= text.size()) return std::nullopt;
  std::string_view value = text.substr(value_at, text.size() - 1 - value_at);
  const bool hex =
      value.size() == 64 && value.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos || !(hex || value == "-")) {
    return std::nullopt;
  }
  SeqState out;
  for (char c : digits)
    out.seq = out.seq * 10 + static_cast<uint64_t>(c - '0');  // 19 digits fit 64 bits
  if (value != "-") out.value = std::string(value);
  return out;
}

std::multimap<std::string, std::string> ParseStateLines(std::string_view text) {
  std::multimap<std::string, std::string> out;
  std::istringstream in{std::string(text)};
  std::string key, value;
  while (in >> key >> value) out.emplace(key, value);
  return out;
}

}  // namespace weightfs::repo
