// The little XML S3 answers with (ListObjectsV2 results and <Error> documents), read without an
// XML library. The input comes from a server and may be anything: every malformed document is
// kCorruption, nesting and element counts are bounded, and every loop consumes input, so no
// input crashes the reader or makes it loop. Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "weightfs/core/status.h"

namespace weightfs::storage::s3 {

// An element: its local name (a namespace prefix dropped), its text (entities decoded, CDATA
// kept, the text of its child elements excluded) and its child elements. Attributes are skipped.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named name, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // The text of the first child named name; empty when there is none.
  std::string ChildText(std::string_view child_name) const;
};

inline constexpr int kMaxXmlDepth = 32;
inline constexpr size_t kMaxXmlElements = 200000;

// The document's root element. kCorruption naming what is wrong for malformed input.
Result<XmlElement> ParseXml(std::string_view doc);

struct ListEntry {
  std::string key;
  uint64_t size = 0;
  std::string last_modified;
};

// One page of a ListObjectsV2 answer.
struct ListPage {
  std::vector<ListEntry> contents;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_token;
};

// kCorruption for anything but a <ListBucketResult> whose sizes are numbers and which names a
// continuation token when it says it is truncated.
Result<ListPage> ParseListObjectsV2(std::string_view doc);

// An S3 <Error> document's fields; all empty when the body is not one (HEAD answers have none).
struct S3Error {
  std::string code;
  std::string message;
  std::string region;
};
S3Error ParseS3Error(std::string_view doc);

}  // namespace weightfs::storage::s3
