#include "storage/s3_xml.h"

#include <charconv>
#include <utility>

namespace weightfs::storage::s3 {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

Status Malformed(const std::string& why) { return Corruption("S3 sent malformed XML: " + why); }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Decodes one entity body (between '&' and ';').
Status DecodeEntity(std::string_view entity, std::string* out) {
  if (entity == "lt") return out->push_back('<'), Status::Ok();
  if (entity == "gt") return out->push_back('>'), Status::Ok();
  if (entity == "amp") return out->push_back('&'), Status::Ok();
  if (entity == "quot") return out->push_back('"'), Status::Ok();
  if (entity == "apos") return out->push_back('\''), Status::Ok();
  if (entity.size() < 2 || entity[0] != '#') {
    return Malformed("unknown entity &" + std::string(entity) + ";");
  }
  const bool hex = entity[1] == 'x' || entity[1] == 'X';
  std::string_view digits = entity.substr(hex ? 2 : 1);
  uint32_t cp = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || cp == 0 ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return Malformed("bad character reference &" + std::string(entity) + ";");
  }
  AppendUtf8(cp, out);
  return Status::Ok();
}

Status AppendDecoded(std::string_view raw, std::string* out) {
  size_t i = 0;
  while (i < raw.size()) {
    size_t amp = raw.find('&', i);
    if (amp == std::string_view::npos) {
      out->append(raw.substr(i));
      break;
    }
    out->append(raw.substr(i, amp - i));
    size_t semi = raw.find(';', amp);
    if (semi == std::string_view::npos || semi - amp > 12) return Malformed("unterminated entity");
    RETURN_IF_ERROR(DecodeEntity(raw.substr(amp + 1, semi - amp - 1), out));
    i = semi + 1;
  }
  return Status::Ok();
}

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  Result<XmlElement> Document() {
    RETURN_IF_ERROR(SkipMisc());
    if (!At("<")) return Malformed("no root element");
    XmlElement root;
    RETURN_IF_ERROR(Element(0, &root));
    RETURN_IF_ERROR(SkipMisc());
    if (pos_ != doc_.size()) return Malformed("content after the root element");
    return root;
  }

 private:
  bool At(std::string_view s) const { return doc_.substr(pos_).starts_with(s); }

  // Moves past the next `end`; an error when there is none.
  Status SkipPast(std::string_view end) {
    size_t found = doc_.find(end, pos_);
    if (found == std::string_view::npos) return Malformed("missing '" + std::string(end) + "'");
    pos_ = found + end.size();
    return Status::Ok();
  }

  // Whitespace, declarations, comments and a DOCTYPE (without an internal subset).
  Status SkipMisc() {
    for (;;) {
      while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
      if (At("<?")) {
        RETURN_IF_ERROR(SkipPast("?>"));
      } else if (At("<!--")) {
        RETURN_IF_ERROR(SkipPast("-->"));
      } else if (At("<!")) {
        RETURN_IF_ERROR(SkipPast(">"));
      } else {
        return Status::Ok();
      }
    }
  }

  Result<std::string> Name() {
    size_t start = pos_;
    while (pos_ < doc_.size() && !IsSpace(doc_[pos_]) && doc_[pos_] != '/' && doc_[pos_] != '>' &&
           doc_[pos_] != '<' && doc_[pos_] != '=') {
      ++pos_;
    }
    std::string_view name = doc_.substr(start, pos_ - start);
    if (size_t colon = name.rfind(':'); colon != std::string_view::npos) {
      name = name.substr(colon + 1);
    }
    if (name.empty()) return Malformed("an element without a name");
    return std::string(name);
  }

  // Skips attributes up to '>' or "/>"; returns whether the element is empty ("/>").
  Result<bool> SkipAttributes() {
    while (pos_ < doc_.size()) {
      char c = doc_[pos_];
      if (c == '"' || c == '\'') {
        size_t close = doc_.find(c, pos_ + 1);
        if (close == std::string_view::npos) return Malformed("unterminated attribute value");
        pos_ = close + 1;
      } else if (c == '>') {
        ++pos_;
        return false;
      } else if (c == '/' && At("/>")) {
        pos_ += 2;
        return true;
      } else if (c == '<') {
        return Malformed("'<' inside a tag");
      } else {
        ++pos_;
      }
    }
    return Malformed("unterminated tag");
  }

  Status Element(int depth, XmlElement* e) {
    if (depth >= kMaxXmlDepth) return Malformed("elements nested too deeply");
    if (++elements_ > kMaxXmlElements) return Malformed("too many elements");
    ++pos_;  // '<'
    ASSIGN_OR_RETURN(e->name, Name());
    ASSIGN_OR_RETURN(bool empty, SkipAttributes());
    if (empty) return Status::Ok();
    return Content(depth, e);
  }

  Status Content(int depth, XmlElement* e) {
    while (pos_ < doc_.size()) {
      if (At("</")) {
        pos_ += 2;
        ASSIGN_OR_RETURN(std::string name, Name());
        if (name != e->name) return Malformed("</" + name + "> closes <" + e->name + ">");
        while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
        if (!At(">")) return Malformed("unterminated closing tag");
        ++pos_;
        return Status::Ok();
      }
      if (At("<![CDATA[")) {
        size_t start = pos_ + 9;
        RETURN_IF_ERROR(SkipPast("]]>"));
        e->text.append(doc_.substr(start, pos_ - 3 - start));
      } else if (At("<!--")) {
        RETURN_IF_ERROR(SkipPast("-->"));
      } else if (At("<?")) {
        RETURN_IF_ERROR(SkipPast("?>"));
      } else if (At("<")) {
        e->children.emplace_back();
        RETURN_IF_ERROR(Element(depth + 1, &e->children.back()));
      } else {
        size_t lt = doc_.find('<', pos_);
        if (lt == std::string_view::npos) lt = doc_.size();
        RETURN_IF_ERROR(AppendDecoded(doc_.substr(pos_, lt - pos_), &e->text));
        pos_ = lt;
      }
    }
    return Malformed("<" + e->name + "> is not closed");
  }

  std::string_view doc_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

Result<uint64_t> ParseSize(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return Malformed("object size '" + s.substr(0, 40) + "' is not a number");
  }
  return v;
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c ? c->text : std::string();
}

Result<XmlElement> ParseXml(std::string_view doc) { return Parser(doc).Document(); }

Result<ListPage> ParseListObjectsV2(std::string_view doc) {
  ASSIGN_OR_RETURN(XmlElement root, ParseXml(doc));
  if (root.name != "ListBucketResult") {
    return Malformed("a listing whose root is <" + root.name.substr(0, 40) + ">");
  }
  ListPage page;
  for (XmlElement& c : root.children) {
    if (c.name == "Contents") {
      ListEntry entry;
      const XmlElement* key = c.Child("Key");
      if (key == nullptr || key->text.empty()) return Malformed("a listed object without a key");
      entry.key = key->text;
      ASSIGN_OR_RETURN(entry.size, ParseSize(c.ChildText("Size")));
      entry.last_modified = c.ChildText("LastModified");
      page.contents.push_back(std::move(entry));
    } else if (c.name == "CommonPrefixes") {
      page.common_prefixes.push_back(c.ChildText("Prefix"));
    } else if (c.name == "IsTruncated") {
      page.truncated = c.text == "true";
    } else if (c.name == "NextContinuationToken") {
      page.next_token = c.text;
    }
  }
  if (page.truncated && page.next_token.empty()) {
    return Malformed("a truncated listing without a continuation token");
  }
  return page;
}

S3Error ParseS3Error(std::string_view doc) {
  auto root = ParseXml(doc);
  if (!root.ok() || root->name != "Error") return {};
  return S3Error{root->ChildText("Code"), root->ChildText("Message"), root->ChildText("Region")};
}

}  // namespace weightfs::storage::s3
