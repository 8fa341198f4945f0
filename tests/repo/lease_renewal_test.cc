// Leases on stores without kernel locks (object storage): the owner renews its record, and gc
// takes a lease of another host that was not renewed for kLeaseExpirySeconds as stale (its
// pid on this host says nothing about it).
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "support/repo_fixtures.h"
#include "weightfs/repo/leases.h"
#include "weightfs/storage/memory_store.h"

namespace weightfs::repo {
namespace {

std::string Record(const std::string& host, int64_t since, int64_t renewed) {
  return R"({"kind":"write","host":")" + host + R"(","pid":1,"since":)" + std::to_string(since) +
         (renewed ? R"(,"renewed":)" + std::to_string(renewed) : "") +
         R"(,"what":"import","roots":[]})" + "\n";
}

TEST(LeaseRenewalTest, LeasesOfOtherHostsExpireUnlessRenewed) {
  auto store = storage::NewMemoryStore();
  const auto now = static_cast<int64_t>(std::time(nullptr));
  const int64_t old = now - kLeaseExpirySeconds - 60;
  REPO_ASSERT_OK(store->WriteFile("locks/lease-dead", ToBytes(Record("node-7", old, 0))));
  REPO_ASSERT_OK(store->WriteFile("locks/lease-stale", ToBytes(Record("node-7", old, old + 30))));
  REPO_ASSERT_OK(store->WriteFile("locks/lease-renewed", ToBytes(Record("node-8", old, now - 5))));
  REPO_ASSERT_OK(store->WriteFile("locks/lease-young", ToBytes(Record("node-9", now - 5, 0))));
  int removed = 0;
  REPO_ASSERT_OK_AND_ASSIGN(auto live, LiveLeases(store.get(), &removed));
  EXPECT_EQ(removed, 2);
  std::set<std::string> names;
  for (const LeaseInfo& l : live) names.insert(l.name);
  EXPECT_EQ(names, (std::set<std::string>{"locks/lease-renewed", "locks/lease-young"}));
  REPO_ASSERT_OK_AND_ASSIGN(auto files, store->ListFiles("locks"));
  EXPECT_EQ(files.size(), 2u) << "stale records were not removed";
}

TEST(LeaseRenewalTest, AnOwnerWithoutKernelLocksRenewsItsRecordUntilReleased) {
  Lease::SetRenewIntervalForTesting(std::chrono::milliseconds(20));
  auto store = storage::NewMemoryStore();
  REPO_ASSERT_OK_AND_ASSIGN(auto lease, Lease::Register(store.get(), LeaseKind::kWrite, "test"));
  Lease::SetRenewIntervalForTesting(std::chrono::seconds(kLeaseRenewSeconds));
  bool renewed = false;
  for (int i = 0; i < 300 && !renewed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    int removed = 0;
    REPO_ASSERT_OK_AND_ASSIGN(auto live, LiveLeases(store.get(), &removed));
    ASSERT_EQ(live.size(), 1u);
    renewed = live[0].renewed >= live[0].since;
  }
  EXPECT_TRUE(renewed) << "the record was never renewed";
  REPO_ASSERT_OK(lease->Release());
  REPO_ASSERT_OK_AND_ASSIGN(auto files, store->ListFiles("locks"));
  EXPECT_TRUE(files.empty()) << "a renewal after the release wrote the record again";
}

}  // namespace
}  // namespace weightfs::repo
