// The XML reader of S3's answers: ListObjectsV2 pages and <Error> documents read right (entities,
// CDATA, namespaces, pagination fields), and malformed or random input is kCorruption, never a
// crash or a hang.
#include "storage/s3_xml.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/random.h"
#include "support/status_util.h"

namespace weightfs::storage::s3 {
namespace {

constexpr const char* kPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>repo/</Prefix><KeyCount>3</KeyCount>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok&amp;en=</NextContinuationToken>
  <Contents><Key>repo/a&amp;b &lt;c&gt; &#x41;&#66;&#xe9;</Key><Size>123</Size>
    <LastModified>2026-12-07T16:52:03.000Z</LastModified><ETag>&quot;e&quot;</ETag></Contents>
  <Contents><Key><![CDATA[repo/<raw>&]]></Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>repo/keys/</Prefix></CommonPrefixes>
  <s3:CommonPrefixes><s3:Prefix>repo/refs/</s3:Prefix></s3:CommonPrefixes>
</ListBucketResult>
)";

TEST(S3XmlTest, ReadsAListObjectsV2Page) {
  auto page = ParseListObjectsV2(kPage);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "tok&en=");
  ASSERT_EQ(page->contents.size(), 2u);
  EXPECT_EQ(page->contents[0].key, "repo/a&b <c> AB\xc3\xa9");
  EXPECT_EQ(page->contents[0].size, 123u);
  EXPECT_EQ(page->contents[0].last_modified, "2026-12-07T16:52:03.000Z");
  EXPECT_EQ(page->contents[1].key, "repo/<raw>&");
  EXPECT_EQ(page->contents[1].size, 0u);
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"repo/keys/", "repo/refs/"}));
}

TEST(S3XmlTest, ALastPageHasNoToken) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>"
      "18446744073709551615</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_FALSE(page->truncated);
  ASSERT_EQ(page->contents.size(), 1u);
  EXPECT_EQ(page->contents[0].size, 18446744073709551615u);
}

TEST(S3XmlTest, ReadsAnErrorDocument) {
  S3Error e = ParseS3Error(
      "<?xml version=\"1.0\"?>\n<Error><Code>AuthorizationHeaderMalformed</Code>"
      "<Message>the region &apos;us-east-1&apos; is wrong</Message><Region>eu-west-1</Region>"
      "<RequestId>x</RequestId></Error>");
  EXPECT_EQ(e.code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(e.message, "the region 'us-east-1' is wrong");
  EXPECT_EQ(e.region, "eu-west-1");
  // Not an error document: empty fields.
  EXPECT_EQ(ParseS3Error("").code, "");
  EXPECT_EQ(ParseS3Error("<html>503</html>").code, "");
  EXPECT_EQ(ParseS3Error("<Error><Code>X</Code>").code, "");
}

TEST(S3XmlTest, MalformedDocumentsAreCorruption) {
  const std::vector<std::string> bad = {
      "",
      "   ",
      "text only",
      "<",
      "<>",
      "</a>",
      "<a",
      "<a>",
      "<a></b>",
      "<a><b></a></b>",
      "<a>&bogus;</a>",
      "<a>&#0;</a>",
      "<a>&#xd800;</a>",
      "<a>&#x110000;</a>",
      "<a>&#99999999999999999999;</a>",
      "<a>&#xzz;</a>",
      "<a>&amp</a>",
      "<a>&;</a>",
      "<a x=\"1></a>",
      "<a x='1'",
      "<a><![CDATA[never closed</a>",
      "<a><!-- never closed </a>",
      "<?xml never closed",
      "<a></a><b></b>",
      "<a></a>trailing",
      "<a><b<c></c></b></a>",
      "<a></a  ",
      "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
      std::string("<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size>") +
          "</Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
      "<Error><Code>NoSuchBucket</Code></Error>",
  };
  for (const std::string& doc : bad) {
    SCOPED_TRACE("document '" + doc + "'");
    EXPECT_CODE(ParseListObjectsV2(doc), Code::kCorruption);
  }
}

TEST(S3XmlTest, DeepNestingIsRefusedWithoutRecursingDeeply) {
  std::string doc;
  for (int i = 0; i < 100000; ++i) doc += "<a>";
  EXPECT_CODE(ParseXml(doc), Code::kCorruption);
  std::string ok;
  for (int i = 0; i < kMaxXmlDepth; ++i) ok += "<a>";
  for (int i = 0; i < kMaxXmlDepth; ++i) ok += "</a>";
  WFS_EXPECT_OK(ParseXml(ok).status());
  EXPECT_CODE(ParseXml("<b>" + ok + "</b>"), Code::kCorruption);
}

TEST(S3XmlTest, TooManyElementsAreRefused) {
  std::string doc = "<r>";
  for (size_t i = 0; i <= kMaxXmlElements; ++i) doc += "<e/>";
  doc += "</r>";
  EXPECT_CODE(ParseXml(doc), Code::kCorruption);
}

// Random bytes, and random damage to a valid page: the reader returns (OK or kCorruption) for
// every input.
TEST(S3XmlTest, RandomInputNeverCrashes) {
  const uint64_t seed = weightfs::testing::TestSeed();
  WFS_TRACE_SEED(seed);
  std::mt19937_64 rng(seed);
  const std::string alphabet = "<>/&;#x\"'=![]-?: abcKeySizeListBucketResultContents0123456789";
  const std::string valid = kPage;
  for (int i = 0; i < 20000; ++i) {
    std::string doc;
    if (i % 2 == 0) {
      const size_t n = rng() % 200;
      for (size_t j = 0; j < n; ++j) {
        doc += i % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
      }
    } else {
      doc = valid;
      for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits) {
        const size_t at = rng() % doc.size();
        switch (rng() % 4) {
          case 0:
            doc[at] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            doc.erase(at, 1 + rng() % 20);
            break;
          case 2:
            doc.insert(at, 1, alphabet[rng() % alphabet.size()]);
            break;
          default:
            doc.resize(at);
            break;
        }
        if (doc.empty()) doc = "<";
      }
    }
    auto page = ParseListObjectsV2(doc);
    if (!page.ok()) {
      ASSERT_EQ(page.status().code(), Code::kCorruption) << page.status().ToString();
      ASSERT_NE(page.status().message().find("S3 sent malformed XML"), std::string::npos);
    }
    (void)ParseS3Error(doc);
  }
}

}  // namespace
}  // namespace weightfs::storage::s3
